package lockout

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

func TestOnlyInvalidCredentialsStayCounted(t *testing.T) {
	const config = `{"failure_limit":3,"cooloff":"10m","lockout_parameters":["ip_address",["username","ip_address"]]}`
	tests := []struct {
		outcome outcome
		want    int64
	}{
		{wrongPassword, 1},
		{rightPassword, 0},
		{backendDown, 0},
		{deniedByOther, 0},
	}
	for _, tt := range tests {
		t.Run(tt.outcome.String(), func(t *testing.T) {
			h := newHarness(t, config)
			id, r, err := h.begin(alice)
			if err != nil || !abstained(r) {
				t.Fatalf("begin: %s, %v", describe(r), err)
			}
			// The attempt is reserved before its outcome is known.
			if got := h.failures("ip_address", alice); got != 1 {
				t.Fatalf("counter %d while the attempt is judged, want 1 (reserved)", got)
			}
			if err := h.finish(alice, id, tt.outcome); err != nil {
				t.Fatal(err)
			}
			for _, g := range []string{"ip_address", "ip_address+username"} {
				if got := h.failures(g, alice); got != tt.want {
					t.Errorf("%s counter %d after %v, want %d", g, got, tt.outcome, tt.want)
				}
			}
		})
	}
}

func TestManyOutcomesThatAreNotFailuresNeverLock(t *testing.T) {
	h := newHarness(t, `{"failure_limit":2,"lockout_parameters":["username","ip_address"]}`)
	for i := 0; i < 10; i++ {
		for _, o := range []outcome{rightPassword, backendDown, deniedByOther} {
			if r := h.try(alice, o); !abstained(r) {
				t.Fatalf("round %d, %v: %s", i, o, describe(r))
			}
		}
	}
	if got := h.counters(); len(got) != 0 {
		t.Fatalf("counters %v after outcomes that are not failures", got)
	}
}

func TestOwnRefusalSignalsAreIgnored(t *testing.T) {
	// The host does not send the plugin its own denials (IgnoreOwn), but
	// if a locked_out failure arrives (e.g. from another lockout
	// instance), it neither counts nor gives back.
	h := newHarness(t, `{"failure_limit":2,"cooloff":"10m"}`)
	h.tryN(alice, wrongPassword, 2)
	r := h.try(alice, wrongPassword)
	if !locked(r) {
		t.Fatalf("%s, want locked", describe(r))
	}
	for _, id := range []string{"", "req-3", "unknown"} {
		h.send(&sdk.UserLoginFailed{Username: alice.user, ClientFacts: sdk.ClientFacts{ClientIP: alice.ip, UserAgent: alice.ua},
			Backend: "lockout", Reason: sdk.ReasonLockedOut, RequestID: id}, "lockout")
	}
	if got := h.failures("ip_address", alice); got != 3 {
		t.Fatalf("counter %d, want 3", got)
	}
	if n := len(h.lockouts()); n != 1 {
		t.Fatalf("user_locked_out sent %d times, want once", n)
	}
}

