package limiter

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The bound the limiter keeps under a burst: at most a counter's limit of
// attempts in flight or counted, so that exactly the limit of wrong
// passwords reach the backends, while correct ones wait for room instead
// of being refused. Bursts run with a max_wait of minutes: it is a hang
// limit here, and a Busy answer is a failure of the test.

// login is one login of a burst: its client and how it ends.
type login struct {
	a      attempt
	result sdk.LoginResult
}

// burstOutcome is what a burst's logins got.
type burstOutcome struct {
	admitted, refused, busy int
	// admittedWrong counts the admitted logins that were wrong passwords.
	admittedWrong int
	// maxInFlight is the most logins seen between Check and End at once.
	maxInFlight int64
	// early lists correct logins refused before `limit` wrong ones had
	// even begun to settle: the lock they were refused by cannot have
	// existed.
	early []string
	errs  []error
}

// burst runs the logins at once, spread over the hosts, each the way the
// chain runs it: Check, then (when admitted) End with its result. limit
// is the lock the test expects, for the early check.
func burst(t *testing.T, hosts []*harness, logins []login, limit int64) burstOutcome {
	t.Helper()
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		out           burstOutcome
		inFlight      atomic.Int64
		wrongSettling atomic.Int64
	)
	start := make(chan struct{})
	for i, lg := range logins {
		h := hosts[i%len(hosts)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, err := h.check(lg.a)
			if err == nil && v.Attempt != nil {
				n := inFlight.Add(1)
				mu.Lock()
				out.maxInFlight = max(out.maxInFlight, n)
				mu.Unlock()
				time.Sleep(time.Millisecond) // the backends at work
				inFlight.Add(-1)
				if lg.result == wrong {
					wrongSettling.Add(1)
				}
				_, err = end(v, lg.result)
			}
			settling := wrongSettling.Load()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				out.errs = append(out.errs, fmt.Errorf("login %d (%v): %w", i, lg.result, err))
			case v.Busy:
				out.busy++
			case v.Refusal != nil:
				out.refused++
				if v.Refusal.Reason != ReasonLockedOut {
					out.errs = append(out.errs, fmt.Errorf("login %d: %s", i, describe(v)))
				}
				if lg.result != wrong && settling < limit {
					out.early = append(out.early, fmt.Sprintf("login %d refused with %d wrong passwords settling", i, settling))
				}
			case v.Attempt != nil:
				out.admitted++
				if lg.result == wrong {
					out.admittedWrong++
				}
			default:
				out.errs = append(out.errs, fmt.Errorf("login %d let through uncounted: %s", i, describe(v)))
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range out.errs {
		t.Error(err)
	}
	return out
}

// hostsOf returns h and, with two, h's backend on a second host sharing
// the database.
func hostsOf(h *harness, n int) []*harness {
	hs := []*harness{h}
	for len(hs) < n {
		hs = append(hs, h.second())
	}
	return hs
}

// burstShapes are the lockout groups bursts run under: one user from one
// address with [[username, ip_address]], and 20 users behind one address
// (a NAT) with [ip_address].
var burstShapes = []struct {
	name   string
	params string
	client func(i int) attempt
}{
	{"[[username, ip_address]], one user", `[["username","ip_address"]]`, func(int) attempt { return attempt{"victim", "203.0.113.9", "bot"} }},
	{"[ip_address], 20 users", `["ip_address"]`, func(i int) attempt { return attempt{fmt.Sprintf("user%02d", i%20), "203.0.113.9", "bot"} }},
}

func TestBurstOfCorrectLogins(t *testing.T) {
	// Every correct login of a burst is admitted, whatever its size and
	// however many hosts share the database; nothing is counted, and at
	// no time are more than the limit in flight.
	const limit = 5
	for _, shape := range burstShapes {
		for _, n := range []int{20, 100} {
			for _, hosts := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%d logins/%d hosts", shape.name, n, hosts), func(t *testing.T) {
					eachDB(t, func(t *testing.T, db *testDB) {
						h := newHarness(t, db, fmt.Sprintf(`{"failure_limit":%d,"cooloff":"10m","max_wait":"3m","lockout_parameters":%s}`, limit, shape.params))
						var logins []login
						for i := range n {
							logins = append(logins, login{shape.client(i), right})
						}
						out := burst(t, hostsOf(h, hosts), logins, limit)
						if out.admitted != n || out.refused != 0 || out.busy != 0 {
							t.Fatalf("%d correct logins: %d admitted, %d refused, %d busy; want all admitted", n, out.admitted, out.refused, out.busy)
						}
						if out.maxInFlight > limit || out.maxInFlight < 1 {
							t.Errorf("%d logins in flight at once, want 1 to %d", out.maxInFlight, limit)
						}
						if cs := h.counterStrings(); len(cs) != 0 {
							t.Errorf("counters %v after correct logins, want none", cs)
						}
						if l := h.lockouts(); len(l) != 0 {
							t.Errorf("user_locked_out %+v after correct logins", l)
						}
						if recs := h.accessRecords(false); len(recs) != n {
							t.Errorf("%d access records, want one per login (%d)", len(recs), n)
						}
					})
				})
			}
		}
	}
}

