package timerslack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ensure makes the process's timer slack at least want. When it is lower,
// Ensure sets it on the calling thread and executes the program again
// (/proc/self/exe, with the same arguments and environment): on success
// it does not return, and the new image's call returns the raised slack.
// The new image's threads are given the name the program had (the kernel
// names a program after the file executed, here "exe"), so that ps, top,
// pgrep and the journal still know it.
// Call it first thing, before the program has read its input, opened
// anything it must not lose or asked for any signal; descriptors marked
// close-on-exec are closed. An error leaves the process running with the
// slack it had.
func Ensure(want time.Duration) (Result, error) {
	if v, again := os.LookupEnv(beforeEnv); again {
		_ = os.Unsetenv(beforeEnv)
		now, err := get()
		if err != nil {
			return Result{}, err
		}
		if now < want {
			return Result{Slack: now}, fmt.Errorf("timer slack: %s after executing again, not %s", now, want)
		}
		// Only a slack below the one this image runs with can be the one
		// it was given: anything else did not come from Ensure, and is not
		// passed on to the plugins.
		s, name, _ := strings.Cut(v, " ")
		before, err := strconv.ParseInt(s, 10, 64)
		if err != nil || before <= 0 || time.Duration(before) >= want {
			return Result{Slack: now}, fmt.Errorf("timer slack: %s=%q is not the slack the host was given; plugins start with this one", beforeEnv, v)
		}
		res := Result{Slack: now, Before: time.Duration(before)}
		if err := nameThreads(name); err != nil {
			res.NameErr = err
		}
		return res, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	now, err := get()
	// A real-time thread has no slack (0), and would ignore one set.
	if err != nil || now == 0 || now >= want {
		return Result{Slack: now}, err
	}
	name, err := threadName()
	if err != nil {
		return Result{Slack: now}, err
	}
	if err := SetThread(want); err != nil {
		return Result{Slack: now}, err
	}
	if got, err := get(); err != nil || got != want {
		_ = SetThread(now)
		return Result{Slack: now}, fmt.Errorf("timer slack: %s asked, %s set", want, got)
	}
	env := append(os.Environ(), beforeEnv+"="+strconv.FormatInt(int64(now), 10)+" "+name)
	err = syscall.Exec("/proc/self/exe", os.Args, env)
	_ = SetThread(now)
	return Result{Slack: now}, fmt.Errorf("timer slack: executing the program again: %w", err)
}

// SetThread sets the calling thread's timer slack, which the threads and
// processes it starts take. The caller must be locked to its thread.
func SetThread(d time.Duration) error {
	if d <= 0 {
		return errors.New("timer slack: must be > 0")
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d), 0, 0, 0); err != nil {
		return fmt.Errorf("timer slack: %w", err)
	}
	return nil
}

// threadName returns the calling thread's name (its comm), which it took
// from the thread that started it and, for the first, from the file the
// program was executed as.
func threadName() (string, error) {
	var b [16]byte // the kernel's TASK_COMM_LEN, with the terminating NUL
	if err := unix.Prctl(unix.PR_GET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0); err != nil {
		return "", fmt.Errorf("timer slack: reading the thread's name: %w", err)
	}
	return unix.ByteSliceToString(b[:]), nil
}

// nameThreads gives every thread of the process name. A thread the
// runtime starts meanwhile takes the name of the thread starting it, so
// the threads are named again until a round finds them all named.
func nameThreads(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%q is not a program's name; its threads keep the name %q", name, "exe")
	}
	for range 10 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("naming the program's threads: %w", err)
		}
		named := true
		for _, t := range tasks {
			comm := "/proc/self/task/" + t.Name() + "/comm"
			b, err := os.ReadFile(comm)
			if err != nil {
				continue // the thread has ended
			}
			if strings.TrimSuffix(string(b), "\n") == name {
				continue
			}
			named = false
			if err := os.WriteFile(comm, []byte(name), 0); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("naming the program's threads: %w", err)
			}
		}
		if named {
			return nil
		}
	}
	return errors.New("naming the program's threads: they kept changing")
}

// get returns the calling thread's timer slack.
func get() (time.Duration, error) {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("timer slack: %w", err)
	}
	return time.Duration(ns), nil
}
