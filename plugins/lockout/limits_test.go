package lockout

import (
	"net/http"
	"testing"
	"time"
)

var alice = attempt{"alice", "192.0.2.1", "Mozilla/5.0"}

func TestFailureLimit(t *testing.T) {
	tests := []struct {
		name   string
		config string
		limit  int
	}{
		{"default is 3", `{}`, 3},
		{"limit 1", `{"failure_limit":1}`, 1},
		{"limit 5", `{"failure_limit":5}`, 5},
		{"limit 5 with a pair group", `{"failure_limit":5,"lockout_parameters":[["username","ip_address"]]}`, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			// The Nth wrong attempt is still let through to the backends
			// (which answer 401).
			h.tryN(alice, wrongPassword, tt.limit)
			if len(h.lockouts()) != 1 {
				t.Fatalf("user_locked_out sent %d times after %d failures, want once", len(h.lockouts()), tt.limit)
			}
			// The (N+1)th is refused, even with the right password.
			r := h.try(alice, rightPassword)
			if !locked(r) {
				t.Fatalf("attempt %d: %s, want locked out", tt.limit+1, describe(r))
			}
			if r.HTTPStatus != http.StatusTooManyRequests {
				t.Errorf("status %d, want 429", r.HTTPStatus)
			}
			if got := r.Details["failure_limit"]; got != float64(tt.limit) {
				t.Errorf("details failure_limit = %v, want %d", got, tt.limit)
			}
			// The refused attempt counts (reset_cooloff_on_failure_during_lockout
			// defaults to true), as in django-axes.
			if got := r.Details["failure_count"]; got != float64(tt.limit+1) {
				t.Errorf("details failure_count = %v, want %d", got, tt.limit+1)
			}
			if got := r.Details["username"]; got != "alice" {
				t.Errorf("details username = %v, want alice", got)
			}
		})
	}
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, `{"failure_limit":2,"cooloff":"10m"}`)
			start := h.now()
			for _, at := range tt.wrongAt {
				h.advance(start.Add(at).Sub(h.now()))
				h.tryN(alice, wrongPassword, 1)
			}
			if len(tt.wrongAt) == limit && tt.wrongAt[1]-tt.wrongAt[0] < 10*time.Minute {
				c, ok := h.counter("ip_address", alice)
				if want := start.Add(tt.wrongAt[limit-1] + 10*time.Minute); !ok || !c.ExpiresAt.Equal(want) || !c.Locked {
					t.Fatalf("counter %+v (found %v), want locked until %v", c, ok, want)
				}
			}
			h.advance(start.Add(tt.probe).Sub(h.now()))
			r := h.try(alice, rightPassword)
			if locked(r) != tt.wantLocked {
				t.Fatalf("at %v: %s, want locked %v", tt.probe, describe(r), tt.wantLocked)
			}
			if !tt.wantLocked {
				return
			}
			if r.RetryAfter != 10*time.Minute || r.Description != cooloffMessage ||
				r.Details["cooloff_time"] != "PT10M" || r.Details["cooloff_seconds"] != float64(600) {
				t.Fatalf("lockout answer %s, want Retry-After 10m (the refused attempt extends the lock) with the cool-off message", describe(r))
			}
		})
	}
}

func TestPermanentLock(t *testing.T) {
	for _, config := range []string{`{"failure_limit":2}`, `{"failure_limit":2,"cooloff":"0"}`, `{"failure_limit":2,"cooloff":"0s"}`} {
		t.Run(config, func(t *testing.T) {
			h := newHarness(t, config)
			h.tryN(alice, wrongPassword, 2)
			if c, _ := h.counter("ip_address", alice); !c.ExpiresAt.IsZero() || !c.Locked {
				t.Fatalf("counter %+v, want locked with no expiry", c)
			}
			if l := h.lockouts(); len(l) != 1 || !l[0].Until.IsZero() {
				t.Fatalf("user_locked_out %+v, want one with a zero until", l)
			}
			h.advance(1000 * 24 * time.Hour)
			r := h.try(alice, rightPassword)
			if !locked(r) {
				t.Fatalf("1000 days later: %s, want still locked", describe(r))
			}
			if r.RetryAfter != 0 {
				t.Errorf("Retry-After %v, want none for a permanent lock", r.RetryAfter)
			}
			if r.Description != permalockMessage {
				t.Errorf("description %q, want %q", r.Description, permalockMessage)
			}
			if _, ok := r.Details["cooloff_time"]; ok {
				t.Errorf("details %v carry a cooloff_time", r.Details)
			}
			if _, ok := r.Details["cooloff_seconds"]; ok {
				t.Errorf("details %v carry cooloff_seconds", r.Details)
			}
		})
	}
}