func TestBurstOfWrongLogins(t *testing.T) {
	// Exactly the limit of a burst of wrong passwords reaches the
	// backends; the rest are refused, and each refusal is counted (and
	// logged) when attempts while locked count.
	const limit = 5
	for _, shape := range burstShapes {
		for _, n := range []int{20, 100} {
			for _, hosts := range []int{1, 2} {
				for _, countWhileLocked := range []bool{true, false} {
					if !countWhileLocked && (n != 100 || hosts != 1 || shape.params != burstShapes[0].params) {
						continue // not counting is the same bound; once is enough
					}
					t.Run(fmt.Sprintf("%s/%d logins/%d hosts/counting while locked %v", shape.name, n, hosts, countWhileLocked), func(t *testing.T) {
						eachDB(t, func(t *testing.T, db *testDB) {
							h := newHarness(t, db, fmt.Sprintf(`{"failure_limit":%d,"cooloff":"10m","max_wait":"3m","access_failure_log":true,"reset_cooloff_on_failure_during_lockout":%v,"lockout_parameters":%s}`,
								limit, countWhileLocked, shape.params))
							var logins []login
							for i := range n {
								logins = append(logins, login{shape.client(i), wrong})
							}
							out := burst(t, hostsOf(h, hosts), logins, limit)
							if out.admitted != limit || out.refused != n-limit || out.busy != 0 {
								t.Fatalf("%d wrong logins: %d admitted, %d refused, %d busy; want exactly %d admitted, the rest refused", n, out.admitted, out.refused, out.busy, limit)
							}
							if out.maxInFlight > limit {
								t.Errorf("%d logins in flight at once, want at most %d", out.maxInFlight, limit)
							}
							want := int64(limit)
							if countWhileLocked {
								want = int64(n)
							}
							cs := h.counters()
							if len(cs) != 1 || cs[0].Failures != want || !cs[0].Locked {
								t.Errorf("counters %v, want one locked at %d", h.counterStrings(), want)
							}
							if l := h.lockouts(); len(l) != 1 || l[0].Failures != limit {
								t.Errorf("user_locked_out %+v, want one at %d", l, limit)
							}
							if recs := h.accessRecords(true); int64(len(recs)) != want {
								t.Errorf("%d failure records, want %d", len(recs), want)
							}
						})
					})
				}
			}
		}
	}
}

