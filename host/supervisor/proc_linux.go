//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// configureProcess puts the plugin in its own process group (a Ctrl-C at
// the host's terminal reaches the host, which then stops plugins in order)
// and has the kernel kill it when the host dies.
func configureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
}

// execPathFor returns the path to execute the verified open file f by. On
// Linux that is f itself through /proc, so a file swapped in at the
// original path after verification is never run.
func execPathFor(f *os.File) string {
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd())
}
