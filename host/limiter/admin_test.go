package limiter

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The admin functions read the real clock; the harness's clock starts at
// the current second and the counters here expire minutes later, so both
// clocks see the same live counters.

func TestList(t *testing.T) {
	const params = `"failure_limit":3,"cooloff":"10m","lockout_parameters":["ip_address",["username","ip_address","user_agent"]]`
	tests := []struct {
		name       string
		config     string
		wantLocked bool
	}{
		{"locking", `{` + params + `}`, true},
		{"lock_out_at_failure false: never locked", `{` + params + `,"lock_out_at_failure":false}`, false},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				h := newHarness(t, db, tt.config)
				start := h.now()
				if got, err := List(ctx, h.store, h.name); err != nil || len(got) != 0 {
					t.Fatalf("List before any login = %+v, %v", got, err)
				}
				h.tryN(alice, wrong, 3)
				h.advance(time.Minute)
				bob := attempt{"bob", "198.51.100.4", "curl/8"}
				h.tryN(bob, wrong, 1)
				// A success leaves no counter, nor does an attempt in flight.
				h.login(attempt{"carol", "203.0.113.5", "x"})
				inFlight := h.mustCheck(attempt{"dave", "203.0.113.6", "y"})
				defer func() { _, _ = end(inFlight, right) }()
				// Access records are no counters. (With locking, alice's
				// login is refused and counted.)
				h.try(alice, right)
				got, err := List(ctx, h.store, h.name)
				if err != nil {
					t.Fatal(err)
				}
				be := h.name
				want := []Counter{
					{Backend: be, Group: "ip_address", IPAddress: alice.ip, Failures: 3, LockAt: 3, ExpiresAt: start.Add(10 * time.Minute), Locked: tt.wantLocked},
					{Backend: be, Group: "ip_address+user_agent+username", Username: "alice", IPAddress: alice.ip, UserAgent: alice.ua, Failures: 3, LockAt: 3, ExpiresAt: start.Add(10 * time.Minute), Locked: tt.wantLocked},
					{Backend: be, Group: "ip_address", IPAddress: bob.ip, Failures: 1, LockAt: 3, ExpiresAt: start.Add(11 * time.Minute)},
					{Backend: be, Group: "ip_address+user_agent+username", Username: "bob", IPAddress: bob.ip, UserAgent: bob.ua, Failures: 1, LockAt: 3, ExpiresAt: start.Add(11 * time.Minute)},
				}
				if tt.wantLocked {
					// alice's login above was refused, and counted.
					want[0].Failures, want[1].Failures = 4, 4
					want[0].ExpiresAt, want[1].ExpiresAt = start.Add(11*time.Minute), start.Add(11*time.Minute)
				} else {
					// Counters that never lock have no lock to show.
					for i := range want {
						want[i].LockAt = 0
					}
				}
				// Most failures first; equal counts in any order.
				for i := 1; i < len(got); i++ {
					if got[i].Failures > got[i-1].Failures {
						t.Fatalf("not sorted by failures: %+v", got)
					}
				}
				byFailures := func(a, b Counter) int {
					if a.Failures != b.Failures {
						return int(b.Failures - a.Failures)
					}
					return strings.Compare(a.Group+"/"+a.IPAddress, b.Group+"/"+b.IPAddress)
				}
				slices.SortStableFunc(got, byFailures)
				slices.SortStableFunc(want, byFailures)
				if len(got) != len(want) {
					t.Fatalf("List = %+v, want %+v", got, want)
				}
				for i := range want {
					g, w := got[i], want[i]
					if !g.ExpiresAt.Equal(w.ExpiresAt) {
						t.Errorf("counter %d expires %v, want %v", i, g.ExpiresAt, w.ExpiresAt)
					}
					g.ExpiresAt, w.ExpiresAt = time.Time{}, time.Time{}
					if g != w {
						t.Errorf("counter %d: %+v, want %+v", i, g, w)
					}
				}
				// Another backend's counters are its own.
				if other, err := List(ctx, h.store, h.name+"-other"); err != nil || len(other) != 0 {
					t.Fatalf("List of another backend = %+v, %v", other, err)
				}
			})
		}
	})
}

// resetFixture makes, with one failure each of alice@ip1, alice@ip2 and
// bob@ip1, the counters ip1=2, ip2=1, alice=2, bob=1 and the three pairs.
func resetFixture(t *testing.T, db *testDB, norm string) *harness {
	t.Helper()
	h := newHarness(t, db, `{"failure_limit":5,"cooloff":"1h","lockout_parameters":["ip_address","username",["username","ip_address"]],"username_normalization":"`+norm+`"}`)
	h.tryN(attempt{"alice", "192.0.2.1", ""}, wrong, 1)
	h.tryN(attempt{"alice", "192.0.2.2", ""}, wrong, 1)
	h.tryN(attempt{"bob", "192.0.2.1", ""}, wrong, 1)
	return h
}