func TestBurstOnTwoGroupsLetsExactlyTheLimitThrough(t *testing.T) {
	// An attempt is reserved on all its counters in one transaction, so
	// with two groups too exactly the limit gets through (the old plugin,
	// counting each group on its own, could let fewer through); each
	// refusal counts on both, as both are locked.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":5,"cooloff":"10m","max_wait":"3m","reset_cooloff_on_failure_during_lockout":true,"lockout_parameters":["ip_address","username"]}`)
		var logins []login
		for range 100 {
			logins = append(logins, login{alice, wrong})
		}
		out := burst(t, hostsOf(h, 2), logins, 5)
		if out.admitted != 5 || out.refused != 95 || out.busy != 0 {
			t.Fatalf("%d admitted, %d refused, %d busy; want 5, 95, 0", out.admitted, out.refused, out.busy)
		}
		if got := h.counterStrings(); fmt.Sprint(got) != "[ip_address||192.0.2.1|=100 username|alice||=100]" {
			t.Fatalf("counters %v, want both groups at 100", got)
		}
		if n := len(h.lockouts()); n != 2 {
			t.Fatalf("user_locked_out sent %d times, want once per group", n)
		}
	})
}

func TestConcurrentSettlementsAreExact(t *testing.T) {
	// Logins that are not failures racing a few failures, on two hosts:
	// every settlement lands, only the failures stay counted.
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, r := range []sdk.LoginResult{right, unavailable, denied} {
			t.Run(r.String(), func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":1000,"cooloff":"10m","reset_on_success":false}`)
				var logins []login
				for i := range 100 {
					lg := login{alice, r}
					if i%25 == 0 {
						lg.result = wrong
					}
					logins = append(logins, lg)
				}
				if out := burst(t, hostsOf(h, 2), logins, 1000); out.admitted != 100 {
					t.Fatalf("%d of 100 admitted under a limit of 1000", out.admitted)
				}
				if got := h.failures("ip_address", alice); got != 4 {
					t.Fatalf("counter %d, want the 4 failures", got)
				}
			})
		}
	})
}

func TestBurstClimbsTiersOnce(t *testing.T) {
	// 100 wrong passwords at once on two hosts, counted while locked: each
	// tier the count passes is announced exactly once, the refusals in
	// between not.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"max_wait":"3m","tiers":[{"failures":5,"cooloff":"1m"},{"failures":10,"cooloff":"10m"},{"failures":50,"cooloff":"1h"}]}`)
		var logins []login
		for range 100 {
			logins = append(logins, login{alice, wrong})
		}
		out := burst(t, hostsOf(h, 2), logins, 5)
		if out.admitted != 5 || out.refused != 95 {
			t.Fatalf("%d admitted, %d refused, want 5 and 95", out.admitted, out.refused)
		}
		var got []int
		for _, s := range h.lockouts() {
			got = append(got, s.Failures)
		}
		slices.Sort(got) // sent as each count is reached, by different goroutines
		if fmt.Sprint(got) != "[5 10 50]" {
			t.Fatalf("user_locked_out at %v failures, want once each at 5, 10 and 50", got)
		}
		c, _ := h.counter("ip_address", alice)
		if c.Failures != 100 || !c.ExpiresAt.Equal(h.now().Add(time.Hour)) {
			t.Fatalf("counter %+v, want 100 failures locked for the top tier's hour", c)
		}
	})
}

