package supervisor

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A plugin confined from the host's main thread, which the kernel checks
// for the whole process when another process signals it, would share the
// main thread's confinement and so could signal (and trace) the host, and
// the main thread would be confined for good. startConfined, run there,
// starts the plugin from another thread instead: the plugin cannot signal
// the host, and the main thread can still read the host's files.
func TestSandboxSparesTheMainThread(t *testing.T) {
	abi := landlockABI()
	if abi < 6 {
		t.Skipf("this system's Landlock (version %d) does not confine signals; version 6 does", abi)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	// kill -0 only checks that the signal could be sent.
	cmd := exec.Command(sh, "-c", `kill -0 "$PPID"`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rules := []pathRule{{path: "/usr", access: readAccess}, {path: "/bin", access: readAccess, optional: true},
		{path: "/lib", access: readAccess, optional: true}, {path: "/lib64", access: readAccess, optional: true},
		{path: "/dev/null", access: devAccess}, {path: sh, access: readAccess}}
	exited := make(chan struct{})
	started := make(chan error, 1)
	var mainErr error
	ran := make(chan struct{})
	mainThread <- func() {
		startConfined(abi, cmd, rules, exited, started)
		_, mainErr = os.ReadFile(secret)
		close(ran)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	waitErr := cmd.Wait()
	close(exited)
	<-ran
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) || exit.ExitCode() != 1 {
		t.Errorf("a plugin confined by startConfined on the main thread signalling the host: %v (%q), want exit status 1 (not permitted)", waitErr, stderr.String())
	}
	if mainErr != nil {
		t.Errorf("the main thread cannot read the host's file after startConfined ran there: %v", mainErr)
	}
}
