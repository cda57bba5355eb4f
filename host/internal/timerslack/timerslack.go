// Package timerslack raises the host's timer slack: how much later than
// asked the kernel may end a thread's timed sleep, so that it can wake
// the thread together with other work.
//
// The Go runtime's system monitor (sysmon) sleeps 20 µs at a time while
// any of the process's goroutines is running, and starts again from 20 µs
// each time the process goes from idle to busy. A host that answers
// logins is busy for short bursts between password hashes, so its monitor
// wakes every few tens of microseconds through each burst: about half the
// host's context switches, each one taking a CPU from the hash the
// password plugin is computing on it. With a slack of a millisecond the
// kernel groups those wake-ups; every timer of the host may then fire up
// to that much late, which is the resolution Go's timers already have
// when a thread waits in the network poller. docs/design/login-speed.md
// has the measurements.
//
// Linux sets a thread's slack with prctl(PR_SET_TIMERSLACK), a new thread
// takes its creator's, and execve keeps it; the monitor's thread is made
// before any of the program's code runs. So Ensure sets the slack on its
// own thread and executes the program again from it, and every thread of
// the new image starts with the slack. Plugins are started from a thread
// set back to the slack the host was given (SetThread), so that their
// timed waits, such as the password backend's, keep their precision.
//
// The slack wanted comes from the environment (Setting), as GOMAXPROCS
// does, because it must be known before the program reads anything: the
// configuration file may be a pipe that only one image could read.
package timerslack

import (
	"fmt"
	"os"
	"time"
)

// Env names the environment variable that sets the slack serve raises
// its own to: a duration up to Max, or "off" to leave it as it is.
const Env = "PORTCULLIS_TIMER_SLACK"

// Default is the slack serve raises its own to when Env is not set.
const Default = time.Millisecond

// Max bounds Env: every timed wait of the host may end that much late.
const Max = 10 * time.Millisecond

// Setting returns the slack Env asks for, and false for "off".
func Setting() (time.Duration, bool, error) {
	v, ok := os.LookupEnv(Env)
	if !ok || v == "" {
		return Default, true, nil
	}
	if v == "off" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > Max {
		return 0, false, fmt.Errorf("%s=%q: must be a duration above 0 and at most %s (such as 1ms), or off", Env, v, Max)
	}
	return d, true, nil
}

// Result is what Ensure found or did.
type Result struct {
	// Slack is the process's timer slack now.
	Slack time.Duration
	// Before is the slack the process was started with, when Ensure
	// raised it (0 when it did not): the slack for processes it starts.
	Before time.Duration
	// NameErr says why the threads of the image Ensure executed keep the
	// name the kernel gave them ("exe") instead of the program's; nil when
	// they were named, or when Ensure did not execute the program.
	NameErr error
}

// beforeEnv carries the slack the host was started with, and the name its
// threads had (after a space), across the execution that raises it, and
// tells the new image that it is the second: it never executes itself
// again.
const beforeEnv = "PORTCULLIS_TIMER_SLACK_BEFORE"
