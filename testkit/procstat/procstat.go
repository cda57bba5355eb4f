// Package procstat reads what Linux's /proc/PID/stat says of a process: its
// state, its parent and the CPU time it has used. The benchmarks report CPU
// time with it, and the end-to-end tests find a host's plugin processes and
// check that they are gone. On other systems every answer is "not known".
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Stat is the part of /proc/PID/stat that follows the command name.
type Stat struct {
	// State is one letter: R running, S sleeping, Z zombie, X dead, ...
	State string
	// Parent is the parent's pid.
	Parent int
	// CPU is the user and system time used, with the 10 ms resolution of
	// the kernel's clock ticks.
	CPU time.Duration
}

// Read returns the stat of process pid; ok is false when the process is gone
// or /proc cannot be read.
func Read(pid int) (st Stat, ok bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, false
	}
	// pid (comm) state ppid ...: the command name may hold spaces and
	// parentheses, so count from the last ")".
	f := bytes.Fields(raw[bytes.LastIndexByte(raw, ')')+1:])
	if len(f) < 13 {
		return Stat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	utime, err2 := strconv.ParseInt(string(f[11]), 10, 64) // field 14
	stime, err3 := strconv.ParseInt(string(f[12]), 10, 64) // field 15
	if err1 != nil || err2 != nil || err3 != nil {
		return Stat{}, false
	}
	const userHZ = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return Stat{State: string(f[0]), Parent: ppid, CPU: time.Duration(utime+stime) * (time.Second / userHZ)}, true
}

// CPU returns the CPU time process pid has used.
func CPU(pid int) (time.Duration, bool) {
	st, ok := Read(pid)
	return st.CPU, ok
}

// Alive reports whether pid is a live process: a zombie (dead, waiting for
// its parent to reap it) is not.
func Alive(pid int) bool {
	st, ok := Read(pid)
	return ok && st.State != "Z" && st.State != "X"
}

// PIDs returns the pids of every process /proc lists.
func PIDs() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// Children returns the pids of the processes whose parent is pid.
func Children(pid int) ([]int, error) {
	all, err := PIDs()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, p := range all {
		if st, ok := Read(p); ok && st.Parent == pid {
			pids = append(pids, p)
		}
	}
	return pids, nil
}
