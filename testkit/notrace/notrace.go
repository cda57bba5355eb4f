// Package notrace runs a test package in a temporary directory of its own
// and fails it if anything is left there: a plugin's socket, a socket
// directory, a copy of a plugin. Other processes on the machine may use
// the system's temporary directory at the same time; a private one tells
// exactly what the package's tests left.
package notrace

import (
	"fmt"
	"os"
)

// Run sets TMPDIR to a fresh directory, so that os.TempDir() in this
// process and in every host, command and plugin it starts is the tests'
// alone, calls run (m.Run, or a TestMain's body), and returns its exit code,
// or 1 when something is left in the directory. prefix names the
// directory; keep it short: socket paths inside it are limited to about
// 100 bytes.
func Run(prefix string, run func() int) int {
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", tmp)
	code := run()
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