func TestMixedBursts(t *testing.T) {
	// Correct and wrong passwords at once: every correct one is admitted
	// unless the limit of wrong ones had already settled (then it is
	// refused by that lock); exactly min(wrong, limit) wrong ones reach
	// the backends.
	const limit = 5
	tests := []struct {
		n, wrongEvery int // every wrongEvery-th login is a wrong password
		hosts         []int
	}{
		{20, 7, []int{1}},    // 3 wrong: under the limit, nobody refused
		{20, 2, []int{1, 2}}, // 10 wrong
		{100, 2, []int{2}},   // 50 wrong
		{100, 20, []int{1}},  // exactly the limit of wrong ones
	}
	for _, shape := range burstShapes {
		for _, tt := range tests {
			for _, hosts := range tt.hosts {
				t.Run(fmt.Sprintf("%s/%d logins, 1 in %d wrong/%d hosts", shape.name, tt.n, tt.wrongEvery, hosts), func(t *testing.T) {
					eachDB(t, func(t *testing.T, db *testDB) {
						h := newHarness(t, db, fmt.Sprintf(`{"failure_limit":%d,"cooloff":"10m","max_wait":"3m","lockout_parameters":%s}`, limit, shape.params))
						var logins []login
						wrongs := 0
						for i := range tt.n {
							r := right
							if i%tt.wrongEvery == tt.wrongEvery-1 {
								r = wrong
								wrongs++
							}
							logins = append(logins, login{shape.client(i), r})
						}
						out := burst(t, hostsOf(h, hosts), logins, limit)
						for _, e := range out.early {
							t.Error(e)
						}
						if out.busy != 0 {
							t.Fatalf("%d busy answers", out.busy)
						}
						if want := min(wrongs, limit); out.admittedWrong != want {
							t.Fatalf("%d wrong passwords admitted, want %d", out.admittedWrong, want)
						}
						if wrongs < limit && out.refused != 0 {
							t.Fatalf("%d refused with %d wrong passwords under a limit of %d", out.refused, wrongs, limit)
						}
						if out.maxInFlight > limit {
							t.Errorf("%d logins in flight at once, want at most %d", out.maxInFlight, limit)
						}
						// Counted: the wrong ones let through, and every
						// refusal (counting while locked is the default).
						want := int64(out.admittedWrong + out.refused)
						cs := h.counters()
						if len(cs) != 1 || cs[0].Failures != want || cs[0].Locked != (wrongs >= limit) {
							t.Errorf("counters %v, want one at %d, locked %v", h.counterStrings(), want, wrongs >= limit)
						}
					})
				})
			}
		}
	}
}

func TestBusyAfterMaxWait(t *testing.T) {
	// Attempts in flight that never end fill the room: the next attempt
	// waits max_wait and is answered Busy, uncounted.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":3,"cooloff":"10m","max_wait":"100ms","lockout_parameters":[["username","ip_address"]]}`)
		var open []Verdict
		for i := range 3 {
			v := h.mustCheck(alice)
			if v.Attempt == nil {
				t.Fatalf("attempt %d: %s, want admitted", i+1, describe(v))
			}
			open = append(open, v)
		}
		for range 2 {
			if v := h.mustCheck(alice); !v.Busy || v.Attempt != nil || v.Refusal != nil {
				t.Fatalf("attempt with the room full: %s, want busy", describe(v))
			}
		}
		if cs := h.counterStrings(); len(cs) != 0 {
			t.Fatalf("counters %v after busy answers, want none", cs)
		}
		// Another client has room of its own.
		if v := h.try(attempt{"bob", alice.ip, alice.ua}, right); v.Attempt == nil {
			t.Fatalf("another user: %s, want admitted", describe(v))
		}
		// The busy ones were not counted: the three wrong passwords lock,
		// and the next refusal is the fourth count.
		for _, v := range open {
			if _, err := end(v, wrong); err != nil {
				t.Fatal(err)
			}
		}
		v := h.try(alice, right)
		if !locked(v) || v.Refusal.Details["failure_count"] != int64(4) {
			t.Fatalf("after 3 failures: %s, want locked at a count of 4", describe(v))
		}
	})
}

