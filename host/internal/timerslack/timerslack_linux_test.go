package timerslack

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary the program under test
// (TestHelperProcess).
const helperEnv = "TIMERSLACK_TEST_HELPER"

// TestHelperProcess is the program: it prints a line as it starts (once per
// image), calls Ensure for 1ms and prints what it got, the slack of a
// thread it did not run on, and the names of the process's threads as
// they were before and after the call.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by the other tests")
	}
	fmt.Println("start")
	before := threadNames()
	res, err := Ensure(time.Millisecond)
	fmt.Printf("slack=%s before=%s err=%v nameErr=%v\n", res.Slack, res.Before, err, res.NameErr)
	_, marked := os.LookupEnv(beforeEnv)
	fmt.Printf("marker=%v\n", marked)
	other := make(chan time.Duration)
	go func() {
		runtime.LockOSThread() // a thread of its own; it ends with the goroutine
		d, _ := get()
		other <- d
	}()
	fmt.Printf("thread=%s\n", <-other)
	fmt.Printf("names before=%s after=%s\n", before, threadNames())
	os.Exit(0)
}

// threadNames returns the names of the process's threads, each different
// name once, sorted.
func threadNames() string {
	tasks, _ := os.ReadDir("/proc/self/task")
	seen := map[string]bool{}
	for _, t := range tasks {
		if b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/comm"); err == nil {
			seen[strings.TrimSuffix(string(b), "\n")] = true
		}
	}
	return strings.Join(slices.Sorted(maps.Keys(seen)), ",")
}

// runHelper runs the program with extra environment variables, from a
// thread whose timer slack is slack (0: this process's), and returns its
// output.
func runHelper(t *testing.T, slack time.Duration, env ...string) string {
	t.Helper()
	out := make(chan string)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		if slack > 0 {
			if err := SetThread(slack); err != nil {
				out <- err.Error()
				return
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), append(env, helperEnv+"=1")...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			out <- fmt.Sprintf("%s\n%v", b, err)
			return
		}
		out <- string(b)
	}()
	return <-out
}

func TestEnsureRaisesAndExecutesOnce(t *testing.T) {
	mine, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if mine >= time.Millisecond {
		t.Skipf("this process already runs with a timer slack of %s", mine)
	}
	got := runHelper(t, 0)
	if n := strings.Count(got, "start\n"); n != 2 {
		t.Errorf("the program started %d times, want 2 (once more with the slack):\n%s", n, got)
	}
	// The test binary's own name, as the kernel keeps it (15 bytes).
	name := filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))]
	for _, want := range []string{
		fmt.Sprintf("slack=1ms before=%s err=<nil> nameErr=<nil>\n", mine),
		"marker=false\n", // the variable is gone once read
		"thread=1ms\n",   // every thread of the new image has it
		// The new image's threads are named "exe" until Ensure gives
		// them all the program's name.
		fmt.Sprintf("names before=exe after=%s\n", name),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestEnsureLeavesAHigherSlack(t *testing.T) {
	got := runHelper(t, 2*time.Millisecond)
	if n := strings.Count(got, "start\n"); n != 1 {
		t.Errorf("the program started %d times, want 1:\n%s", n, got)
	}
	for _, want := range []string{"slack=2ms before=0s err=<nil> nameErr=<nil>\n", "thread=2ms\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// A variable that says the program was already executed again is never
// followed by another execution, whatever it holds, and only a slack below
// the one the image runs with is taken as the one the host was given.
func TestEnsureNeverExecutesTwice(t *testing.T) {
	for _, tt := range []struct {
		slack  time.Duration // of the thread starting the program
		value  string
		want   string
		before string // the slack taken from it to pass on
		names  string // the threads' names after Ensure
	}{
		{2 * time.Millisecond, "50000 planted", "err=<nil> nameErr=<nil>", "50µs", "planted"},
		{2 * time.Millisecond, "50000", `err=<nil> nameErr="" is not a program's name`, "50µs", "timerslack.test"},
		{2 * time.Millisecond, "50000 a-name-of-16-byte", "err=<nil> nameErr=\"a-name-of-16-byte\" is not a program's name", "50µs", "timerslack.test"},
		{2 * time.Millisecond, "not-a-number", "is not the slack the host was given", "0s", "timerslack.test"},
		{2 * time.Millisecond, "-1 planted", "is not the slack the host was given", "0s", "timerslack.test"},
		{2 * time.Millisecond, "2000000 planted", "is not the slack the host was given", "0s", "timerslack.test"},
		{2 * time.Millisecond, "50000000", "is not the slack the host was given", "0s", "timerslack.test"},
		{0, "50000 planted", "after executing again, not 1ms", "0s", "timerslack.test"},
	} {
		got := runHelper(t, tt.slack, beforeEnv+"="+tt.value)
		if n := strings.Count(got, "start\n"); n != 1 {
			t.Errorf("%s=%s: the program started %d times, want 1:\n%s", beforeEnv, tt.value, n, got)
		}
		for _, want := range []string{tt.want, "before=" + tt.before + " ", "after=" + tt.names + "\n", "marker=false"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s=%s from a thread at %s: output lacks %q:\n%s", beforeEnv, tt.value, tt.slack, want, got)
			}
		}
	}
}

func TestSetting(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  time.Duration
		on    bool
		err   bool
	}{
		{"", Default, true, false},
		{"2ms", 2 * time.Millisecond, true, false},
		{"10ms", Max, true, false},
		{"50us", 50 * time.Microsecond, true, false},
		{"off", 0, false, false},
		{"11ms", 0, false, true},
		{"0", 0, false, true},
		{"-1ms", 0, false, true},
		{"1", 0, false, true},
		{"fast", 0, false, true},
	} {
		t.Setenv(Env, tt.value)
		d, on, err := Setting()
		if d != tt.want || on != tt.on || (err != nil) != tt.err {
			t.Errorf("%s=%q: Setting() = %s, %v, %v; want %s, %v, error %v", Env, tt.value, d, on, err, tt.want, tt.on, tt.err)
		}
	}
}

func TestSetThreadRefusesNoSlack(t *testing.T) {
	if err := SetThread(0); err == nil {
		t.Error("SetThread(0) succeeded")
	}
}
