package limiter

import (
	"context"
	"testing"
	"time"
)

// waitResult is what one call of waiter.wait returned.
type waitResult struct {
	woken bool
	err   error
}

// startWait calls x.wait in a goroutine and returns once x is in line
// (so that lines are built in a known order).
func startWait(t *testing.T, ctx context.Context, w *waiters, x *waiter, poll time.Duration) <-chan waitResult {
	t.Helper()
	done := make(chan waitResult, 1)
	go func() {
		woken, err := x.wait(ctx, poll, time.Minute)
		done <- waitResult{woken, err}
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Microsecond) {
		w.mu.Lock()
		queued := x.queued
		w.mu.Unlock()
		if queued {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiter did not get in line within a minute")
		}
	}
}

// returned reports what done returned within d, if it did.
func returned(done <-chan waitResult, d time.Duration) (waitResult, bool) {
	select {
	case r := <-done:
		return r, true
	case <-time.After(d):
		return waitResult{}, false
	}
}

func TestOnlyTheFirstInLinePolls(t *testing.T) {
	ctx := context.Background()
	w := newWaiters()
	a, b, c := w.join("k"), w.join("k"), w.join("k")
	const poll = 5 * time.Millisecond
	da := startWait(t, ctx, w, a, poll)
	db := startWait(t, ctx, w, b, poll)
	dc := startWait(t, ctx, w, c, poll)

	// The first polls; the others wait for an end, however long it takes.
	if r, ok := returned(da, 10*time.Second); !ok || r.woken || r.err != nil {
		t.Fatalf("the first in line: returned %v %+v, want a poll", ok, r)
	}
	if _, ok := returned(db, 50*poll); ok {
		t.Fatal("the second in line returned without an end: it polled")
	}
	if _, ok := returned(dc, poll); ok {
		t.Fatal("the third in line returned without an end: it polled")
	}
	// A poll keeps its place: the first polls again.
	da = startWait(t, ctx, w, a, poll)
	if r, ok := returned(da, 10*time.Second); !ok || r.woken {
		t.Fatalf("the first in line, polling again: returned %v %+v, want a poll", ok, r)
	}

	// An end wakes the first in line (not waiting now: its next wait
	// returns at once) and takes it out of line; the second then polls.
	w.wakeOne("k")
	if r, ok := returned(db, 10*time.Second); !ok || r.woken {
		t.Fatalf("the new first in line: returned %v %+v, want a poll", ok, r)
	}
	if r, ok := returned(startWait(t, ctx, w, a, time.Minute), 10*time.Second); !ok || !r.woken {
		t.Fatalf("the woken waiter: returned %v %+v, want woken", ok, r)
	}
	// It is back in line, behind c; b still leads.
	w.mu.Lock()
	line := append([]*waiter(nil), w.queues["k"]...)
	w.mu.Unlock()
	if len(line) != 3 || line[0] != b || line[1] != c || line[2] != a {
		t.Fatalf("line after the end: %d waiters, want b, c, a", len(line))
	}

	// The first leaving hands the polling on: c polls once b has left.
	b.leave()
	if r, ok := returned(dc, 10*time.Second); !ok || r.woken {
		t.Fatalf("the third in line after the first left: returned %v %+v, want a poll", ok, r)
	}

	// A wait whose context ends leaves the line.
	cctx, cancel := context.WithCancel(ctx)
	da = startWait(t, cctx, w, a, time.Minute)
	cancel()
	if r, ok := returned(da, 10*time.Second); !ok || r.err == nil {
		t.Fatalf("a cancelled wait: returned %v %+v, want the context's error", ok, r)
	}
	c.leave()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queues) != 0 {
		t.Fatalf("%d lines left after everyone left, want none", len(w.queues))
	}
}

func TestAnEndWakesTheFirstInLineWhileItWaits(t *testing.T) {
	w := newWaiters()
	a, b := w.join("k"), w.join("k")
	da := startWait(t, context.Background(), w, a, time.Minute)
	db := startWait(t, context.Background(), w, b, time.Minute)
	w.wakeOne("k")
	if r, ok := returned(da, 10*time.Second); !ok || !r.woken {
		t.Fatalf("the first in line: returned %v %+v, want woken", ok, r)
	}
	if _, ok := returned(db, 20*time.Millisecond); ok {
		t.Fatal("one end woke two waiters")
	}
	w.wakeOne("k")
	if r, ok := returned(db, 10*time.Second); !ok || !r.woken {
		t.Fatalf("the second in line, at the second end: returned %v %+v, want woken", ok, r)
	}
}
