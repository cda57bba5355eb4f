package lockout

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestListAttempts(t *testing.T) {
	const params = `"failure_limit":3,"cooloff":"10m","lockout_parameters":["ip_address",["username","ip_address","user_agent"]]`
	tests := []struct {
		name       string
		config     string
		wantLocked bool
	}{
		{"locking", `{` + params + `}`, true},
		{"lock_out_at_failure false: never locked", `{` + params + `,"lock_out_at_failure":false}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			start := h.now()
			if got := h.attempts(); len(got) != 0 {
				t.Fatalf("attempts before any login: %+v", got)
			}
			h.tryN(alice, wrongPassword, 3)
			h.advance(time.Minute)
			bob := attempt{"bob", "198.51.100.4", "curl/8"}
			h.tryN(bob, wrongPassword, 1)
			// A success leaves its counters at zero: they are not listed.
			h.login(attempt{"carol", "203.0.113.5", "x"})
			// Access log entries are no counters. (With locking, alice's
			// login is refused and counted.)
			h.try(alice, rightPassword)
			got := h.attempts()
			want := []Attempt{
				{Group: "ip_address", IPAddress: alice.ip, Failures: 3, ExpiresAt: start.Add(10 * time.Minute), Locked: tt.wantLocked},
				{Group: "ip_address+user_agent+username", Username: "alice", IPAddress: alice.ip, UserAgent: alice.ua, Failures: 3, ExpiresAt: start.Add(10 * time.Minute), Locked: tt.wantLocked},
				{Group: "ip_address", IPAddress: bob.ip, Failures: 1, ExpiresAt: start.Add(11 * time.Minute)},
				{Group: "ip_address+user_agent+username", Username: "bob", IPAddress: bob.ip, UserAgent: bob.ua, Failures: 1, ExpiresAt: start.Add(11 * time.Minute)},
			}
			if tt.wantLocked {
				// alice's login above was refused (and counted).
				want[0].Failures, want[1].Failures = 4, 4
				want[0].ExpiresAt, want[1].ExpiresAt = start.Add(11*time.Minute), start.Add(11*time.Minute)
			} else {
				// Not locked: the login went through and gave its attempt
				// back (the expiry it touched is not compared here).
				for i := range got {
					got[i].ExpiresAt = time.Time{}
				}
				for i := range want {
					want[i].ExpiresAt = time.Time{}
				}
			}
			if len(got) != len(want) {
				t.Fatalf("attempts %+v, want %+v", got, want)
			}
			// Most failures first; equal counts in any order.
			byFailures := func(a, b Attempt) int {
				if a.Failures != b.Failures {
					return int(b.Failures - a.Failures)
				}
				return strings.Compare(a.Group+"/"+a.IPAddress, b.Group+"/"+b.IPAddress)
			}
			slices.SortStableFunc(got, byFailures)
			slices.SortStableFunc(want, byFailures)
			for i := range want {
				g, w := got[i], want[i]
				if !g.ExpiresAt.Equal(w.ExpiresAt) {
					t.Errorf("attempt %d expires %v, want %v", i, g.ExpiresAt, w.ExpiresAt)
				}
				g.ExpiresAt, w.ExpiresAt = time.Time{}, time.Time{}
				if g != w {
					t.Errorf("attempt %d: %+v, want %+v", i, g, w)
				}
			}
			raw := h.attempts()
			for i := 1; i < len(raw); i++ {
				if raw[i].Failures > raw[i-1].Failures {
					t.Fatalf("not sorted by failures: %+v", raw)
				}
			}
		})
	}
}

// resetFixture makes, with one failure each of alice@ip1, alice@ip2 and
// bob@ip1, the counters ip1=2, ip2=1, alice=2, bob=1 and the three pairs.
func resetFixture(t *testing.T, norm string) *harness {
	t.Helper()
	h := newHarness(t, `{"failure_limit":5,"lockout_parameters":["ip_address","username",["username","ip_address"]],"username_normalization":"`+norm+`"}`)
	h.tryN(attempt{"alice", "192.0.2.1", ""}, wrongPassword, 1)
	h.tryN(attempt{"alice", "192.0.2.2", ""}, wrongPassword, 1)
	h.tryN(attempt{"bob", "192.0.2.1", ""}, wrongPassword, 1)
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
	tests := []struct {
		name    string
		norm    string
		filter  Filter
		wantErr error
		removed []string
	}{
		{"--username: every group with that username", "none", Filter{Username: "alice"}, nil, []string{
			"ip_address+username|alice|192.0.2.1|=1", "ip_address+username|alice|192.0.2.2|=1", "username|alice||=2"}},
		{"--ip: every group with that address", "none", Filter{IPAddress: "192.0.2.1"}, nil, []string{
			"ip_address+username|alice|192.0.2.1|=1", "ip_address+username|bob|192.0.2.1|=1", "ip_address||192.0.2.1|=2"}},
		{"--username and --ip: only the pair", "none", Filter{Username: "alice", IPAddress: "192.0.2.1"}, nil, []string{
			"ip_address+username|alice|192.0.2.1|=1"}},
		{"--all", "none", Filter{All: true}, nil, allResetCounters},
		{"--all wins over the others", "none", Filter{All: true, Username: "nobody"}, nil, allResetCounters},
		{"unknown username", "none", Filter{Username: "carol"}, nil, nil},
		{"pair that never logged in", "none", Filter{Username: "bob", IPAddress: "192.0.2.2"}, nil, nil},
		{"names are not normalized without normalization", "none", Filter{Username: "ALICE"}, nil, nil},
		{"names are normalized like logins", "lowercase", Filter{Username: "ALICE"}, nil, []string{
			"ip_address+username|alice|192.0.2.1|=1", "ip_address+username|alice|192.0.2.2|=1", "username|alice||=2"}},
		{"empty filter", "none", Filter{}, ErrEmptyFilter, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := resetFixture(t, tt.norm)
			if got := h.counters(); !slices.Equal(got, allResetCounters) {
				t.Fatalf("fixture counters %v, want %v", got, allResetCounters)
			}
			n, err := Reset(context.Background(), h.host, h.settings(), tt.filter)
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
			if got := h.counters(); !slices.Equal(got, want) {
				t.Fatalf("counters after Reset(%+v): %v, want %v", tt.filter, got, want)
			}
		})
	}
}

func TestResetUnlocks(t *testing.T) {
	h := newHarness(t, `{"failure_limit":2,"lockout_parameters":[["username","ip_address"]]}`)
	h.tryN(alice, wrongPassword, 2)
	if r := h.try(alice, rightPassword); !locked(r) {
		t.Fatalf("%s, want locked (permanently)", describe(r))
	}
	n, err := Reset(context.Background(), h.host, h.settings(), Filter{Username: "alice", IPAddress: alice.ip})
	if err != nil || n != 1 {
		t.Fatalf("Reset = %d, %v, want 1", n, err)
	}
	if r := h.try(alice, rightPassword); !abstained(r) {
		t.Fatalf("after the reset: %s, want let through", describe(r))
	}
}

func TestResetHashedCounters(t *testing.T) {
	long := strings.Repeat("u", 1500)
	h := newHarness(t, `{"failure_limit":5,"lockout_parameters":[["username","ip_address"]]}`)
	h.tryN(attempt{long, "192.0.2.1", ""}, wrongPassword, 1)
	for _, f := range []Filter{{Username: long}, {IPAddress: "192.0.2.1"}, {Username: long, IPAddress: "192.0.2.1"}} {
		if n, err := Reset(context.Background(), h.host, h.settings(), f); err != nil || n != 0 {
			t.Fatalf("Reset(username of %d bytes, ip %q) = %d, %v; a hashed counter's values are unknown, want 0", len(f.Username), f.IPAddress, n, err)
		}
	}
	if n, err := Reset(context.Background(), h.host, h.settings(), Filter{All: true}); err != nil || n != 1 {
		t.Fatalf("Reset(all) = %d, %v, want 1", n, err)
	}
	if got := h.attempts(); len(got) != 0 {
		t.Fatalf("attempts after Reset(all): %+v", got)
	}
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, `{"failure_limit":100,"access_failure_log":true,"lockout_parameters":["username"]}`)
			start := h.now()
			for d := range 3 {
				h.advance(start.Add(time.Duration(d) * day).Sub(h.now()))
				a := attempt{"user" + string(rune('0'+d)), "192.0.2.1", "ua"}
				h.tryN(a, wrongPassword, 1)
				h.login(a)
			}
			h.advance(start.Add(3 * day).Sub(h.now()))
			counters := h.counters()
			n, err := Prune(context.Background(), h.host, tt.age, h.now())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Prune(%v) error %v, want error %v", tt.age, err, tt.wantErr)
			}
			if want := 2 * (3 - len(tt.kept)); n != want {
				t.Errorf("Prune(%v) = %d, want %d", tt.age, n, want)
			}
			var access, failures []string
			for _, r := range h.accessRecords() {
				access = append(access, r.Username)
			}
			for _, r := range h.failureRecords() {
				failures = append(failures, r.Username)
			}
			var want []string
			for _, d := range tt.kept {
				want = append(want, "user"+string(rune('0'+d)))
			}
			if !slices.Equal(access, want) || !slices.Equal(failures, want) {
				t.Fatalf("after Prune(%v): access log %v, failure log %v, want %v in both", tt.age, access, failures, want)
			}
			// Counters are not log records.
			if got := h.counters(); !slices.Equal(got, counters) {
				t.Fatalf("Prune touched counters: %v, was %v", got, counters)
			}
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
				if err == nil || !strings.Contains(err.Error(), tt.in) {
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

// The admin functions take the settings as the command line parses them.
func TestAdminSettingsFromConfig(t *testing.T) {
	s, err := ParseConfig(json.RawMessage(`{"failure_limit":2}`))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, `{"failure_limit":2}`)
	h.tryN(alice, wrongPassword, 2)
	list, err := ListAttempts(context.Background(), h.host, s)
	if err != nil || len(list) != 1 || !list[0].Locked || list[0].Failures != 2 {
		t.Fatalf("ListAttempts = %+v, %v", list, err)
	}
}
