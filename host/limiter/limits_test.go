package limiter

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// retrySeconds is the Retry-After header a refusal makes (whole seconds,
// rounded up, as the HTTP API writes it).
func retrySeconds(r *Refusal) int64 {
	return int64(math.Ceil(r.RetryAfter.Seconds()))
}

const (
	wrong       = sdk.LoginFailed
	right       = sdk.LoginSucceeded
	denied      = sdk.LoginDenied
	unavailable = sdk.LoginUnavailable
)

func TestFailureLimit(t *testing.T) {
	tests := []struct {
		name   string
		config string
		limit  int64
	}{
		{"default is 3", `{}`, 3},
		{"limit 1", `{"failure_limit":1}`, 1},
		{"limit 5", `{"failure_limit":5}`, 5},
		{"limit 5 with a pair group", `{"failure_limit":5,"lockout_parameters":[["username","ip_address"]]}`, 5},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				// The Nth wrong attempt still reaches the backends (which
				// answer 401).
				h.tryN(alice, wrong, int(tt.limit))
				if n := len(h.lockouts()); n != 1 {
					t.Fatalf("user_locked_out sent %d times after %d failures, want once", n, tt.limit)
				}
				// The next is refused, even with the right password.
				v := h.try(alice, right)
				if !locked(v) {
					t.Fatalf("attempt %d: %s, want locked out", tt.limit+1, describe(v))
				}
				r := v.Refusal
				if r.Status != http.StatusTooManyRequests {
					t.Errorf("status %d, want 429", r.Status)
				}
				if got := r.Details["failure_limit"]; got != tt.limit {
					t.Errorf("details failure_limit = %v, want %d", got, tt.limit)
				}
				// The refused attempt counts (reset_cooloff_on_failure_during_lockout
				// defaults to true), as in django-axes.
				if got := r.Details["failure_count"]; got != tt.limit+1 {
					t.Errorf("details failure_count = %v, want %d", got, tt.limit+1)
				}
				if got := r.Details["username"]; got != "alice" {
					t.Errorf("details username = %v, want alice", got)
				}
				if v.Attempt != nil {
					t.Errorf("a refused login carries an attempt to end")
				}
			})
		}
	})
}

func TestLimitThenLockThenCooloff(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":3,"cooloff":"10m","lockout_parameters":[["username","ip_address"]]}`)
		h.tryN(alice, wrong, 3)
		v := h.try(alice, right)
		if !locked(v) || v.Refusal.RetryAfter != 10*time.Minute || v.Refusal.Status != 429 {
			t.Fatalf("4th attempt: %s, want locked out for 10m with 429", describe(v))
		}
		if d := v.Refusal.Details; d["failure_limit"] != int64(3) || d["cooloff_time"] != "PT10M" || d["username"] != "alice" {
			t.Fatalf("details: %+v", d)
		}
		// Another address is another pair.
		if v := h.try(attempt{"alice", "192.0.2.2", "ua"}, right); !through(v) {
			t.Fatalf("alice from another address: %s", describe(v))
		}
		// Attempts while locked extend the lock (default).
		h.advance(9 * time.Minute)
		if v := h.try(alice, wrong); !locked(v) {
			t.Fatal("not locked 9 minutes into a 10-minute lock")
		}
		h.advance(9 * time.Minute)
		if v := h.try(alice, wrong); !locked(v) {
			t.Fatal("the attempt at 9 minutes did not extend the lock")
		}
		h.advance(10*time.Minute + time.Second)
		if v := h.try(alice, right); !through(v) {
			t.Fatalf("after the cool-off: %s", describe(v))
		}
	})
}

