package supervisor_test

import (
	"fmt"
	"os"
	"testing"
)

// runLeavingNoTrace runs the package's tests with TMPDIR set to a directory
// of their own, so that os.TempDir() in this process and in every plugin it
// starts is used by these tests alone, and fails the run if anything is
// left in it when they end: a plugin socket, a socket directory, a copy of
// a plugin. Other processes on the machine may use the system's temporary
// directory at the same time; a private one tells what these tests left.
func runLeavingNoTrace(m *testing.M) int {
	// A short name: socket paths inside it are limited to about 100 bytes.
	tmp, err := os.MkdirTemp("", "pcst-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", tmp)
	code := m.Run()
	if had {
		os.Setenv("TMPDIR", old)
	} else {
		os.Unsetenv("TMPDIR")
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests left %d entries in the temporary directory:\n", len(left))
		for i, e := range left {
			if i == 20 {
				fmt.Fprintf(os.Stderr, "\t... and %d more\n", len(left)-i)
				break
			}
			fmt.Fprintf(os.Stderr, "\t%s (%s)\n", e.Name(), e.Type())
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}