func TestResetCooloffOnFailureDuringLockout(t *testing.T) {
	tests := []struct {
		name   string
		config string
		// At 6 minutes into a 10-minute lock, an attempt is refused with:
		wantRetry    time.Duration
		wantCount    float64
		wantCounter  int64 // after that attempt
		lockedAt12m  bool
		lockedAt16m  bool
		wantExpiryAt time.Duration // counter expiry after the attempt at 6m
	}{
		{"true (default): counted, extends", `{"failure_limit":2,"cooloff":"10m"}`, 10 * time.Minute, 3, 3, true, false, 16 * time.Minute},
		{"true explicitly", `{"failure_limit":2,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":true}`, 10 * time.Minute, 3, 3, true, false, 16 * time.Minute},
		{"false: neither counted nor extends", `{"failure_limit":2,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":false}`, 4 * time.Minute, 2, 2, false, false, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			start := h.now()
			h.tryN(alice, wrongPassword, 2)
			h.advance(6 * time.Minute)
			r := h.try(alice, wrongPassword)
			if !locked(r) {
				t.Fatalf("at 6m: %s, want locked", describe(r))
			}
			if r.RetryAfter != tt.wantRetry {
				t.Errorf("Retry-After %v, want %v", r.RetryAfter, tt.wantRetry)
			}
			if r.Details["failure_count"] != tt.wantCount {
				t.Errorf("failure_count %v, want %v", r.Details["failure_count"], tt.wantCount)
			}
			c, _ := h.counter("ip_address", alice)
			if c.Failures != tt.wantCounter || !c.ExpiresAt.Equal(start.Add(tt.wantExpiryAt)) {
				t.Errorf("counter %d until %v, want %d until %v", c.Failures, c.ExpiresAt, tt.wantCounter, start.Add(tt.wantExpiryAt))
			}
			// Probe without counting more: look at the counter's lock.
			h.advance(6 * time.Minute) // 12m
			c, ok := h.counter("ip_address", alice)
			if (ok && c.Locked) != tt.lockedAt12m {
				t.Errorf("at 12m locked = %v (%+v), want %v", ok && c.Locked, c, tt.lockedAt12m)
			}
			h.advance(4 * time.Minute) // 16m
			if r := h.try(alice, rightPassword); locked(r) != tt.lockedAt16m {
				t.Errorf("at 16m: %s, want locked %v", describe(r), tt.lockedAt16m)
			}
		})
	}
}

func TestResetCooloffFalseManyAttemptsWhileLocked(t *testing.T) {
	h := newHarness(t, `{"failure_limit":3,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":false}`)
	h.tryN(alice, wrongPassword, 3)
	for i := 1; i <= 9; i++ {
		h.advance(time.Minute)
		r := h.try(alice, wrongPassword)
		if want := time.Duration(10-i) * time.Minute; !locked(r) || r.RetryAfter != want {
			t.Fatalf("minute %d: %s, want locked with %v left", i, describe(r), want)
		}
		if got := r.Details["cooloff_seconds"]; got != float64((10-i)*60) {
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
	if r := h.try(alice, rightPassword); !abstained(r) {
		t.Fatalf("after the cool-off: %s, want let through", describe(r))
	}
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			h.tryN(alice, wrongPassword, 10)
			h.tryN(alice, rightPassword, 1)
			c, ok := h.counter("ip_address", alice)
			if !ok || c.Failures != 10 || c.Locked {
				t.Fatalf("counter %+v (found %v), want 10 failures, not locked", c, ok)
			}
			if l := h.lockouts(); len(l) != 0 {
				t.Fatalf("user_locked_out sent: %+v", l)
			}
		})
	}
}

func TestResetOnSuccess(t *testing.T) {
	const config = `"failure_limit":5,"cooloff":"10m","lockout_parameters":["ip_address",["username","ip_address"]]`
	bob := attempt{"bob", alice.ip, "ua"}
	carol := attempt{"carol", "192.0.2.77", "ua"}
	tests := []struct {
		name   string
		config string
		// After 2 wrong passwords from alice, 1 from bob on the same IP,
		// 1 from carol elsewhere, and alice's success:
		wantAlicePair, wantIP int64
	}{
		{"reset_on_success removes the client's counters", `{` + config + `,"reset_on_success":true}`, 0, 0},
		{"without it the success only gives its own attempt back", `{` + config + `}`, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			h.tryN(alice, wrongPassword, 2)
			h.tryN(bob, wrongPassword, 1)
			h.tryN(carol, wrongPassword, 1)
			h.tryN(alice, rightPassword, 1)
			if got := h.failures("ip_address+username", alice); got != tt.wantAlicePair {
				t.Errorf("alice's pair counter %d, want %d", got, tt.wantAlicePair)
			}
			if got := h.failures("ip_address", alice); got != tt.wantIP {
				t.Errorf("the shared IP's counter %d, want %d", got, tt.wantIP)
			}
			// Other clients' own counters survive.
			if got := h.failures("ip_address+username", bob); got != 1 {
				t.Errorf("bob's pair counter %d, want 1", got)
			}
			if got := h.failures("ip_address", carol); got != 1 {
				t.Errorf("carol's IP counter %d, want 1", got)
			}
			if got := h.failures("ip_address+username", carol); got != 1 {
				t.Errorf("carol's pair counter %d, want 1", got)
			}
		})
	}
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			h.tryN(alice, wrongPassword, 3)
			h.tryN(alice, rightPassword, 1)
			if got := h.failures("ip_address", alice); got != tt.wantAfter {
				t.Fatalf("counter %d after 3 failures and a success, want %d", got, tt.wantAfter)
			}
			left := 5 - int(tt.wantAfter)
			h.tryN(alice, wrongPassword, left)
			if r := h.try(alice, wrongPassword); !locked(r) {
				t.Fatalf("after %d more failures: %s, want locked", left, describe(r))
			}
		})
	}
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
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			h := newHarness(t, tt.config)
			h.tryN(alice, wrongPassword, 1)
			r := h.try(alice, rightPassword)
			if !locked(r) || r.HTTPStatus != tt.want {
				t.Fatalf("%s, want locked_out with %d", describe(r), tt.want)
			}
		})
	}
}

