package limiter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

var results = []sdk.LoginResult{wrong, right, denied, unavailable}

func TestOnlyWrongPasswordsAreCounted(t *testing.T) {
	// An attempt in flight is reserved, not counted: it is not listed,
	// and it makes room for one attempt less (limit 1: the next waits and,
	// with a short max_wait, is answered Busy). When it ends only a wrong
	// password stays counted, on every group.
	const config = `{"failure_limit":1,"cooloff":"10m","max_wait":"50ms","lockout_parameters":["ip_address",["username","ip_address"]]}`
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, result := range results {
			t.Run(result.String(), func(t *testing.T) {
				h := newHarness(t, db, config)
				v := h.mustCheck(alice)
				if v.Attempt == nil {
					t.Fatalf("first attempt: %s, want admitted", describe(v))
				}
				if cs := h.counters(); len(cs) != 0 {
					t.Fatalf("counters %+v while the attempt is judged, want none (reserved, not counted)", cs)
				}
				if v2 := h.mustCheck(alice); !v2.Busy {
					t.Fatalf("second attempt while the only room is taken: %s, want busy", describe(v2))
				}
				if _, err := end(v, result); err != nil {
					t.Fatal(err)
				}
				want := int64(0)
				if result == wrong {
					want = 1
				}
				for _, g := range []string{"ip_address", "ip_address+username"} {
					if got := h.failures(g, alice); got != want {
						t.Errorf("%s counter %d after %v, want %d", g, got, result, want)
					}
				}
				// The room is back: locked after a failure, admitted
				// otherwise.
				v = h.mustCheck(alice)
				if (result == wrong) != locked(v) || (result != wrong && v.Attempt == nil) {
					t.Fatalf("next attempt after %v: %s", result, describe(v))
				}
				if _, err := end(v, right); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

func TestOutcomesThatAreNotFailuresNeverLock(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1m","lockout_parameters":["username","ip_address"]}`)
		for i := 0; i < 10; i++ {
			for _, r := range []sdk.LoginResult{right, unavailable, denied} {
				if v := h.try(alice, r); v.Attempt == nil {
					t.Fatalf("round %d, %v: %s, want admitted", i, r, describe(v))
				}
			}
		}
		if got := h.counterStrings(); len(got) != 0 {
			t.Fatalf("counters %v after outcomes that are not failures", got)
		}
		h.tryN(alice, wrong, 2)
		if v := h.try(alice, right); !locked(v) {
			t.Fatalf("two wrong passwords with limit 2: %s, want locked", describe(v))
		}
	})
}

func TestEndCountsOnce(t *testing.T) {
	// End is the settlement of one attempt: a second call changes nothing,
	// whatever its result; a nil attempt (an address that is not counted)
	// ends without error.
	tests := []struct {
		name  string
		first sdk.LoginResult
		then  []sdk.LoginResult
		want  int64
	}{
		{"failure twice", wrong, []sdk.LoginResult{wrong}, 1},
		{"success then failure", right, []sdk.LoginResult{wrong, wrong}, 0},
		{"outage then failure", unavailable, []sdk.LoginResult{wrong}, 0},
		{"failure then success", wrong, []sdk.LoginResult{right}, 1},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":3,"reset_on_success":true}`)
				v := h.mustCheck(alice)
				if _, err := end(v, tt.first); err != nil {
					t.Fatal(err)
				}
				for _, r := range tt.then {
					if err := v.Attempt.End(context.Background(), r, "s"); err != nil {
						t.Fatal(err)
					}
				}
				if got := h.failures("ip_address", alice); got != tt.want {
					t.Fatalf("counter %d, want %d", got, tt.want)
				}
			})
		}
		var none *Attempt
		if err := none.End(context.Background(), wrong, ""); err != nil {
			t.Fatalf("ending a nil attempt: %v", err)
		}
	})
}

