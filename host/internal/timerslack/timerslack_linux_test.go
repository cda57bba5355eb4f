package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary the program under test
// (TestHelperProcess).
const helperEnv = "TIMERSLACK_TEST_HELPER"

// TestHelperProcess is the program: it prints a line as it starts (once per
// image), calls Ensure for 1ms and prints what it got and the slack of a
// thread it did not run on.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by the other tests")
	}
	fmt.Println("start")
	res, err := Ensure(time.Millisecond)
	fmt.Printf("slack=%s before=%s err=%v\n", res.Slack, res.Before, err)
	_, marked := os.LookupEnv(beforeEnv)
	fmt.Printf("marker=%v\n", marked)
	other := make(chan time.Duration)
	go func() {
		runtime.LockOSThread() // a thread of its own; it ends with the goroutine
		d, _ := get()
		other <- d
	}()
	fmt.Printf("thread=%s\n", <-other)
	os.Exit(0)
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
	for _, want := range []string{
		fmt.Sprintf("slack=1ms before=%s err=<nil>\n", mine),
		"marker=false\n", // the variable is gone once read
		"thread=1ms\n",   // every thread of the new image has it
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
	for _, want := range []string{"slack=2ms before=0s err=<nil>\n", "thread=2ms\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// A variable that says the program was already executed again is never
// followed by another execution, whatever it holds.
func TestEnsureNeverExecutesTwice(t *testing.T) {
	for _, v := range []string{"50000", "not-a-number", "-1"} {
		got := runHelper(t, 0, beforeEnv+"="+v)
		if n := strings.Count(got, "start\n"); n != 1 {
			t.Errorf("%s=%s: the program started %d times, want 1:\n%s", beforeEnv, v, n, got)
		}
		if v == "50000" {
			if !strings.Contains(got, "err=timer slack: ") || !strings.Contains(got, "after executing again, not 1ms") {
				t.Errorf("%s=%s with the slack not raised: want an error:\n%s", beforeEnv, v, got)
			}
		} else if !strings.Contains(got, "is not a slack in nanoseconds") {
			t.Errorf("%s=%s: want an error about the variable:\n%s", beforeEnv, v, got)
		}
		if !strings.Contains(got, "marker=false") {
			t.Errorf("%s=%s: the variable is left set:\n%s", beforeEnv, v, got)
		}
	}
}

func TestSetThreadRefusesNoSlack(t *testing.T) {
	if err := SetThread(0); err == nil {
		t.Error("SetThread(0) succeeded")
	}
}
