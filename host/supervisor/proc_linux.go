//go:build linux

package supervisor

import (
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
