//go:build !linux

package supervisor

import (
	"os"
	"os/exec"
	"syscall"
)

func configureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// execPathFor returns the file's path: without /proc the file is executed by
// name after verification, and the SDK's parent watch stops orphans.
func execPathFor(f *os.File) string { return f.Name() }
