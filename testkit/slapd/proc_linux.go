//go:build linux

package slapd

import (
	"os/exec"
	"syscall"
)

// configureProcess has the kernel kill slapd when the test process dies,
// so that a test killed half-way leaves no server behind.
func configureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