func TestCounterNeverGoesBelowZero(t *testing.T) {
	// Between Check and End the counter goes away; the attempt's end must
	// leave nothing behind (no negative count, no reservation that keeps
	// taking room: with a short max_wait, a leaked reservation would
	// answer the last attempts Busy).
	tests := []struct {
		name    string
		between func(h *harness)
	}{
		{"the counter expired meanwhile", func(h *harness) { h.advance(10 * time.Minute) }},
		{"an operator reset the counters meanwhile", func(h *harness) {
			if _, err := reset(context.Background(), h.l.store, Filter{All: true}); err != nil {
				h.t.Fatal(err)
			}
		}},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			for _, result := range []sdk.LoginResult{right, unavailable, denied, wrong} {
				t.Run(tt.name+"/"+result.String(), func(t *testing.T) {
					h := newHarness(t, db, `{"failure_limit":2,"cooloff":"10m","max_wait":"50ms"}`)
					h.tryN(alice, wrong, 1)
					v := h.mustCheck(alice)
					if v.Attempt == nil {
						t.Fatalf("second attempt: %s", describe(v))
					}
					tt.between(h)
					if _, err := end(v, result); err != nil {
						t.Fatal(err)
					}
					want := int64(0)
					if result == wrong {
						want = 1 // counted afresh
					}
					if got := h.failures("ip_address", alice); got != want {
						t.Fatalf("counter %d after %v, want %d; counters %v", got, result, want, h.counterStrings())
					}
					h.tryN(alice, wrong, int(2-want))
					if v := h.try(alice, wrong); !locked(v) {
						t.Fatalf("attempt after the limit: %s, want locked", describe(v))
					}
				})
			}
		}
	})
}

func TestRefundKeepsTheCounterExpiry(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":3,"cooloff":"10m"}`)
		h.tryN(alice, wrong, 1)
		want := h.now().Add(10 * time.Minute)
		h.tryN(alice, unavailable, 1)
		c, ok := h.counter("ip_address", alice)
		if !ok || c.Failures != 1 || !c.ExpiresAt.Equal(want) {
			t.Fatalf("counter %+v (found %v), want 1 failure until %v", c, ok, want)
		}
	})
}

func TestRefundedAttemptDoesNotExtendTheCooloff(t *testing.T) {
	// The cool-off runs from the last counted attempt: an attempt given
	// back must not push the expiry, neither while in flight nor after.
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, r := range []sdk.LoginResult{right, unavailable, denied} {
			t.Run(r.String(), func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":3,"cooloff":"10m"}`)
				start := h.now()
				want := start.Add(10 * time.Minute)
				h.tryN(alice, wrong, 2)
				h.advance(9 * time.Minute)
				v := h.mustCheck(alice)
				if v.Attempt == nil {
					t.Fatalf("at +9m: %s", describe(v))
				}
				if c, _ := h.counter("ip_address", alice); c.Failures != 2 || !c.ExpiresAt.Equal(want) {
					t.Fatalf("while in flight: %+v, want 2 failures until %v", c, want)
				}
				if _, err := end(v, r); err != nil {
					t.Fatal(err)
				}
				if c, _ := h.counter("ip_address", alice); c.Failures != 2 || !c.ExpiresAt.Equal(want) {
					t.Fatalf("after the %v at +9m was given back: %+v, want 2 failures until %v", r, c, want)
				}
				h.advance(time.Minute)
				if got := h.counters(); len(got) != 0 {
					t.Fatalf("10 minutes after the last failure: counters %v, want none", h.counterStrings())
				}
			})
		}
	})
}

