package httpapi

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestAddressKey(t *testing.T) {
	tests := []struct {
		ip, want string
	}{
		{"203.0.113.5", "203.0.113.5/32"},
		{"::ffff:203.0.113.5", "203.0.113.5/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"", "invalid Prefix"},
		{"not an address", "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := addressKey(tt.ip).String(); got != tt.want {
			t.Errorf("addressKey(%q) = %s, want %s", tt.ip, got, tt.want)
		}
	}
}

func TestAddressSlots(t *testing.T) {
	s := &addressSlots{max: 2, inUse: map[netip.Prefix]int{}}
	a, b := addressKey("192.0.2.1"), addressKey("2001:db8::1")
	for i, step := range []struct {
		take bool // take, else give
		key  netip.Prefix
		ok   bool
	}{
		{true, a, true}, {true, a, true}, {true, a, false},
		{true, b, true}, {true, b, true}, {true, b, false},
		{false, a, true}, {true, a, true}, {true, a, false},
		{false, a, true}, {false, a, true}, {false, b, true}, {false, b, true},
	} {
		if !step.take {
			s.give(step.key)
			continue
		}
		if got := s.take(step.key); got != step.ok {
			t.Fatalf("step %d: take(%s) = %v, want %v", i, step.key, got, step.ok)
		}
	}
	if len(s.inUse) != 0 {
		t.Errorf("after every login ended the map holds %v: it would grow with every address ever seen", s.inUse)
	}
}

// waitForWaiting waits until n callers wait in q.
func waitForWaiting(t *testing.T, q *loginQueue, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.waiting.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers wait, want %d", q.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoginQueueBounds(t *testing.T) {
	q := newLoginQueue(2, 1, time.Hour)
	ctx := context.Background()
	for range 2 {
		if err := q.enter(ctx); err != nil {
			t.Fatalf("a free turn: %v", err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- q.enter(ctx) }()
	waitForWaiting(t, q, 1)
	if err := q.enter(ctx); !errors.Is(err, errQueueFull) {
		t.Fatalf("with 2 running and 1 waiting, enter = %v, want errQueueFull", err)
	}
	q.leave()
	if err := <-waited; err != nil {
		t.Fatalf("the waiting caller: %v", err)
	}
	if n := q.waiting.Load(); n != 0 {
		t.Errorf("%d callers still counted as waiting", n)
	}
}

func TestLoginQueueIsFirstComeFirstServed(t *testing.T) {
	q := newLoginQueue(1, 10, time.Hour)
	ctx := context.Background()
	if err := q.enter(ctx); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	for i := range 5 {
		go func() {
			if err := q.enter(ctx); err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			order <- i
		}()
		waitForWaiting(t, q, int64(i+1))
	}
	for want := range 5 {
		q.leave() // the turn held by the previous caller
		if got := <-order; got != want {
			t.Fatalf("turn %d went to waiter %d", want, got)
		}
	}
	q.leave()
}

func TestLoginQueueWaitAndCancel(t *testing.T) {
	q := newLoginQueue(1, 10, 50*time.Millisecond)
	if err := q.enter(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := q.enter(context.Background()); !errors.Is(err, errQueueWait) {
		t.Fatalf("enter = %v, want errQueueWait", err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the wait of 50ms", waited)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.enter(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("enter with a cancelled context = %v", err)
	}
	if n := q.waiting.Load(); n != 0 {
		t.Errorf("%d callers still counted as waiting", n)
	}
	// Neither took a turn: after the one holder leaves, a turn is free.
	q.leave()
	if err := q.enter(context.Background()); err != nil {
		t.Fatalf("a free turn: %v", err)
	}
}

func TestThrottledLog(t *testing.T) {
	var n int
	l := &throttledLog{log: warnFunc(func(string, ...any) { n++ }), interval: time.Hour}
	for range 5 {
		l.warn("x")
	}
	if n != 1 {
		t.Errorf("%d warnings within the interval, want 1", n)
	}
	l.last.Store(time.Now().Add(-2 * time.Hour).UnixNano())
	l.warn("x")
	if n != 2 {
		t.Errorf("%d warnings after the interval, want 2", n)
	}
}

type warnFunc func(msg string, args ...any)

func (f warnFunc) Warn(msg string, args ...any) { f(msg, args...) }
