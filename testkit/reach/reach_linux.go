// Package reach tries, from one process, to reach another that it should
// not: signal its threads and take its open files. A confined plugin uses
// it in the tests of the sandbox.
package reach

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Threads returns the ids of pid's threads among those the kernel handed
// out from pid up to self, the caller's own pid, which it handed out
// later: those that a signal 0 does not find absent (ESRCH), whether it
// was let through or not. Ids wrap around at pidMax (the kernel's
// /proc/sys/kernel/pid_max, which the caller may not be able to read).
func Threads(pid, self, pidMax int) []int {
	var tids []int
	try := func(from, to int) {
		for tid := from; tid < to; tid++ {
			if err := unix.Tgkill(pid, tid, 0); err != syscall.ESRCH {
				tids = append(tids, tid)
			}
		}
	}
	if self > pid {
		try(pid, self)
	} else {
		try(pid, pidMax)
		try(1, self)
	}
	return tids
}

// PidMax returns the kernel's largest process id plus one, as
// /proc/sys/kernel/pid_max says, or 1<<22, the largest it can be.
func PidMax() int {
	data, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 1 << 22
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return 1 << 22
	}
	return n
}

// SignalAThread tries signal 0 on each of pid's threads tids, and returns
// nil if one took it, else the last error.
func SignalAThread(pid int, tids []int) error {
	err := error(syscall.ESRCH)
	for _, tid := range tids {
		if err = unix.Tgkill(pid, tid, 0); err == nil {
			return nil
		}
	}
	return err
}

// TakeAFile tries to take a duplicate of each of the first 64 file
// descriptors of pid, through the process and through each of its threads
// tids (the descriptors are the process's), and returns nil if it took
// one, else the last error.
func TakeAFile(pid int, tids []int) error {
	err := error(syscall.ESRCH)
	for i, tid := range append([]int{pid}, tids...) {
		flags := 0
		if i > 0 {
			flags = unix.PIDFD_THREAD
		}
		pidfd, e := unix.PidfdOpen(tid, flags)
		if e != nil {
			err = e
			continue
		}
		for fd := range 64 {
			var got int
			if got, err = unix.PidfdGetfd(pidfd, fd, 0); err == nil {
				unix.Close(got)
				unix.Close(pidfd)
				return nil
			}
		}
		unix.Close(pidfd)
	}
	return err
}

// Capabilities returns nil if the calling thread holds any capability in
// its effective or permitted set, else an error saying it holds none.
func Capabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	for _, d := range data {
		if d.Effective != 0 || d.Permitted != 0 {
			return nil
		}
	}
	return errors.New("no capability held")
}
