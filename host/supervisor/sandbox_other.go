//go:build !linux

package supervisor

import "os/exec"

// landlockABI is 0: Landlock is Linux's.
var landlockABI = func() int { return 0 }

// SandboxSupported reports whether this system can confine a plugin
// (Sandbox): only Linux can.
func SandboxSupported() bool { return landlockABI() > 0 }

// spawnConfined cannot confine a plugin here.
func spawnConfined(*exec.Cmd, []pathRule, <-chan struct{}) error {
	return &confineError{ErrNoSandbox}
}
