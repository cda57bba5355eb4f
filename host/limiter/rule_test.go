package limiter

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

func ipCounter(limit int, cooloff time.Duration) attempts.Counter {
	return attempts.Counter{Fields: []string{attempts.FieldIPAddress}, Tiers: []attempts.Tier{{Failures: limit, Cooloff: cooloff}}}
}

func TestNewRefusesRulesItCannotEnforce(t *testing.T) {
	// Every problem is named at once.
	rule := attempts.Rule{
		UsernameNormalization: "upper",
		IPv6Prefix:            129,
		StatusCode:            401,
		Counters: []attempts.Counter{
			{Fields: nil, Tiers: []attempts.Tier{{Failures: 1}}},
			{Fields: []string{"email"}, Tiers: []attempts.Tier{{Failures: 1}}},
			{Fields: []string{"username", "username"}, Tiers: []attempts.Tier{{Failures: 1}}},
			{Fields: []string{"ip_address"}},
			{Fields: []string{"user_agent"}, Tiers: []attempts.Tier{{Failures: 3, Cooloff: time.Minute}, {Failures: 3, Cooloff: time.Hour}}},
			{Fields: []string{"ip_address", "username"}, Tiers: []attempts.Tier{{Failures: 0, Cooloff: -time.Minute}}},
			{Fields: []string{"username", "ip_address"}, Tiers: []attempts.Tier{{Failures: 2}}},
		},
		SensitiveFields: []string{"password"},
	}
	_, err := New("guard", rule, nil, Options{})
	if err == nil {
		t.Fatal("New accepted a rule with problems")
	}
	for _, want := range []string{
		`"guard"`,
		`unknown username normalization "upper"`,
		"ipv6 prefix 129",
		"status code 401",
		"counter 0 has no fields",
		`counter 1: unknown field "email"`,
		`counter 2: field "username" twice`,
		"counter 3 has no limit",
		"counter 4: tier 1: failures must be positive and ascending",
		"counter 5: tier 0: failures must be positive and ascending",
		"counter 5: tier 0: negative cool-off",
		"counter 6 repeats the group ip_address+username",
		`unknown sensitive field "password"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if _, err := New("guard", attempts.Rule{}, nil, Options{}); err == nil || !strings.Contains(err.Error(), "no counters") {
		t.Errorf("New of an empty rule: %v, want no counters", err)
	}
}

func TestNewDefaults(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		l, err := New("guard", attempts.Rule{Counters: []attempts.Counter{ipCounter(3, time.Minute)}}, db.store, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if l.Name() != "guard" || l.Rule().StatusCode != http.StatusTooManyRequests || l.ipv6Bits != 64 || l.maxWait != defaultMaxWait || l.opts.Lease != time.Minute {
			t.Fatalf("defaults: name %q status %d ipv6 /%d max wait %v lease %v", l.Name(), l.Rule().StatusCode, l.ipv6Bits, l.maxWait, l.opts.Lease)
		}
		// A rule of address lists alone is enforceable: it counts nothing.
		blockOnly := attempts.Rule{BlockIPs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
		h := newRuleHarness(t, db, blockOnly)
		if v := h.try(attempt{"a", "198.51.100.1", ""}, right); v.Refusal == nil || v.Refusal.Reason != ReasonIPBlocked {
			t.Fatalf("blocked address: %s", describe(v))
		}
		if v := h.try(attempt{"a", "192.0.2.1", ""}, wrong); !through(v) || v.Attempt != nil {
			t.Fatalf("other address: %s, want let through uncounted", describe(v))
		}
	})
}

func TestNeverLockRule(t *testing.T) {
	// NeverLock counts and logs, never refuses, and bounds nothing: a
	// burst of attempts in flight is all admitted at once.
	eachDB(t, func(t *testing.T, db *testDB) {
		rule := attempts.Rule{Counters: []attempts.Counter{ipCounter(2, time.Minute)}, NeverLock: true, MaxWait: time.Millisecond}
		h := newRuleHarness(t, db, rule)
		var open []Verdict
		for i := range 5 {
			v := h.mustCheck(alice)
			if v.Attempt == nil {
				t.Fatalf("attempt %d in flight with NeverLock: %s, want admitted", i+1, describe(v))
			}
			open = append(open, v)
		}
		for _, v := range open {
			if _, err := end(v, wrong); err != nil {
				t.Fatal(err)
			}
		}
		if cs := h.counters(); len(cs) != 1 || cs[0].Failures != 5 || cs[0].Locked || cs[0].LockAt != 0 {
			t.Fatalf("counters %+v, want one at 5, never locked", cs)
		}
		if l := h.lockouts(); len(l) != 0 {
			t.Fatalf("user_locked_out %+v with NeverLock", l)
		}
	})
}
