//go:build !linux

package slapd

import "os/exec"

// configureProcess does nothing where the kernel cannot kill a child
// with its parent: t.Cleanup stops the server.
func configureProcess(*exec.Cmd) {}
