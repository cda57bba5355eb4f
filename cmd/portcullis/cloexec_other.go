//go:build !linux

package main

// closeInheritedOnExec is Linux's: see cloexec_linux.go.
func closeInheritedOnExec() {}