var allResetCounters = []string{
	"ip_address+username|alice|192.0.2.1|=1",
	"ip_address+username|alice|192.0.2.2|=1",
	"ip_address+username|bob|192.0.2.1|=1",
	"ip_address||192.0.2.1|=2",
	"ip_address||192.0.2.2|=1",
	"username|alice||=2",
	"username|bob||=1",
}

func TestReset(t *testing.T) {
	aliceCounters := []string{"ip_address+username|alice|192.0.2.1|=1", "ip_address+username|alice|192.0.2.2|=1", "username|alice||=2"}
	tests := []struct {
		name    string
		norm    string
		filter  Filter
		wantErr error
		removed []string
	}{
		{"--username: every group with that username", "none", Filter{Username: "alice"}, nil, aliceCounters},
		{"--ip: every group with that address", "none", Filter{IPAddress: "192.0.2.1"}, nil, []string{
			"ip_address+username|alice|192.0.2.1|=1", "ip_address+username|bob|192.0.2.1|=1", "ip_address||192.0.2.1|=2"}},
		{"--username and --ip: only the pair", "none", Filter{Username: "alice", IPAddress: "192.0.2.1"}, nil, []string{
			"ip_address+username|alice|192.0.2.1|=1"}},
		{"--all", "none", Filter{All: true}, nil, allResetCounters},
		{"--all wins over the others", "none", Filter{All: true, Username: "nobody"}, nil, allResetCounters},
		{"unknown username", "none", Filter{Username: "carol"}, nil, nil},
		{"pair that never logged in", "none", Filter{Username: "bob", IPAddress: "192.0.2.2"}, nil, nil},
		// The rule is not at hand: a typed name matches as written or as
		// any normalization makes it.
		{"names match as any normalization makes them", "none", Filter{Username: "ALICE"}, nil, aliceCounters},
		{"names are normalized like logins", "lowercase", Filter{Username: "ALICE"}, nil, aliceCounters},
		{"a name no normalization makes", "lowercase", Filter{Username: "alicia"}, nil, nil},
		{"empty filter", "none", Filter{}, ErrEmptyFilter, nil},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := resetFixture(t, db, tt.norm)
				if got := h.counterStrings(); !slices.Equal(got, allResetCounters) {
					t.Fatalf("fixture counters %v, want %v", got, allResetCounters)
				}
				n, err := Reset(context.Background(), h.store, h.name, tt.filter)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Reset(%+v) error %v, want %v", tt.filter, err, tt.wantErr)
				}
				if n != len(tt.removed) {
					t.Errorf("Reset(%+v) = %d, want %d", tt.filter, n, len(tt.removed))
				}
				var want []string
				for _, c := range allResetCounters {
					if !slices.Contains(tt.removed, c) {
						want = append(want, c)
					}
				}
				if got := h.counterStrings(); !slices.Equal(got, want) {
					t.Fatalf("counters after Reset(%+v): %v, want %v", tt.filter, got, want)
				}
			})
		}
	})
}

func TestResetIPv6Prefix(t *testing.T) {
	// An IPv6 client's counter is keyed by its prefix; any of its
	// addresses, or the prefix, names it.
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, typed := range []string{"2001:db8:1:2::99", "2001:db8:1:2::/64", "2001:db8:1:2:0:0:0:0/64"} {
			t.Run(typed, func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":5}`)
				h.tryN(attempt{"u", "2001:db8:1:2::1", ""}, wrong, 1)
				h.tryN(attempt{"u", "2001:db8:1:3::1", ""}, wrong, 1)
				n, err := Reset(context.Background(), h.store, h.name, Filter{IPAddress: typed})
				if err != nil || n != 1 {
					t.Fatalf("Reset(%s) = %d, %v; want 1", typed, n, err)
				}
				if got := h.counterStrings(); !slices.Equal(got, []string{"ip_address||2001:db8:1:3::/64|=1"}) {
					t.Fatalf("counters %v, want only the other /64", got)
				}
			})
		}
	})
}