// waitForWaiter blocks until an attempt waits for room on a counter of h
// on this host (generous hang limit).
func waitForWaiter(t *testing.T, h *harness) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		h.l.waiters.mu.Lock()
		n := len(h.l.waiters.queues)
		h.l.waiters.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt waited for room within a minute")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWaitingAttemptGetsTheRoomAnEndFrees(t *testing.T) {
	// An attempt that finds the room full waits; the end of an attempt in
	// flight, on this host or another, lets it in (or refuses it, if that
	// end locked the client).
	tests := []struct {
		name       string
		result     sdk.LoginResult
		wantLocked bool
	}{
		{"a success frees the room", right, false},
		{"an outage frees the room", unavailable, false},
		{"a failure locks", wrong, true},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			for _, sameHost := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/same host %v", tt.name, sameHost), func(t *testing.T) {
					h := newHarness(t, db, `{"failure_limit":1,"cooloff":"10m","max_wait":"3m"}`)
					first := h.mustCheck(alice)
					if first.Attempt == nil {
						t.Fatalf("first attempt: %s", describe(first))
					}
					waiter := h
					if !sameHost {
						waiter = h.second()
					}
					done := make(chan Verdict, 1)
					go func() {
						v, err := waiter.check(alice)
						if err != nil {
							t.Error(err)
						}
						done <- v
					}()
					waitForWaiter(t, waiter)
					select {
					case v := <-done:
						t.Fatalf("the second attempt did not wait: %s", describe(v))
					default:
					}
					if _, err := end(first, tt.result); err != nil {
						t.Fatal(err)
					}
					var v Verdict
					select {
					case v = <-done:
					case <-time.After(time.Minute):
						t.Fatal("the waiting attempt was not let in within a minute of the room freeing")
					}
					if locked(v) != tt.wantLocked || (!tt.wantLocked && v.Attempt == nil) {
						t.Fatalf("the waiting attempt: %s, want locked %v", describe(v), tt.wantLocked)
					}
					if _, err := end(v, right); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	})
}