func TestTiers(t *testing.T) {
	const tiers = `{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":5,"cooloff":"10m"},{"failures":8,"cooloff":"1h"}]}`
	// Attempts while locked count (the default), so a client who keeps
	// trying climbs the tiers.
	h := newHarness(t, tiers)
	h.tryN(alice, wrongPassword, 3)
	want := []struct {
		count int
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
		r := h.try(alice, wrongPassword)
		if !locked(r) || r.RetryAfter != w.retry || r.Details["cooloff_time"] != w.iso ||
			r.Details["failure_count"] != float64(w.count) || r.Details["failure_limit"] != float64(3) {
			t.Fatalf("attempt %d: %s, want locked for %v (%s), failure_limit 3", w.count, describe(r), w.retry, w.iso)
		}
		c, _ := h.counter("ip_address", alice)
		if want := h.now().Add(w.retry); !c.ExpiresAt.Equal(want) {
			t.Fatalf("attempt %d: counter expires %v, want %v (the tier's cool-off)", w.count, c.ExpiresAt, want)
		}
	}
	// The highest tier holds: 59m later still locked, an hour after the
	// last attempt free.
	h.advance(time.Hour - time.Second)
	if c, ok := h.counter("ip_address", alice); !ok || !c.Locked {
		t.Fatalf("59m59s into a 1h lock: %+v", c)
	}
	h.advance(time.Second)
	if r := h.try(alice, rightPassword); !abstained(r) {
		t.Fatalf("after the top tier's cool-off: %s", describe(r))
	}
}

func TestTierCooloffShorterThanStorageTTL(t *testing.T) {
	// Counters are stored with the longest cool-off (1h); a client who
	// reaches only the first tier is free after its minute.
	tests := []struct {
		name      string
		params    string
		twoGroups bool
	}{
		{"one group", `["ip_address"]`, false},
		{"pair group", `[["username","ip_address"]]`, false},
		{"two groups", `["ip_address","username"]`, true},
		{"two groups, username first", `["username","ip_address"]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.twoGroups {
			}
			h := newHarness(t, `{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":5,"cooloff":"1h"}],"lockout_parameters":`+tt.params+`}`)
			h.tryN(alice, wrongPassword, 3)
			for _, c := range h.attempts() {
				if want := h.now().Add(time.Minute); !c.ExpiresAt.Equal(want) {
					t.Errorf("counter %s expires %v, want %v (the first tier)", c.Group, c.ExpiresAt, want)
				}
			}
			h.advance(time.Minute - time.Second)
			if c := h.attempts(); len(c) == 0 || !c[0].Locked {
				t.Fatalf("59s into the first tier: %+v, want locked", c)
			}
			h.advance(time.Second)
			if r := h.try(alice, rightPassword); !abstained(r) {
				t.Fatalf("a minute after the third failure: %s, want let through", describe(r))
			}
		})
	}
}

func TestTiersNotCountingWhileLocked(t *testing.T) {
	// Without counting during the lock, a client stays in its tier.
	h := newHarness(t, `{"tiers":[{"failures":2,"cooloff":"5m"},{"failures":4,"cooloff":"1h"}],"reset_cooloff_on_failure_during_lockout":false}`)
	h.tryN(alice, wrongPassword, 2)
	for i := 1; i <= 4; i++ {
		h.advance(time.Minute)
		r := h.try(alice, wrongPassword)
		if want := time.Duration(5-i) * time.Minute; !locked(r) || r.RetryAfter != want || r.Details["failure_count"] != float64(2) {
			t.Fatalf("minute %d: %s, want locked with %v left at 2 failures", i, describe(r), want)
		}
	}
	h.advance(time.Minute)
	if r := h.try(alice, rightPassword); !abstained(r) {
		t.Fatalf("after the first tier's 5m: %s", describe(r))
	}
}
