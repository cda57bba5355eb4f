package timerslack

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Ensure makes the process's timer slack at least want. When it is lower,
// Ensure sets it on the calling thread and executes the program again
// (/proc/self/exe, with the same arguments and environment): on success
// it does not return, and the new image's call returns the raised slack.
// Call it first thing, before the program has read its input, opened
// anything it must not lose or asked for any signal; descriptors marked
// close-on-exec are closed. An error leaves the process running with the
// slack it had.
func Ensure(want time.Duration) (Result, error) {
	if s, again := os.LookupEnv(beforeEnv); again {
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
		before, err := strconv.ParseInt(s, 10, 64)
		if err != nil || before <= 0 || time.Duration(before) >= want {
			return Result{Slack: now}, fmt.Errorf("timer slack: %s=%q is not the slack the host was given; plugins start with this one", beforeEnv, s)
		}
		return Result{Slack: now, Before: time.Duration(before)}, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	now, err := get()
	// A real-time thread has no slack (0), and would ignore one set.
	if err != nil || now == 0 || now >= want {
		return Result{Slack: now}, err
	}
	if err := SetThread(want); err != nil {
		return Result{Slack: now}, err
	}
	if got, err := get(); err != nil || got != want {
		_ = SetThread(now)
		return Result{Slack: now}, fmt.Errorf("timer slack: %s asked, %s set", want, got)
	}
	env := append(os.Environ(), beforeEnv+"="+strconv.FormatInt(int64(now), 10))
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

// get returns the calling thread's timer slack.
func get() (time.Duration, error) {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("timer slack: %w", err)
	}
	return time.Duration(ns), nil
}
