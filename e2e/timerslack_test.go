package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// timerSlack reads the timer slack of thread tid.
func timerSlack(t *testing.T, tid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/timerslack_ns")
	if err != nil {
		t.Fatalf("timer slack of %d: %v", tid, err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("timer slack of %d: %v", tid, err)
	}
	return time.Duration(ns)
}

// threadSlacks counts the threads of process pid by timer slack.
func threadSlacks(t *testing.T, pid int) map[time.Duration]int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	n := map[time.Duration]int{}
	for _, task := range tasks {
		tid, err := strconv.Atoi(filepath.Base(task))
		if err != nil {
			t.Fatal(err)
		}
		n[timerSlack(t, tid)]++
	}
	return n
}

// threadNames counts the threads of process pid by name (comm).
func threadNames(t *testing.T, pid int) map[string]int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/comm")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	n := map[string]int{}
	for _, comm := range tasks {
		if b, err := os.ReadFile(comm); err == nil {
			n[strings.TrimSuffix(string(b), "\n")]++
		}
	}
	return n
}

// serve raises its timer slack to PORTCULLIS_TIMER_SLACK (1ms by default),
// in every thread, and starts its plugins, confined or not, with the slack
// it was given, so that their timed waits (the password backend's) keep
// their precision. "off", or a slack at or below the given one, changes
// nothing; a value out of bounds stops serve before it starts.
func TestTimerSlack(t *testing.T) {
	if _, err := os.Stat("/proc/self/timerslack_ns"); err != nil {
		t.Skipf("this kernel does not show timer slacks: %v", err)
	}
	given := timerSlack(t, os.Getpid())
	if given >= 2*time.Millisecond {
		t.Skipf("this test runs with a timer slack of %s already", given)
	}
	const backends = "backends:\n  - {name: lockout, plugin: lockout}\n  - {name: local, plugin: password}\n"
	for _, tt := range []struct {
		name, yaml, env string
		host            time.Duration
	}{
		{"default", "", "", time.Millisecond},
		{"plugins unconfined", "plugins: {sandbox: off}\n", "", time.Millisecond},
		{"raised further", "", "PORTCULLIS_TIMER_SLACK=2ms", 2 * time.Millisecond},
		{"the one given", "", "PORTCULLIS_TIMER_SLACK=" + given.String(), given},
		{"off", "", "PORTCULLIS_TIMER_SLACK=off", given},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			if tt.env != "" {
				env = append(env, tt.env)
			}
			h, err := launchEnv(t, writeConfig(t, t.TempDir(), tt.yaml+backends), env...)
			if err != nil {
				t.Fatal(err)
			}
			// Every thread of the host has its slack but one, the thread
			// plugins are started from, when that is the given one.
			slacks := threadSlacks(t, h.cmd.Process.Pid)
			if tt.host != given && slacks[given] == 1 {
				delete(slacks, given)
			}
			if len(slacks) != 1 || slacks[tt.host] == 0 {
				t.Errorf("the host's threads by timer slack: %v; want all at %s, but for one at %s", slacks, tt.host, given)
			}
			// Executed again from /proc/self/exe, the host keeps its name
			// (ps, top, pgrep and the journal go by it).
			name := filepath.Base(h.cmd.Path)
			name = name[:min(15, len(name))]
			if names := threadNames(t, h.cmd.Process.Pid); len(names) != 1 || names[name] == 0 {
				t.Errorf("the host's threads by name: %v; want all named %q", names, name)
			}
			if tt.host != given {
				if want := `"timer_slack":"` + tt.host.String() + `"`; !strings.Contains(h.output(), want) {
					t.Errorf("the serving line lacks %s:\n%s", want, h.output())
				}
			}
			plugins := childPIDs(t, h.cmd.Process.Pid)
			if len(plugins) != 2 {
				t.Fatalf("the host runs %d plugin processes, want 2", len(plugins))
			}
			for _, pid := range plugins {
				if slacks := threadSlacks(t, pid); len(slacks) != 1 || slacks[given] == 0 {
					t.Errorf("the threads of plugin process %d by timer slack: %v; want all at %s, the host's given one", pid, slacks, given)
				}
			}
			mustRun(t, h.config, "pw-alice\n", "users", "add", "alice", "--password-stdin")
			if r := h.post("/v1/login", `{"username":"alice","password":"pw-alice"}`); r.status != 200 {
				t.Errorf("login: %d %s", r.status, r.raw)
			}
		})
	}
	for _, v := range []string{"11ms", "0", "1", "soon"} {
		t.Run("refused "+v, func(t *testing.T) {
			_, err := launchEnv(t, writeConfig(t, t.TempDir(), backends), "PORTCULLIS_TIMER_SLACK="+v)
			if err == nil || !strings.Contains(err.Error(), "PORTCULLIS_TIMER_SLACK=") || !strings.Contains(err.Error(), "must be a duration above 0 and at most 10ms") {
				t.Errorf("serve with PORTCULLIS_TIMER_SLACK=%s: %v, want it refused", v, err)
			}
		})
	}
}