func TestReservationOfADeadHostIsGivenBackAfterItsLease(t *testing.T) {
	// A host that dies between Check and End never gives its attempts
	// back; another host sharing the database gets their room back when
	// their lease runs out, and the client can log in again.
	const lease = 90 * time.Second
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"10m","max_wait":"50ms","lockout_parameters":[["username","ip_address"]]}`,
			func(o *Options) { o.Lease = lease })
		dead := h.second()
		for i := range 2 {
			if v := dead.mustCheck(alice); v.Attempt == nil {
				t.Fatalf("attempt %d on the host that dies: %s", i+1, describe(v))
			}
		}
		if err := dead.store.Close(); err != nil {
			t.Fatal(err)
		}
		if v := h.mustCheck(alice); !v.Busy {
			t.Fatalf("while the dead host's attempts are leased: %s, want busy", describe(v))
		}
		h.advance(lease - time.Millisecond)
		if v := h.mustCheck(alice); !v.Busy {
			t.Fatalf("a millisecond before the lease ends: %s, want busy", describe(v))
		}
		h.advance(time.Millisecond)
		h.login(alice)
		h.login(alice)
		if cs := h.counterStrings(); len(cs) != 0 {
			t.Fatalf("counters %v, want none: the dead host's attempts are not failures", cs)
		}
		// And the room is whole again: two wrong passwords, then the lock.
		h.tryN(alice, wrong, 2)
		if v := h.try(alice, right); !locked(v) {
			t.Fatalf("after 2 failures: %s, want locked", describe(v))
		}
	})
}

func TestGroupsWithLimitsOfTheirOwn(t *testing.T) {
	// lockout_parameters entries as objects: each group its own limit,
	// cool-off or tiers. A refusal while locked counts on the counters
	// that are locked only.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"lockout_parameters":[
			{"group":"ip_address","failure_limit":10,"cooloff":"1h"},
			{"group":["username","ip_address"],"failure_limit":3,"cooloff":"5m"},
			{"group":"username","tiers":[{"failures":6,"cooloff":"1m"},{"failures":8,"cooloff":"2h"}],"reset_cooloff_on_failure_during_lockout":true}]}`)
		const ip = "198.51.100.1"
		user := func(name string) attempt { return attempt{name, ip, "ua"} }
		h.tryN(user("alice"), wrong, 3)
		v := h.try(user("alice"), right)
		if !locked(v) || v.Refusal.Details["failure_limit"] != int64(3) || v.Refusal.RetryAfter != 5*time.Minute {
			t.Fatalf("alice after 3: %s, want locked by her pair for 5m", describe(v))
		}
		// The refusal counted on alice's pair only.
		if p, a, u := h.failures("ip_address+username", user("alice")), h.failures("ip_address", user("alice")), h.failures("username", user("alice")); p != 4 || a != 3 || u != 3 {
			t.Fatalf("pair %d, address %d, username %d; want 4, 3, 3", p, a, u)
		}
		// Others behind the address go on until its own limit of 10.
		h.tryN(user("bob"), wrong, 3)
		h.tryN(user("carol"), wrong, 3)
		h.tryN(user("dave"), wrong, 1)
		v = h.try(user("erin"), right)
		if !locked(v) || v.Refusal.Details["failure_limit"] != int64(10) || v.Refusal.RetryAfter != time.Hour {
			t.Fatalf("erin behind an address with 10 failures: %s, want locked by the address for 1h", describe(v))
		}
		if _, ok := h.counter("ip_address+username", user("erin")); ok {
			t.Fatal("erin's refusal counted on her pair, which is not locked")
		}
		if got := h.failures("ip_address", user("erin")); got != 11 {
			t.Fatalf("address counter %d after erin's refusal, want 11", got)
		}
		// alice's pair lock ends after 5m; the address's does not.
		h.advance(5 * time.Minute)
		if c, _ := h.counter("ip_address+username", user("alice")); c.Locked {
			t.Fatalf("alice's pair still locked after its 5m: %+v", c)
		}
		if v := h.try(user("alice"), right); !locked(v) || v.Refusal.Details["failure_limit"] != int64(10) {
			t.Fatalf("alice after 5m: %s, want locked by the address", describe(v))
		}
		// The username group has tiers of its own: frank, from many
		// addresses, is locked at 6 for a minute, at 8 for 2 hours.
		for i := range 6 {
			h.tryN(attempt{"frank", fmt.Sprintf("192.0.2.%d", i+1), "ua"}, wrong, 1)
		}
		v = h.try(attempt{"frank", "192.0.2.100", "ua"}, wrong)
		if !locked(v) || v.Refusal.RetryAfter != time.Minute {
			t.Fatalf("frank at 6: %s, want locked for the first tier's minute", describe(v))
		}
		v = h.try(attempt{"frank", "192.0.2.101", "ua"}, wrong)
		if !locked(v) || v.Refusal.RetryAfter != 2*time.Hour || v.Refusal.Details["failure_count"] != int64(8) {
			t.Fatalf("frank at 8: %s, want locked for 2h", describe(v))
		}
		var groups []string
		for _, s := range h.lockouts() {
			groups = append(groups, fmt.Sprintf("%s@%d", s.Group, s.Failures))
		}
		want := "[ip_address+username@3 ip_address+username@3 ip_address+username@3 ip_address@10 username@6 username@8]"
		if fmt.Sprint(groups) != want {
			t.Fatalf("user_locked_out %v, want %s", groups, want)
		}
	})
}

func TestCheckHonoursItsContext(t *testing.T) {
	// A login whose request is gone stops waiting: Check returns the
	// context's error, and nothing is reserved or counted for it.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":1,"cooloff":"10m","max_wait":"3m"}`)
		first := h.mustCheck(alice)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := h.l.Check(ctx, alice.request("gone"))
			done <- err
		}()
		waitForWaiter(t, h)
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Check of a cancelled login returned no error")
			}
		case <-time.After(time.Minute):
			t.Fatal("Check did not return within a minute of its context ending")
		}
		if _, err := end(first, right); err != nil {
			t.Fatal(err)
		}
		h.login(alice)
		if cs := h.counterStrings(); len(cs) != 0 {
			t.Fatalf("counters %v, want none", cs)
		}
	})
}
