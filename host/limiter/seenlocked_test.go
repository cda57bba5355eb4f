package limiter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
)

func TestSeenLocked(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	s := newSeenLocked()
	a, b := storage.AttemptCounter{Key: "a"}, storage.AttemptCounter{Key: "b"}
	s.add(storage.CounterState{Key: "a", Failures: 1, LockAt: 2}) // not locked: not kept
	if s.anyOf([]storage.AttemptCounter{a, b}, now) || !s.empty() {
		t.Fatal("an open counter was kept as locked")
	}
	s.add(storage.CounterState{Key: "a", Failures: 2, LockAt: 2, ExpiresAt: now.Add(time.Minute)})
	s.add(storage.CounterState{Key: "b", Failures: 9, LockAt: 2}) // no end
	if s.empty() || !s.anyOf([]storage.AttemptCounter{a}, now) || !s.anyOf([]storage.AttemptCounter{b}, now.Add(time.Hour)) {
		t.Fatal("a lock seen was not kept")
	}
	if s.anyOf([]storage.AttemptCounter{a}, now.Add(time.Minute)) {
		t.Fatal("a lock was kept past its end")
	}
	if _, ok := s.until["a"]; ok {
		t.Fatal("an ended lock was not forgotten")
	}
	s.forget([]storage.AttemptCounter{a, b})
	if s.anyOf([]storage.AttemptCounter{a, b}, now) {
		t.Fatal("forgotten counters are still kept")
	}
	for i := range maxSeenLocked + 10 {
		s.add(storage.CounterState{Key: fmt.Sprint(i), Failures: 2, LockAt: 2})
	}
	if len(s.until) != maxSeenLocked {
		t.Fatalf("%d counters kept; want at most %d", len(s.until), maxSeenLocked)
	}
}

// What a host has not seen locked is found by the admission: a client
// locked out on another host is refused here at its first attempt, and
// its refusal counted as there; once an operator unlocked it elsewhere,
// the lock this host saw does not refuse it.
func TestLockSeenOnAnotherHost(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"10m"}`)
		other := h.second()
		other.tryN(alice, wrong, 2)
		for i := range 3 {
			if v := h.try(alice, right); !locked(v) {
				t.Fatalf("attempt %d here after the lock there: %s, want locked", i+1, describe(v))
			}
		}
		if got := h.failures("ip_address", alice); got != 5 {
			t.Fatalf("counter %d after 2 failures and 3 refusals, want 5", got)
		}
		if _, err := reset(context.Background(), other.l.store, Filter{All: true}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if v := h.try(alice, right); !through(v) {
				t.Fatalf("attempt %d after the reset there: %s, want it let through", i+1, describe(v))
			}
		}
	})
}

// Early refuses, and counts, only a client this host has seen locked
// out; of any other it decides nothing and reads nothing. A lock an
// operator lifted meanwhile refuses nothing, and is forgotten.
func TestEarly(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"10m"}`)
		req := alice.request("early")
		early := func() Verdict {
			t.Helper()
			check := h.l.Early(req)
			if check == nil {
				t.Fatal("a lock seen here is not one to look for")
			}
			v, err := check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		other := h.second()
		other.tryN(alice, wrong, 2) // locked there: not seen here
		if h.l.Early(req) != nil {
			t.Fatal("a lock this host has not seen was looked for")
		}
		if got := h.failures("ip_address", alice); got != 2 {
			t.Fatalf("counter %d, want the 2 failures only", got)
		}
		if v := h.try(alice, right); !locked(v) { // seen here now
			t.Fatalf("after the lock: %s, want locked", describe(v))
		}
		for i := range 2 {
			if v := early(); !locked(v) || v.Attempt != nil {
				t.Fatalf("early look %d: %s, want locked and no attempt", i+1, describe(v))
			}
		}
		if got := h.failures("ip_address", alice); got != 5 {
			t.Fatalf("counter %d after 2 failures and 3 refusals, want 5", got)
		}
		if _, err := reset(context.Background(), other.l.store, Filter{All: true}); err != nil {
			t.Fatal(err)
		}
		if v := early(); !through(v) || v.Attempt != nil {
			t.Fatalf("after the reset: %s, want nothing decided", describe(v))
		}
		if h.l.Early(req) != nil {
			t.Fatal("a lock found lifted is still looked for")
		}
	})
}
