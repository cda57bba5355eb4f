package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// timerSlack reads the timer slack of pid's main thread.
func timerSlack(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/timerslack_ns")
	if err != nil {
		t.Skipf("cannot read a process's timer slack here: %v", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("timerslack_ns of %d: %v", pid, err)
	}
	return time.Duration(ns)
}

// The host raises its timer slack to timer_slack (1ms by default) and
// starts its plugins with the slack it was given, so that their timed
// waits (the password backend's) keep their precision; a timer_slack at
// or below the given one changes nothing.
func TestTimerSlack(t *testing.T) {
	given := timerSlack(t, os.Getpid())
	if given >= 2*time.Millisecond {
		t.Skipf("this test runs with a timer slack of %s already", given)
	}
	for _, tt := range []struct {
		name, yaml string
		host       time.Duration
	}{
		{"default", "", time.Millisecond},
		{"raised further", "timer_slack: 2ms\n", 2 * time.Millisecond},
		{"the one given", "timer_slack: " + given.String() + "\n", given},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := startHost(t, writeConfig(t, t.TempDir(), tt.yaml+"backends:\n  - {name: local, plugin: password}\n"))
			if got := timerSlack(t, h.cmd.Process.Pid); got != tt.host {
				t.Errorf("the host's timer slack is %s, want %s", got, tt.host)
			}
			if want := `"timer_slack":"` + tt.host.String() + `"`; !strings.Contains(h.output(), want) {
				t.Errorf("the serving line lacks %s:\n%s", want, h.output())
			}
			plugins := childPIDs(t, h.cmd.Process.Pid)
			if len(plugins) == 0 {
				t.Fatal("the host runs no plugin process")
			}
			for _, pid := range plugins {
				if got := timerSlack(t, pid); got != given {
					t.Errorf("plugin process %d has a timer slack of %s, want the %s the host was given", pid, got, given)
				}
			}
			mustRun(t, h.config, "pw-alice\n", "users", "add", "alice", "--password-stdin")
			if r := h.post("/v1/login", `{"username":"alice","password":"pw-alice"}`); r.status != 200 {
				t.Errorf("login: %d %s", r.status, r.raw)
			}
		})
	}
}
