package lockout

import (
	"testing"
	"time"
)

func TestLimitThenLockThenCooloff(t *testing.T) {
	h := newHarness(t, `{"failure_limit":3,"cooloff":"10m","lockout_parameters":[["username","ip_address"]]}`)
	alice := attempt{"alice", "192.0.2.1", "ua"}
	for i := 1; i <= 3; i++ {
		if r := h.try(alice, wrongPassword); locked(r) {
			t.Fatalf("attempt %d locked out already", i)
		}
	}
	r := h.try(alice, rightPassword)
	if !locked(r) || r.RetryAfter != 10*time.Minute || r.HTTPStatus != 429 {
		t.Fatalf("4th attempt: %+v, want locked out for 10m with 429", r)
	}
	if r.Details["failure_limit"] != float64(3) || r.Details["cooloff_time"] != "PT10M" || r.Details["username"] != "alice" {
		t.Fatalf("details: %+v", r.Details)
	}
	// Another IP is another pair.
	if r := h.try(attempt{"alice", "192.0.2.2", "ua"}, rightPassword); locked(r) {
		t.Fatal("alice from another IP is locked out")
	}
	// Attempts while locked extend the lock (default): 9m later still locked.
	h.advance(9 * time.Minute)
	if r := h.try(alice, wrongPassword); !locked(r) {
		t.Fatal("not locked 9 minutes into a 10-minute lock")
	}
	h.advance(9 * time.Minute)
	if r := h.try(alice, wrongPassword); !locked(r) {
		t.Fatal("the attempt at 9 minutes did not extend the lock")
	}
	h.advance(10*time.Minute + time.Second)
	if r := h.try(alice, rightPassword); locked(r) {
		t.Fatal("still locked after the cool-off")
	}
}

func TestSuccessAndOutagesDoNotCount(t *testing.T) {
	h := newHarness(t, `{"failure_limit":2,"lockout_parameters":["username"]}`)
	bob := attempt{"bob", "192.0.2.9", ""}
	for i := 0; i < 10; i++ {
		for _, o := range []outcome{rightPassword, backendDown, deniedByOther} {
			if r := h.try(bob, o); locked(r) {
				t.Fatalf("round %d: locked after outcomes that are not wrong passwords", i)
			}
		}
	}
	h.try(bob, wrongPassword)
	h.try(bob, wrongPassword)
	if r := h.try(bob, rightPassword); !locked(r) {
		t.Fatal("two wrong passwords with limit 2 did not lock")
	}
}
