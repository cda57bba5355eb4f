package supervisor

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// timedEvent is an Event and when the supervisor reported it.
type timedEvent struct {
	Event
	At time.Time
}

type eventLog struct {
	mu     sync.Mutex
	events []timedEvent
	starts chan struct{}
}

func newEventLog() *eventLog { return &eventLog{starts: make(chan struct{}, 100)} }

func (l *eventLog) record(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, timedEvent{ev, time.Now()})
	l.mu.Unlock()
	if ev.Started {
		select {
		case l.starts <- struct{}{}:
		default:
		}
	}
}

func (l *eventLog) snapshot() []timedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]timedEvent{}, l.events...)
}

// runCrashLoop runs a plugin that exits shortly after every start until it
// has been started n times, and returns the events and the log.
func runCrashLoop(t *testing.T, opts Options, stable time.Duration, n int) ([]timedEvent, *logRecorder) {
	t.Helper()
	rec := newLogRecorder()
	events := newEventLog()
	opts.Logger, opts.OnEvent = slog.New(rec), events.record
	sup := New(opts)
	sup.stableAfter = stable
	spec := Spec{Name: "crashy", Plugin: "helper", Config: emptyConfig, Host: newTestHost()}
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop()
	timeout := time.After(2 * time.Minute)
	for started := 0; started < n; {
		select {
		case <-events.starts:
			started++
		case <-timeout:
			t.Fatalf("only %d of %d starts in time; events: %+v", started, n, events.snapshot())
		}
	}
	return events.snapshot(), rec
}

// retryIns returns the retry_in values the supervisor logged, in order,
// for the records with the given messages.
func retryIns(rec *logRecorder, msgs ...string) []time.Duration {
	var out []time.Duration
	for _, r := range rec.records() {
		for _, m := range msgs {
			if r.Message != m {
				continue
			}
			for _, a := range r.Attrs {
				if a.Key == "retry_in" {
					out = append(out, a.Value.Duration())
				}
			}
		}
	}
	return out
}

const (
	msgExited      = "plugin exited; calls to it fail until it is restarted"
	msgStartFailed = "plugin restart failed"
)

// TestCrashLoopBacksOff: a plugin that starts fine and exits at once is
// restarted after a wait that doubles every time, up to BackoffMax. The
// restart times are checked loosely: each restart comes at least the
// expected wait after the exit it follows.
func TestCrashLoopBacksOff(t *testing.T) {
	opts := testOptions(nil, modeCrash)
	opts.BackoffMin, opts.BackoffMax = 100*time.Millisecond, 400*time.Millisecond
	events, rec := runCrashLoop(t, opts, stableAfter, 5)

	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}

	// Every restart, after an exit or a failed start, logs the wait before
	// the next one; together they follow the doubling exactly.
	got := retryIns(rec, msgExited, msgStartFailed)
	if len(got) < len(want) {
		t.Fatalf("logged retry_in values %v, want at least %d", got, len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("retry_in values %v, want them to start %v", got, want)
			break
		}
	}

	var exits int
	for j, ev := range events {
		if ev.Started || exits >= len(want) {
			continue
		}
		w := want[exits]
		exits++
		for _, next := range events[j+1:] {
			if next.Started {
				if gap := next.At.Sub(ev.At); gap < w {
					t.Errorf("restart %d came %v after the exit, want at least %v", exits, gap, w)
				}
				break
			}
		}
	}
	if exits < len(want) {
		t.Errorf("saw %d exits, want at least %d; events: %+v", exits, len(want), events)
	}
}

// TestStableRunResetsBackoff: a plugin that ran for stableAfter before it
// exited is restarted after BackoffMin, however often it has exited before.
func TestStableRunResetsBackoff(t *testing.T) {
	opts := testOptions(nil, modeCrash)
	opts.BackoffMin, opts.BackoffMax = 50*time.Millisecond, 400*time.Millisecond
	_, rec := runCrashLoop(t, opts, 0, 4) // every run counts as stable

	got := retryIns(rec, msgExited)
	if len(got) < 3 {
		t.Fatalf("logged retry_in values %v, want at least 3", got)
	}
	for _, d := range got {
		if d != opts.BackoffMin {
			t.Fatalf("retry_in after stable runs: %v, want all %v", got, opts.BackoffMin)
		}
	}
}

// TestExitStatusOfACrashIsReported: once a running plugin exits, its
// status says how it ended.
func TestExitStatusOfACrashIsReported(t *testing.T) {
	opts := testOptions(slog.New(slog.DiscardHandler), modeCrash)
	opts.BackoffMin = time.Minute // stays down while we look
	sup := New(opts)
	defer sup.Stop()
	spec := Spec{Name: "crashy", Plugin: "helper", Config: emptyConfig, Host: newTestHost()}
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := sup.Instance("crashy").Status()
		if st.State == StateDown {
			if st.LastError != "plugin process exited (exit status 3)" {
				t.Errorf("last error %q, want the exit status", st.LastError)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin is still %s", st.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