func TestCooloff(t *testing.T) {
	const limit = 2
	tests := []struct {
		name string
		// wrongAt are the times of the wrong attempts after the start;
		// probe is when the next attempt is made.
		wrongAt    []time.Duration
		probe      time.Duration
		wantLocked bool
	}{
		{"just before the cool-off", []time.Duration{0, 0}, 10*time.Minute - time.Second, true},
		{"a nanosecond before the cool-off", []time.Duration{0, 0}, 10*time.Minute - time.Nanosecond, true},
		{"exactly at the cool-off", []time.Duration{0, 0}, 10 * time.Minute, false},
		{"after the cool-off", []time.Duration{0, 0}, time.Hour, false},
		{"counted from the last attempt: before", []time.Duration{0, 5 * time.Minute}, 15*time.Minute - time.Second, true},
		{"counted from the last attempt: at", []time.Duration{0, 5 * time.Minute}, 15 * time.Minute, false},
		{"the first failure expired before the second", []time.Duration{0, 10 * time.Minute}, 10 * time.Minute, false},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":2,"cooloff":"10m"}`)
				start := h.now()
				for _, at := range tt.wrongAt {
					h.advance(start.Add(at).Sub(h.now()))
					h.tryN(alice, wrong, 1)
				}
				if tt.wrongAt[1]-tt.wrongAt[0] < 10*time.Minute {
					c, ok := h.counter("ip_address", alice)
					if want := start.Add(tt.wrongAt[limit-1] + 10*time.Minute); !ok || !c.ExpiresAt.Equal(want) || !c.Locked || c.Failures != limit {
						t.Fatalf("counter %+v (found %v), want locked at %d until %v", c, ok, limit, want)
					}
				} else if n := h.failures("ip_address", alice); n != 1 {
					t.Fatalf("counter %d after a failure that came when the first had expired, want 1", n)
				}
				h.advance(start.Add(tt.probe).Sub(h.now()))
				v := h.try(alice, right)
				if locked(v) != tt.wantLocked || (!tt.wantLocked && !through(v)) {
					t.Fatalf("at %v: %s, want locked %v", tt.probe, describe(v), tt.wantLocked)
				}
				if !tt.wantLocked {
					return
				}
				r := v.Refusal
				if retrySeconds(r) != 600 || r.Description != cooloffMessage ||
					r.Details["cooloff_time"] != "PT10M" || r.Details["cooloff_seconds"] != int64(600) {
					t.Fatalf("lockout answer %s, want Retry-After 10m (the refused attempt extends the lock) with the cool-off message", describe(v))
				}
			})
		}
	})
}

func TestPermanentLock(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, config := range []string{`{"failure_limit":2}`, `{"failure_limit":2,"cooloff":"0"}`, `{"failure_limit":2,"cooloff":"0s"}`} {
			t.Run(config, func(t *testing.T) {
				h := newHarness(t, db, config)
				h.tryN(alice, wrong, 2)
				if c, _ := h.counter("ip_address", alice); !c.ExpiresAt.IsZero() || !c.Locked {
					t.Fatalf("counter %+v, want locked with no expiry", c)
				}
				if l := h.lockouts(); len(l) != 1 || !l[0].Until.IsZero() {
					t.Fatalf("user_locked_out %+v, want one with a zero until", l)
				}
				h.advance(1000 * 24 * time.Hour)
				v := h.try(alice, right)
				if !locked(v) {
					t.Fatalf("1000 days later: %s, want still locked", describe(v))
				}
				r := v.Refusal
				if r.RetryAfter != 0 {
					t.Errorf("Retry-After %v, want none for a permanent lock", r.RetryAfter)
				}
				if r.Description != permalockMessage {
					t.Errorf("description %q, want %q", r.Description, permalockMessage)
				}
				for _, k := range []string{"cooloff_time", "cooloff_seconds"} {
					if _, ok := r.Details[k]; ok {
						t.Errorf("details %v carry %s", r.Details, k)
					}
				}
				// Counting while locked keeps it permanent.
				if c, _ := h.counter("ip_address", alice); c.Failures != 3 || !c.ExpiresAt.IsZero() {
					t.Fatalf("counter %+v after a refusal, want 3 failures and still no expiry", c)
				}
			})
		}
	})
}

