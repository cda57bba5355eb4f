package main

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A descriptor opened without close-on-exec, as one inherited from
// whatever started the host is, is close-on-exec afterwards, and still
// open.
func TestCloseInheritedOnExec(t *testing.T) {
	fd, err := unix.Open(filepath.Join(t.TempDir(), "inherited"), unix.O_CREAT|unix.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC != 0 {
		t.Fatal("the test's descriptor is close-on-exec already")
	}
	closeInheritedOnExec()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("the descriptor was closed: %v", err)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Error("the descriptor is not close-on-exec")
	}
	if _, err := os.Stdout.Stat(); err != nil {
		t.Errorf("standard output: %v", err)
	}
}
