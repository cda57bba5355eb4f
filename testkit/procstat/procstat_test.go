package procstat

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"
)

func linuxOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procstat reads /proc, which only Linux has in this form")
	}
}

func TestReadSelf(t *testing.T) {
	linuxOnly(t)
	before, ok := Read(os.Getpid())
	if !ok {
		t.Fatal("cannot read this process's stat")
	}
	if before.Parent != os.Getppid() {
		t.Errorf("parent %d, want %d", before.Parent, os.Getppid())
	}
	if before.State != "R" {
		t.Errorf("state %q of a running process, want R", before.State)
	}
	// Burn CPU until the clock ticks past 50 ms more.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if now, _ := CPU(os.Getpid()); now-before.CPU >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CPU time did not grow in 10 s of busy work")
		}
		for i := range 1_000_000 {
			_ = i * i
		}
	}
}

func TestChildrenAndAlive(t *testing.T) {
	linuxOnly(t)
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	pid := cmd.Process.Pid
	kids, err := Children(os.Getpid())
	if err != nil || !slices.Contains(kids, pid) {
		t.Fatalf("Children = %v, %v; want it to hold %d", kids, err, pid)
	}
	if !Alive(pid) {
		t.Errorf("a sleeping child is not alive")
	}
	_ = cmd.Process.Kill()
	// Killed but not reaped: a zombie, which is not alive.
	deadline := time.Now().Add(5 * time.Second)
	for Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if Alive(pid) {
		t.Errorf("a killed child is still alive")
	}
	_ = cmd.Wait()
	if _, ok := Read(pid); ok {
		t.Errorf("a reaped child can still be read")
	}
}