func TestUnknownRequestOutcomesChangeNothing(t *testing.T) {
	h := newHarness(t, `{"failure_limit":3}`)
	h.tryN(alice, wrongPassword, 2)
	for _, o := range []outcome{wrongPassword, rightPassword, backendDown, deniedByOther} {
		if err := h.finish(alice, "never-seen", o); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.failures("ip_address", alice); got != 2 {
		t.Fatalf("counter %d after outcomes of unknown requests, want 2", got)
	}
	// An outcome is used once: a repeated success signal gives nothing back.
	id, _, _ := h.begin(alice)
	for range 3 {
		if err := h.finish(alice, id, rightPassword); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.failures("ip_address", alice); got != 2 {
		t.Fatalf("counter %d after a success delivered three times, want 2", got)
	}
}

func TestCounterNeverGoesBelowZero(t *testing.T) {
	tests := []struct {
		name string
		// between runs while the attempt is judged.
		between func(h *harness)
	}{
		{"the counter expired meanwhile", func(h *harness) { h.advance(10 * time.Minute) }},
		{"an operator reset the counters meanwhile", func(h *harness) {
			if _, err := Reset(context.Background(), h.host, h.settings(), Filter{All: true}); err != nil {
				h.t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		for _, o := range []outcome{rightPassword, backendDown, deniedByOther} {
			t.Run(tt.name+"/"+o.String(), func(t *testing.T) {
				h := newHarness(t, `{"failure_limit":2,"cooloff":"10m"}`)
				id, r, err := h.begin(alice)
				if err != nil || !abstained(r) {
					t.Fatalf("begin: %s, %v", describe(r), err)
				}
				tt.between(h)
				if err := h.finish(alice, id, o); err != nil {
					t.Fatal(err)
				}
				// Nothing stays counted: at most a zero that soon expires.
				for _, e := range h.entries(prefixCounter) {
					if string(e.Value) != "0" || e.ExpiresAt.IsZero() || e.ExpiresAt.Sub(h.now()) > time.Minute {
						t.Fatalf("counter entry after the refund: %+v, want none or a zero expiring within a minute", e)
					}
				}
				// A counter at -1 would let one failure more through.
				h.tryN(alice, wrongPassword, 2)
				if r := h.try(alice, wrongPassword); !locked(r) {
					t.Fatalf("third failure: %s, want locked", describe(r))
				}
			})
		}
	}
}

func TestRefundKeepsTheCounterExpiry(t *testing.T) {
	// Two attempts at the same moment; one is given back. The counter
	// still ends 10 minutes after that moment.
	h := newHarness(t, `{"failure_limit":3,"cooloff":"10m"}`)
	h.tryN(alice, wrongPassword, 1)
	want := h.now().Add(10 * time.Minute)
	h.tryN(alice, backendDown, 1)
	c, ok := h.counter("ip_address", alice)
	if !ok || c.Failures != 1 {
		t.Fatalf("counter %+v (found %v), want 1 failure", c, ok)
	}
	if !c.ExpiresAt.Equal(want) {
		t.Fatalf("after a refund the counter expires at %v, want %v", c.ExpiresAt, want)
	}
}

func TestRefundedAttemptDoesNotExtendTheCooloff(t *testing.T) {
	// The cool-off runs from the last counted attempt: an attempt that is
	// given back (a success, an outage) must not push the expiry.
	for _, o := range []outcome{rightPassword, backendDown, deniedByOther} {
		t.Run(o.String(), func(t *testing.T) {
			h := newHarness(t, `{"failure_limit":3,"cooloff":"10m"}`)
			start := h.now()
			h.tryN(alice, wrongPassword, 2)
			h.advance(9 * time.Minute)
			id, r, err := h.begin(alice)
			if err != nil || !abstained(r) {
				t.Fatalf("begin: %s, %v", describe(r), err)
			}
			pending, _ := h.counter("ip_address", alice)
			if err := h.finish(alice, id, o); err != nil {
				t.Fatal(err)
			}
			c, _ := h.counter("ip_address", alice)
			if want := start.Add(10 * time.Minute); c.Failures != 2 || !c.ExpiresAt.Equal(want) {
				t.Fatalf("after the %v at +9m was given back: %d failures expiring %v (while pending: %v), want 2 expiring %v",
					o, c.Failures, c.ExpiresAt, pending.ExpiresAt, want)
			}
			h.advance(time.Minute)
			if got := h.attempts(); len(got) != 0 {
				t.Fatalf("10 minutes after the last failure: counters %v, want none", h.counters())
			}
		})
	}
}

func TestUserLockedOut(t *testing.T) {
	type want struct {
		afterAttempt int // 1-based attempt whose outcome sends it
		failures     int
		until        time.Duration // 0: none
	}
	tests := []struct {
		name     string
		config   string
		outcomes []outcome
		want     []want
	}{
		{"at the limit, not before, not for refusals", `{"failure_limit":3,"cooloff":"10m"}`,
			[]outcome{wrongPassword, wrongPassword, wrongPassword, wrongPassword, wrongPassword, rightPassword},
			[]want{{3, 3, 10 * time.Minute}}},
		{"limit 1", `{"failure_limit":1,"cooloff":"1h"}`,
			[]outcome{wrongPassword, wrongPassword}, []want{{1, 1, time.Hour}}},
		{"permanent lock: no until", `{"failure_limit":2}`,
			[]outcome{wrongPassword, wrongPassword, wrongPassword}, []want{{2, 2, 0}}},
		{"a success at the limit is no lockout", `{"failure_limit":3,"cooloff":"10m"}`,
			[]outcome{wrongPassword, wrongPassword, rightPassword, wrongPassword}, []want{{4, 3, 10 * time.Minute}}},
		{"an outage at the limit is no lockout", `{"failure_limit":3,"cooloff":"10m"}`,
			[]outcome{wrongPassword, wrongPassword, backendDown, deniedByOther, wrongPassword}, []want{{5, 3, 10 * time.Minute}}},
		{"two groups reaching the limit together: one signal", `{"failure_limit":2,"cooloff":"10m","lockout_parameters":["ip_address","username"]}`,
			[]outcome{wrongPassword, wrongPassword, wrongPassword}, []want{{2, 2, 10 * time.Minute}}},
		{"tiers: the first tier", `{"tiers":[{"failures":2,"cooloff":"1m"},{"failures":4,"cooloff":"1h"}]}`,
			[]outcome{wrongPassword, wrongPassword, wrongPassword}, []want{{2, 2, time.Minute}}},
		{"not counting during the lock", `{"failure_limit":2,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":false}`,
			[]outcome{wrongPassword, wrongPassword, wrongPassword, wrongPassword}, []want{{2, 2, 10 * time.Minute}}},
		{"lock_out_at_failure false: never", `{"failure_limit":2,"lock_out_at_failure":false}`,
			[]outcome{wrongPassword, wrongPassword, wrongPassword, wrongPassword}, nil},
		{"allowed address: never", `{"failure_limit":1,"allow_ips":["192.0.2.1"]}`,
			[]outcome{wrongPassword, wrongPassword}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			var got []want
			seen := 0
			for i, o := range tt.outcomes {
				h.advance(time.Second)
				h.try(alice, o)
				l := h.lockouts()
				for _, s := range l[seen:] {
					w := want{afterAttempt: i + 1, failures: s.Failures}
					if !s.Until.IsZero() {
						w.until = s.Until.Sub(h.now())
					}
					if s.Username != alice.user || s.ClientIP != alice.ip || s.UserAgent != alice.ua {
						t.Errorf("user_locked_out %+v, want alice's username, address and agent", s)
					}
					got = append(got, w)
				}
				seen = len(l)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("user_locked_out %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("user_locked_out %+v, want %+v", got, tt.want)
				}
			}
		})
	}
}

func TestUserLockedOutAtTierBoundary(t *testing.T) {
	// A client who keeps trying while locked climbs the tiers; each tier
	// it reaches makes the lock longer and is announced, with the new end.
	h := newHarness(t, `{"tiers":[{"failures":2,"cooloff":"1m"},{"failures":4,"cooloff":"1h"}]}`)
	h.tryN(alice, wrongPassword, 2)
	h.try(alice, wrongPassword) // 3: locked, inside the first tier
	if n := len(h.lockouts()); n != 1 {
		t.Fatalf("user_locked_out sent %d times after the first tier, want once", n)
	}
	r := h.try(alice, wrongPassword) // 4: the second tier
	if !locked(r) || r.RetryAfter != time.Hour {
		t.Fatalf("4th attempt %s, want locked for 1h", describe(r))
	}
	l := h.lockouts()
	if len(l) != 2 {
		t.Fatalf("user_locked_out %+v after reaching the second tier, want 2 signals", l)
	}
	if l[1].Failures != 4 || !l[1].Until.Equal(h.now().Add(time.Hour)) {
		t.Fatalf("second user_locked_out %+v, want 4 failures until %v", l[1], h.now().Add(time.Hour))
	}
	h.try(alice, wrongPassword) // 5: no new tier
	if n := len(h.lockouts()); n != 2 {
		t.Fatalf("user_locked_out sent %d times, want 2", n)
	}
}

// race runs n concurrent wrong-password logins spread over the harnesses
// and returns how many the lockout let through.
func race(t *testing.T, n int, hs ...*harness) int {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		through int
		errs    []error
	)
	start := make(chan struct{})
	for i := range n {
		h := hs[i%len(hs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := h.tryErr(attempt{"victim", "203.0.113.9", "bot"}, wrongPassword)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			switch {
			case abstained(r):
				through++
			case !locked(r):
				errs = append(errs, &unexpected{r})
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	return through
}

type unexpected struct{ r sdk.AuthenticateResponse }

func (u *unexpected) Error() string { return "unexpected answer " + describe(u.r) }

func TestConcurrentAttemptsLetExactlyTheLimitThrough(t *testing.T) {
	const pair = `"failure_limit":5,"cooloff":"10m","lockout_parameters":[["username","ip_address"]]`
	tests := []struct {
		name   string
		config string
		hosts  int
		// minThrough..5 attempts are let through; wantCounter is the
		// counter afterwards.
		minThrough  int
		wantCounter int64
	}{
		{"one host", `{` + pair + `}`, 1, 5, 100},
		{"two hosts on one database", `{` + pair + `}`, 2, 5, 100},
		{"three hosts on one database", `{` + pair + `}`, 3, 5, 100},
		// Attempts that slip past the look while locked are given back.
		{"one host, not counting during the lock", `{` + pair + `,"reset_cooloff_on_failure_during_lockout":false}`, 1, 5, 5},
		{"two hosts, not counting during the lock", `{` + pair + `,"reset_cooloff_on_failure_during_lockout":false}`, 2, 5, 5},
		// With several groups an attempt's counts in each are drawn in a
		// different order, so "at most the limit" holds, not "exactly":
		// the attempts low in one counter may all be high in the other,
		// and then none gets through (about 3 runs in 100).
		{"two groups, two hosts", `{"failure_limit":5,"cooloff":"10m","lockout_parameters":["ip_address","username"]}`, 2, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := []*harness{newHarness(t, tt.config)}
			for len(hs) < tt.hosts {
				hs = append(hs, hs[0].second())
			}
			if got := race(t, 100, hs...); got > 5 || got < tt.minThrough {
				t.Fatalf("%d of 100 concurrent wrong passwords let through, want %d to 5", got, tt.minThrough)
			}
			for _, c := range hs[0].attempts() {
				if c.Failures != tt.wantCounter || !c.Locked {
					t.Errorf("counter %+v, want %d failures, locked", c, tt.wantCounter)
				}
			}
			// With several groups, different attempts may bring each
			// counter to the limit (one signal each), or the let-through
			// attempts may all stop short of it (none).
			groups := len(hs[0].settings().Groups)
			if n := len(hs[0].lockouts()); n > groups || (groups == 1 && n != 1) {
				t.Errorf("user_locked_out sent %d times, want once per group at most (exactly once for one group)", n)
			}
		})
	}
}

func TestConcurrentRefundsAreExact(t *testing.T) {
	// 196 logins that are not failures racing 4 failures on two hosts:
	// every refund lands, the failures stay.
	for _, o := range []outcome{rightPassword, backendDown, deniedByOther} {
		t.Run(o.String(), func(t *testing.T) {
			h := newHarness(t, `{"failure_limit":1000,"cooloff":"10m"}`)
			hs := []*harness{h, h.second()}
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for i := range 200 {
				o := o
				if i%50 == 0 {
					o = wrongPassword
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := hs[i%2].tryErr(alice, o)
					if err == nil && !abstained(r) {
						err = &unexpected{r}
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := h.failures("ip_address", alice); got != 4 {
				t.Fatalf("counter %d, want the 4 failures", got)
			}
		})
	}
}