func TestResetCooloffOnFailureDuringLockout(t *testing.T) {
	tests := []struct {
		name   string
		config string
		// At 6 minutes into a 10-minute lock, an attempt is refused with:
		wantRetry    time.Duration
		wantCount    int64
		lockedAt12m  bool
		lockedAt16m  bool
		wantExpiryAt time.Duration // counter expiry after the attempt at 6m
	}{
		{"true (default): counted, extends", `{"failure_limit":2,"cooloff":"10m"}`, 10 * time.Minute, 3, true, false, 16 * time.Minute},
		{"true explicitly", `{"failure_limit":2,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":true}`, 10 * time.Minute, 3, true, false, 16 * time.Minute},
		{"false: neither counted nor extends", `{"failure_limit":2,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":false}`, 4 * time.Minute, 2, false, false, 10 * time.Minute},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				start := h.now()
				h.tryN(alice, wrong, 2)
				h.advance(6 * time.Minute)
				v := h.try(alice, wrong)
				if !locked(v) {
					t.Fatalf("at 6m: %s, want locked", describe(v))
				}
				if v.Refusal.RetryAfter != tt.wantRetry {
					t.Errorf("Retry-After %v, want %v", v.Refusal.RetryAfter, tt.wantRetry)
				}
				if got := v.Refusal.Details["failure_count"]; got != tt.wantCount {
					t.Errorf("failure_count %v, want %v", got, tt.wantCount)
				}
				c, _ := h.counter("ip_address", alice)
				if c.Failures != tt.wantCount || !c.ExpiresAt.Equal(start.Add(tt.wantExpiryAt)) {
					t.Errorf("counter %d until %v, want %d until %v", c.Failures, c.ExpiresAt, tt.wantCount, start.Add(tt.wantExpiryAt))
				}
				// Look at the lock without counting more.
				h.advance(6 * time.Minute) // 12m
				c, ok := h.counter("ip_address", alice)
				if (ok && c.Locked) != tt.lockedAt12m {
					t.Errorf("at 12m locked = %v (%+v), want %v", ok && c.Locked, c, tt.lockedAt12m)
				}
				h.advance(4 * time.Minute) // 16m
				if v := h.try(alice, right); locked(v) != tt.lockedAt16m {
					t.Errorf("at 16m: %s, want locked %v", describe(v), tt.lockedAt16m)
				}
			})
		}
	})
}