func TestResetUnlocks(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"lockout_parameters":[["username","ip_address"]]}`)
		h.tryN(alice, wrong, 2)
		if v := h.try(alice, right); !locked(v) {
			t.Fatalf("%s, want locked (permanently)", describe(v))
		}
		n, err := Reset(context.Background(), h.store, h.name, Filter{Username: "alice", IPAddress: alice.ip})
		if err != nil || n != 1 {
			t.Fatalf("Reset = %d, %v, want 1", n, err)
		}
		if v := h.try(alice, right); v.Attempt == nil {
			t.Fatalf("after the reset: %s, want admitted", describe(v))
		}
	})
}

func TestResetHashedCounters(t *testing.T) {
	long := strings.Repeat("u", 1500)
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":5,"lockout_parameters":[["username","ip_address"]]}`)
		h.tryN(attempt{long, "192.0.2.1", ""}, wrong, 1)
		for _, f := range []Filter{{Username: long}, {IPAddress: "192.0.2.1"}, {Username: long, IPAddress: "192.0.2.1"}} {
			if n, err := Reset(context.Background(), h.store, h.name, f); err != nil || n != 0 {
				t.Fatalf("Reset(username of %d bytes, ip %q) = %d, %v; a hashed counter's values are unknown, want 0", len(f.Username), f.IPAddress, n, err)
			}
		}
		if n, err := Reset(context.Background(), h.store, h.name, Filter{All: true}); err != nil || n != 1 {
			t.Fatalf("Reset(all) = %d, %v, want 1", n, err)
		}
		if got := h.counters(); len(got) != 0 {
			t.Fatalf("counters after Reset(all): %+v", got)
		}
	})
}

func TestPrune(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name    string
		age     time.Duration
		wantErr bool
		// records are written at 0, 1 and 2 days, Prune runs at 3 days;
		// kept are the days whose records survive.
		kept []int
	}{
		{"older than 36h", 36 * time.Hour, false, []int{2}},
		{"exactly the age old goes", 2 * day, false, []int{2}},
		{"a millisecond younger stays", 2*day + time.Millisecond, false, []int{1, 2}},
		{"older than 30 days: nothing", 30 * day, false, []int{0, 1, 2}},
		{"1h: everything", time.Hour, false, nil},
		{"zero age", 0, true, []int{0, 1, 2}},
		{"negative age", -time.Hour, true, []int{0, 1, 2}},
	}
	// Prune removes every backend's old records: each case has a database
	// of its own.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachFreshDB(t, func(t *testing.T, db *testDB) {
				h := newHarness(t, db, `{"failure_limit":100,"cooloff":"1h","access_failure_log":true,"lockout_parameters":["username"]}`)
				// Another backend's records go by the same age.
				o := newHarness(t, db, `{"access_failure_log":true}`, func(opt *Options) { opt.Now = h.clock.now })
				start := h.now()
				o.login(alice)
				for d := range 3 {
					h.advance(start.Add(time.Duration(d) * day).Sub(h.now()))
					a := attempt{"user" + string(rune('0'+d)), "192.0.2.1", "ua"}
					h.tryN(a, wrong, 1)
					h.login(a)
				}
				h.advance(start.Add(3 * day).Sub(h.now()))
				counters := h.counterStrings()
				n, err := Prune(context.Background(), h.store, tt.age, h.now())
				if (err != nil) != tt.wantErr {
					t.Fatalf("Prune(%v) error %v, want error %v", tt.age, err, tt.wantErr)
				}
				wantN := int64(2 * (3 - len(tt.kept)))
				otherGone := !tt.wantErr && tt.age < 3*day
				if otherGone {
					wantN++
				}
				if n != wantN {
					t.Errorf("Prune(%v) = %d, want %d", tt.age, n, wantN)
				}
				var access, failures []string
				for _, r := range h.accessRecords(false) {
					access = append(access, r.Username)
				}
				for _, r := range h.accessRecords(true) {
					failures = append(failures, r.Username)
				}
				var want []string
				for _, d := range tt.kept {
					want = append(want, "user"+string(rune('0'+d)))
				}
				if !slices.Equal(access, want) || !slices.Equal(failures, want) {
					t.Fatalf("after Prune(%v): access log %v, failure log %v, want %v in both", tt.age, access, failures, want)
				}
				if got := len(o.accessRecords(false)); (got == 0) != otherGone {
					t.Fatalf("after Prune(%v): %d records of the other backend, want them gone %v", tt.age, got, otherGone)
				}
				// Counters are not log records.
				if got := h.counterStrings(); !slices.Equal(got, counters) {
					t.Fatalf("Prune touched counters: %v, was %v", got, counters)
				}
			})
		})
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{"1d", 24 * time.Hour, false},
		{"12h", 12 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"0d", 0, true},
		{"-1d", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"30", 0, true},
		{"0", 0, true},
		{"0h", 0, true},
		{"-5h", 0, true},
		{"", 0, true},
		{"thirty days", 0, true},
		{"30dd", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAge(tt.in)
			if tt.bad {
				if err == nil || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Fatalf("ParseAge(%q) = %v, %v; want an error naming the input", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAge(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