func TestUserLockedOut(t *testing.T) {
	type want struct {
		afterAttempt int // 1-based attempt whose outcome sends it
		failures     int
		group        string
		until        time.Duration // 0: none
	}
	tests := []struct {
		name    string
		config  string
		results []sdk.LoginResult
		want    []want
	}{
		{"at the limit, not before, not for refusals", `{"failure_limit":3,"cooloff":"10m"}`,
			[]sdk.LoginResult{wrong, wrong, wrong, wrong, wrong, right}, []want{{3, 3, "ip_address", 10 * time.Minute}}},
		{"limit 1", `{"failure_limit":1,"cooloff":"1h"}`,
			[]sdk.LoginResult{wrong, wrong}, []want{{1, 1, "ip_address", time.Hour}}},
		{"permanent lock: no until", `{"failure_limit":2}`,
			[]sdk.LoginResult{wrong, wrong, wrong}, []want{{2, 2, "ip_address", 0}}},
		{"a success at the limit is no lockout", `{"failure_limit":3,"cooloff":"10m"}`,
			[]sdk.LoginResult{wrong, wrong, right, wrong}, []want{{4, 3, "ip_address", 10 * time.Minute}}},
		{"an outage or a deny at the limit is no lockout", `{"failure_limit":3,"cooloff":"10m"}`,
			[]sdk.LoginResult{wrong, wrong, unavailable, denied, wrong}, []want{{5, 3, "ip_address", 10 * time.Minute}}},
		// Each group's counter that locks is announced, naming its group.
		{"two groups reaching the limit together: one signal each", `{"failure_limit":2,"cooloff":"10m","lockout_parameters":["ip_address","username"]}`,
			[]sdk.LoginResult{wrong, wrong, wrong}, []want{{2, 2, "ip_address", 10 * time.Minute}, {2, 2, "username", 10 * time.Minute}}},
		{"groups with their own limits lock one after the other", `{"cooloff":"10m","lockout_parameters":[{"group":"ip_address","failure_limit":3},{"group":["username","ip_address"],"failure_limit":2,"cooloff":"1h"}]}`,
			[]sdk.LoginResult{wrong, wrong, wrong, wrong}, []want{{2, 2, "ip_address+username", time.Hour}}},
		{"tiers: the first tier", `{"tiers":[{"failures":2,"cooloff":"1m"},{"failures":4,"cooloff":"1h"}]}`,
			[]sdk.LoginResult{wrong, wrong, wrong}, []want{{2, 2, "ip_address", time.Minute}}},
		{"not counting during the lock", `{"failure_limit":2,"cooloff":"10m","reset_cooloff_on_failure_during_lockout":false}`,
			[]sdk.LoginResult{wrong, wrong, wrong, wrong}, []want{{2, 2, "ip_address", 10 * time.Minute}}},
		{"lock_out_at_failure false: never", `{"failure_limit":2,"lock_out_at_failure":false}`,
			[]sdk.LoginResult{wrong, wrong, wrong, wrong}, nil},
		{"allowed address: never", `{"failure_limit":1,"allow_ips":["192.0.2.1"]}`,
			[]sdk.LoginResult{wrong, wrong}, nil},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				var got []want
				seen := 0
				for i, r := range tt.results {
					h.advance(time.Second)
					h.try(alice, r)
					l := h.lockouts()
					for _, s := range l[seen:] {
						w := want{afterAttempt: i + 1, failures: s.Failures, group: s.Group}
						if !s.Until.IsZero() {
							w.until = s.Until.Sub(h.now())
						}
						if s.Username != alice.user || s.IP != alice.ip || s.UserAgent != alice.ua {
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
	})
}

func TestUserLockedOutAtTierBoundary(t *testing.T) {
	// A client who keeps trying while locked climbs the tiers; each tier
	// it reaches makes the lock longer and is announced, with the new end.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"tiers":[{"failures":2,"cooloff":"1m"},{"failures":4,"cooloff":"1h"}]}`)
		h.tryN(alice, wrong, 2)
		h.try(alice, wrong) // 3: locked, inside the first tier
		if n := len(h.lockouts()); n != 1 {
			t.Fatalf("user_locked_out sent %d times after the first tier, want once", n)
		}
		v := h.try(alice, wrong) // 4: the second tier
		if !locked(v) || v.Refusal.RetryAfter != time.Hour {
			t.Fatalf("4th attempt %s, want locked for 1h", describe(v))
		}
		l := h.lockouts()
		if len(l) != 2 {
			t.Fatalf("user_locked_out %+v after reaching the second tier, want 2 signals", l)
		}
		if l[1].Failures != 4 || !l[1].Until.Equal(h.now().Add(time.Hour)) || l[1].Group != "ip_address" {
			t.Fatalf("second user_locked_out %+v, want 4 failures until %v", l[1], h.now().Add(time.Hour))
		}
		h.try(alice, wrong) // 5: no new tier
		if n := len(h.lockouts()); n != 2 {
			t.Fatalf("user_locked_out sent %d times, want 2", n)
		}
	})
}

func TestNoSecretLeaves(t *testing.T) {
	// The password reaches neither the signals, nor the log lines, nor the
	// records, whatever happens to the login.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1m","access_failure_log":true,"sensitive_parameters":[],"tiers":[{"failures":2,"cooloff":"1m"},{"failures":3,"cooloff":"1h"}]}`)
		h.login(alice)
		h.tryN(alice, wrong, 2)
		h.try(alice, wrong)
		h.try(alice, wrong)
		if n := len(h.lockouts()); n != 2 { // lockouts() fails on a password in a signal
			t.Fatalf("user_locked_out sent %d times, want 2", n)
		}
		if strings.Contains(h.logs.String(), password) {
			t.Fatalf("the log shows the password:\n%s", h.logs)
		}
		for _, failed := range []bool{false, true} {
			for _, r := range h.accessRecords(failed) {
				if strings.Contains(r.Username+r.IPAddress+r.UserAgent+r.SessionID, password) {
					t.Fatalf("access record %+v carries the password", r)
				}
			}
		}
	})
}