func TestResetCooloffFalseManyAttemptsWhileLocked(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":3,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":false}`)
		h.tryN(alice, wrong, 3)
		for i := 1; i <= 9; i++ {
			h.advance(time.Minute)
			v := h.try(alice, wrong)
			if want := time.Duration(10-i) * time.Minute; !locked(v) || v.Refusal.RetryAfter != want {
				t.Fatalf("minute %d: %s, want locked with %v left", i, describe(v), want)
			}
			if got := v.Refusal.Details["cooloff_seconds"]; got != int64((10-i)*60) {
				t.Fatalf("minute %d: cooloff_seconds %v, want %d", i, got, (10-i)*60)
			}
		}
		if n := h.failures("ip_address", alice); n != 3 {
			t.Fatalf("counter %d after attempts while locked, want 3", n)
		}
		if n := len(h.lockouts()); n != 1 {
			t.Fatalf("user_locked_out sent %d times, want once", n)
		}
		h.advance(time.Minute)
		if v := h.try(alice, right); !through(v) {
			t.Fatalf("after the cool-off: %s, want let through", describe(v))
		}
	})
}

func TestLockOutAtFailureFalse(t *testing.T) {
	tests := []struct {
		name   string
		config string
	}{
		{"with cool-off", `{"failure_limit":2,"cooloff":"10m","lock_out_at_failure":false}`},
		{"permanent", `{"failure_limit":2,"lock_out_at_failure":false}`},
		{"tiers", `{"tiers":[{"failures":2,"cooloff":"1m"}],"lock_out_at_failure":false}`},
		{"not counting while locked", `{"failure_limit":2,"lock_out_at_failure":false,"reset_cooloff_on_failure_during_lockout":false}`},
		{"a username group needs no cool-off", `{"failure_limit":2,"lock_out_at_failure":false,"lockout_parameters":["username"]}`},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				h.tryN(alice, wrong, 10)
				h.tryN(alice, right, 1)
				cs := h.counters()
				if len(cs) != 1 || cs[0].Failures != 10 || cs[0].Locked {
					t.Fatalf("counters %+v, want one with 10 failures, not locked", cs)
				}
				if l := h.lockouts(); len(l) != 0 {
					t.Fatalf("user_locked_out sent: %+v", l)
				}
			})
		}
	})
}

func TestResetOnSuccess(t *testing.T) {
	const config = `"failure_limit":5,"cooloff":"10m","lockout_parameters":["ip_address",["username","ip_address"]]`
	bob := attempt{"bob", alice.ip, "ua"}
	carol := attempt{"carol", "192.0.2.77", "ua"}
	tests := []struct {
		name   string
		config string
		// After 2 wrong passwords from alice, 1 from bob on the same
		// address, 1 from carol elsewhere, and alice's success:
		wantAlicePair, wantIP int64
	}{
		{"reset_on_success removes the client's counters", `{` + config + `,"reset_on_success":true}`, 0, 0},
		{"without it the success only gives its own attempt back", `{` + config + `}`, 2, 3},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				h.tryN(alice, wrong, 2)
				h.tryN(bob, wrong, 1)
				h.tryN(carol, wrong, 1)
				h.tryN(alice, right, 1)
				if got := h.failures("ip_address+username", alice); got != tt.wantAlicePair {
					t.Errorf("alice's pair counter %d, want %d", got, tt.wantAlicePair)
				}
				if got := h.failures("ip_address", alice); got != tt.wantIP {
					t.Errorf("the shared address's counter %d, want %d", got, tt.wantIP)
				}
				// Other clients' own counters survive.
				if got := h.failures("ip_address+username", bob); got != 1 {
					t.Errorf("bob's pair counter %d, want 1", got)
				}
				if got := h.failures("ip_address", carol); got != 1 {
					t.Errorf("carol's address counter %d, want 1", got)
				}
				if got := h.failures("ip_address+username", carol); got != 1 {
					t.Errorf("carol's pair counter %d, want 1", got)
				}
			})
		}
	})
}

func TestSuccessGivesOnlyItsOwnAttemptBack(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		wantAfter int64
	}{
		{"without reset_on_success", `{"failure_limit":5}`, 3},
		{"with reset_on_success", `{"failure_limit":5,"reset_on_success":true}`, 0},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				h.tryN(alice, wrong, 3)
				h.tryN(alice, right, 1)
				if got := h.failures("ip_address", alice); got != tt.wantAfter {
					t.Fatalf("counter %d after 3 failures and a success, want %d", got, tt.wantAfter)
				}
				left := 5 - int(tt.wantAfter)
				h.tryN(alice, wrong, left)
				if v := h.try(alice, wrong); !locked(v) {
					t.Fatalf("after %d more failures: %s, want locked", left, describe(v))
				}
			})
		}
	})
}

func TestStatusCode(t *testing.T) {
	tests := []struct {
		config string
		want   int
	}{
		{`{"failure_limit":1}`, http.StatusTooManyRequests},
		{`{"failure_limit":1,"status_code":429}`, http.StatusTooManyRequests},
		{`{"failure_limit":1,"status_code":403}`, http.StatusForbidden},
		{`{"failure_limit":1,"status_code":403,"reset_cooloff_on_failure_during_lockout":false}`, http.StatusForbidden},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.config, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				h.tryN(alice, wrong, 1)
				v := h.try(alice, right)
				if !locked(v) || v.Refusal.Status != tt.want {
					t.Fatalf("%s, want locked_out with %d", describe(v), tt.want)
				}
			})
		}
	})
}

func TestTiers(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		// Attempts while locked count (the default), so a client who keeps
		// trying climbs the tiers.
		h := newHarness(t, db, `{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":5,"cooloff":"10m"},{"failures":8,"cooloff":"1h"}]}`)
		h.tryN(alice, wrong, 3)
		want := []struct {
			count int64
			retry time.Duration
			iso   string
		}{
			{4, time.Minute, "PT1M"},
			{5, 10 * time.Minute, "PT10M"},
			{6, 10 * time.Minute, "PT10M"},
			{7, 10 * time.Minute, "PT10M"},
			{8, time.Hour, "PT1H"},
			{9, time.Hour, "PT1H"},
		}
		for _, w := range want {
			v := h.try(alice, wrong)
			if !locked(v) || v.Refusal.RetryAfter != w.retry || v.Refusal.Details["cooloff_time"] != w.iso ||
				v.Refusal.Details["failure_count"] != w.count || v.Refusal.Details["failure_limit"] != int64(3) {
				t.Fatalf("attempt %d: %s, want locked for %v (%s), failure_limit 3", w.count, describe(v), w.retry, w.iso)
			}
			c, _ := h.counter("ip_address", alice)
			if want := h.now().Add(w.retry); !c.ExpiresAt.Equal(want) {
				t.Fatalf("attempt %d: counter expires %v, want %v (the tier's cool-off)", w.count, c.ExpiresAt, want)
			}
		}
		// The highest tier holds: just before an hour after the last
		// attempt still locked, at the hour free.
		h.advance(time.Hour - time.Second)
		if c, ok := h.counter("ip_address", alice); !ok || !c.Locked {
			t.Fatalf("59m59s into a 1h lock: %+v", c)
		}
		h.advance(time.Second)
		if v := h.try(alice, right); !through(v) {
			t.Fatalf("after the top tier's cool-off: %s", describe(v))
		}
	})
}

func TestFirstTierCooloffAppliesToEveryGroup(t *testing.T) {
	// A client who reaches only the first tier is free after its minute,
	// whatever its groups.
	tests := []struct {
		name   string
		params string
	}{
		{"one group", `["ip_address"]`},
		{"pair group", `[["username","ip_address"]]`},
		{"two groups", `["ip_address","username"]`},
		{"two groups, username first", `["username","ip_address"]`},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, `{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":5,"cooloff":"1h"}],"lockout_parameters":`+tt.params+`}`)
				h.tryN(alice, wrong, 3)
				cs := h.counters()
				if len(cs) == 0 {
					t.Fatal("no counters after 3 failures")
				}
				for _, c := range cs {
					if want := h.now().Add(time.Minute); !c.ExpiresAt.Equal(want) || !c.Locked {
						t.Errorf("counter %s expires %v (locked %v), want locked until %v (the first tier)", c.Group, c.ExpiresAt, c.Locked, want)
					}
				}
				h.advance(time.Minute - time.Second)
				if cs := h.counters(); len(cs) == 0 || !cs[0].Locked {
					t.Fatalf("59s into the first tier: %+v, want locked", cs)
				}
				h.advance(time.Second)
				if v := h.try(alice, right); !through(v) {
					t.Fatalf("a minute after the third failure: %s, want let through", describe(v))
				}
			})
		}
	})
}

func TestTiersNotCountingWhileLocked(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		// Without counting during the lock, a client stays in its tier.
		h := newHarness(t, db, `{"tiers":[{"failures":2,"cooloff":"5m"},{"failures":4,"cooloff":"1h"}],"reset_cooloff_on_failure_during_lockout":false}`)
		h.tryN(alice, wrong, 2)
		for i := 1; i <= 4; i++ {
			h.advance(time.Minute)
			v := h.try(alice, wrong)
			if want := time.Duration(5-i) * time.Minute; !locked(v) || v.Refusal.RetryAfter != want || v.Refusal.Details["failure_count"] != int64(2) {
				t.Fatalf("minute %d: %s, want locked with %v left at 2 failures", i, describe(v), want)
			}
		}
		h.advance(time.Minute)
		if v := h.try(alice, right); !through(v) {
			t.Fatalf("after the first tier's 5m: %s", describe(v))
		}
	})
}
