package limiter

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// lockScenario: `before` wrong passwords, then `probe` with the right
// password; is the probe locked out?
type lockScenario struct {
	name       string
	before     []attempt
	probe      attempt
	wantLocked bool
}

func runScenarios(t *testing.T, db *testDB, config string, scenarios []lockScenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t, db, config)
			for _, a := range sc.before {
				h.tryN(a, wrong, 1)
			}
			if v := h.try(sc.probe, right); locked(v) != sc.wantLocked || (!sc.wantLocked && !through(v)) {
				t.Fatalf("probe %+v: %s, want locked %v; counters %v", sc.probe, describe(v), sc.wantLocked, h.counterStrings())
			}
		})
	}
}

func TestLockoutParameters(t *testing.T) {
	const ip1, ip2, ip3 = "192.0.2.1", "192.0.2.2", "192.0.2.3"
	tests := []struct {
		name      string
		params    string
		scenarios []lockScenario
	}{
		{"default: ip_address", ``, []lockScenario{
			{"same address, different users", []attempt{{"a", ip1, "x"}, {"b", ip1, "y"}}, attempt{"c", ip1, "z"}, true},
			{"same user, different addresses", []attempt{{"a", ip1, "x"}, {"a", ip2, "x"}}, attempt{"a", ip3, "x"}, false},
		}},
		{"string group: username", `["username"]`, []lockScenario{
			{"same user, different addresses and agents", []attempt{{"a", ip1, "x"}, {"a", ip2, "y"}}, attempt{"a", ip3, "z"}, true},
			{"same address, different users", []attempt{{"a", ip1, "x"}, {"b", ip1, "x"}}, attempt{"c", ip1, "x"}, false},
		}},
		{"string group: user_agent", `["user_agent"]`, []lockScenario{
			{"same agent", []attempt{{"a", ip1, "x"}, {"b", ip2, "x"}}, attempt{"c", ip3, "x"}, true},
			{"other agent", []attempt{{"a", ip1, "x"}, {"a", ip1, "y"}}, attempt{"a", ip1, "z"}, false},
		}},
		{"list group: AND of username and ip_address", `[["username","ip_address"]]`, []lockScenario{
			{"same pair", []attempt{{"a", ip1, "x"}, {"a", ip1, "y"}}, attempt{"a", ip1, "z"}, true},
			{"same user, other address", []attempt{{"a", ip1, "x"}, {"a", ip1, "x"}}, attempt{"a", ip2, "x"}, false},
			{"same address, other user", []attempt{{"a", ip1, "x"}, {"a", ip1, "x"}}, attempt{"b", ip1, "x"}, false},
			{"spread over addresses", []attempt{{"a", ip1, "x"}, {"a", ip2, "x"}}, attempt{"a", ip1, "x"}, false},
		}},
		{"list group of one field is a string group", `[["ip_address"]]`, []lockScenario{
			{"same address", []attempt{{"a", ip1, "x"}, {"b", ip1, "y"}}, attempt{"c", ip1, "z"}, true},
		}},
		{"three fields", `[["user_agent","username","ip_address"]]`, []lockScenario{
			{"same triple", []attempt{{"a", ip1, "x"}, {"a", ip1, "x"}}, attempt{"a", ip1, "x"}, true},
			{"other agent", []attempt{{"a", ip1, "x"}, {"a", ip1, "x"}}, attempt{"a", ip1, "y"}, false},
		}},
		{"OR of groups: ip_address or username+user_agent", `["ip_address",["username","user_agent"]]`, []lockScenario{
			{"by address", []attempt{{"a", ip1, "x"}, {"b", ip1, "y"}}, attempt{"c", ip1, "z"}, true},
			{"by the pair from rotating addresses", []attempt{{"a", ip1, "x"}, {"a", ip2, "x"}}, attempt{"a", ip3, "x"}, true},
			{"user with rotating agents and addresses", []attempt{{"a", ip1, "x"}, {"a", ip2, "y"}}, attempt{"a", ip3, "z"}, false},
			{"agent with rotating users and addresses", []attempt{{"a", ip1, "x"}, {"b", ip2, "x"}}, attempt{"c", ip3, "x"}, false},
			{"one failure in each group", []attempt{{"a", ip1, "x"}, {"b", ip2, "y"}}, attempt{"b", ip1, "y"}, false},
		}},
		{"duplicate groups count once", `["ip_address","ip_address",["username","ip_address"],["ip_address","username"]]`, []lockScenario{
			// Counted twice per attempt, two failures would make 4 > 2.
			{"two failures are still under the limit", []attempt{{"a", ip1, "x"}}, attempt{"a", ip1, "x"}, false},
			{"the limit still locks", []attempt{{"a", ip1, "x"}, {"a", ip1, "x"}}, attempt{"a", ip1, "x"}, true},
		}},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// A group without ip_address needs a cool-off.
				config := `{"failure_limit":2,"cooloff":"1h"}`
				if tt.params != "" {
					config = `{"failure_limit":2,"cooloff":"1h","lockout_parameters":` + tt.params + `}`
				}
				runScenarios(t, db, config, tt.scenarios)
			})
		}
	})
}

func TestDuplicateGroupsCountedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":5,"lockout_parameters":["ip_address","ip_address",["username","ip_address"],["ip_address","username"]]}`)
		h.tryN(alice, wrong, 3)
		want := []string{"ip_address+username|alice|192.0.2.1|=3", "ip_address||192.0.2.1|=3"}
		if got := h.counterStrings(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("counters %v, want %v", got, want)
		}
	})
}

func TestEmptyUsernameSkipsUsernameGroups(t *testing.T) {
	anon := attempt{"", "192.0.2.50", "ua"}
	tests := []struct {
		name       string
		params     string
		wantLocked bool
		want       []string
	}{
		{"only a username group: never counted", `["username"]`, false, nil},
		{"only a pair group: never counted", `[["username","ip_address"]]`, false, nil},
		{"address or pair: counted by address only, not as a pair with an empty name", `["ip_address",["username","ip_address"]]`, true,
			[]string{"ip_address||192.0.2.50|=3"}},
		{"user agent or username", `["user_agent","username"]`, true, []string{"user_agent|||ua=3"}},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1h","reset_cooloff_on_failure_during_lockout":true,"lockout_parameters":`+tt.params+`}`)
				h.tryN(anon, wrong, 2)
				v := h.try(anon, wrong)
				if locked(v) != tt.wantLocked || (!tt.wantLocked && !through(v)) {
					t.Fatalf("third attempt without a username: %s, want locked %v", describe(v), tt.wantLocked)
				}
				if got := h.counterStrings(); strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Fatalf("counters %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestIPLists(t *testing.T) {
	tests := []struct {
		name   string
		config string
		ip     string
		// want 0: let through and never counted; 403: ip_blocked; -1:
		// counted as usual (locked at the 2nd attempt).
		want int
	}{
		{"allowed address", `{"allow_ips":["192.0.2.7"]}`, "192.0.2.7", 0},
		{"allowed CIDR", `{"allow_ips":["192.0.2.0/24"]}`, "192.0.2.200", 0},
		{"address outside the allowed CIDR", `{"allow_ips":["192.0.2.0/24"]}`, "192.0.3.1", -1},
		{"allowed IPv6 CIDR", `{"allow_ips":["2001:db8::/32"]}`, "2001:db8:1::7", 0},
		{"allowed IPv6 CIDR, address outside", `{"allow_ips":["2001:db8::/32"]}`, "2001:db9::7", -1},
		{"unmasked CIDR", `{"allow_ips":["192.0.2.77/24"]}`, "192.0.2.1", 0},
		{"IPv4-mapped client, IPv4 entry", `{"allow_ips":["192.0.2.7"]}`, "::ffff:192.0.2.7", 0},
		{"IPv4 client, IPv4-mapped entry", `{"allow_ips":["::ffff:192.0.2.7"]}`, "192.0.2.7", 0},
		{"IPv4-mapped client, IPv4 CIDR", `{"allow_ips":["192.0.2.0/24"]}`, "::ffff:192.0.2.9", 0},
		{"blocked address", `{"block_ips":["198.51.100.7"]}`, "198.51.100.7", 403},
		{"blocked CIDR", `{"block_ips":["198.51.100.0/24"]}`, "198.51.100.99", 403},
		{"address outside the blocked CIDR", `{"block_ips":["198.51.100.0/24"]}`, "198.51.101.1", -1},
		{"blocked IPv6", `{"block_ips":["2001:db8::/48"]}`, "2001:db8::1", 403},
		{"blocked IPv6 with a zone", `{"block_ips":["fe80::/10"]}`, "fe80::1%eth0", 403},
		{"allowed IPv6 with a zone", `{"allow_ips":["fe80::/10"]}`, "fe80::1%eth0", 0},
		{"IPv4-mapped client, blocked IPv4", `{"block_ips":["198.51.100.7"]}`, "::ffff:198.51.100.7", 403},
		{"block wins over allow: address", `{"allow_ips":["198.51.100.7"],"block_ips":["198.51.100.7"]}`, "198.51.100.7", 403},
		{"block wins over allow: CIDRs", `{"allow_ips":["198.51.100.0/24"],"block_ips":["198.51.100.0/28"]}`, "198.51.100.3", 403},
		{"allowed next to a blocked block", `{"allow_ips":["198.51.100.0/24"],"block_ips":["198.51.100.0/28"]}`, "198.51.100.99", 0},
		{"only_allowed_ips: allowed", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"]}`, "10.1.2.3", 0},
		{"only_allowed_ips: other address", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"]}`, "192.0.2.1", 403},
		{"only_allowed_ips: IPv6 other address", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"]}`, "2001:db8::1", 403},
		{"only_allowed_ips: no address", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"]}`, "", 403},
		{"only_allowed_ips: unparsable address", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"]}`, "not-an-ip", 403},
		{"only_allowed_ips with an empty list refuses all", `{"only_allowed_ips":true}`, "10.1.2.3", 403},
		{"only_allowed_ips: blocked inside the allowed", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"],"block_ips":["10.0.0.1"]}`, "10.0.0.1", 403},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, strings.Replace(tt.config, "{", `{"failure_limit":1,`, 1))
				a := attempt{"alice", tt.ip, "ua"}
				switch tt.want {
				case 0:
					for i := range 20 {
						if v := h.try(a, wrong); !through(v) || v.Attempt != nil {
							t.Fatalf("attempt %d from an allowed address: %s, want let through uncounted", i+1, describe(v))
						}
					}
					if c := h.counters(); len(c) != 0 {
						t.Fatalf("an allowed address was counted: %v", h.counterStrings())
					}
					if l := h.lockouts(); len(l) != 0 {
						t.Fatalf("user_locked_out for an allowed address: %+v", l)
					}
				case 403:
					// Refused even with the right password, and not counted.
					for range 3 {
						v := h.try(a, right)
						r := v.Refusal
						if r == nil || r.Reason != ReasonIPBlocked || r.Status != http.StatusForbidden || r.Description == "" || v.Attempt != nil {
							t.Fatalf("%s, want refused ip_blocked with 403", describe(v))
						}
					}
					if c := h.counters(); len(c) != 0 {
						t.Fatalf("a blocked address was counted: %v", h.counterStrings())
					}
				default:
					h.tryN(a, wrong, 1)
					if v := h.try(a, right); !locked(v) {
						t.Fatalf("%s, want an ordinary lockout", describe(v))
					}
				}
			})
		}
	})
}

func TestIPv4MappedCIDRInLists(t *testing.T) {
	// An IPv4-mapped CIDR in the configuration matches IPv4 clients, mapped
	// or not, as the host does for trusted_proxies.
	tests := []struct {
		name   string
		config string
		ip     string
		want   string
	}{
		{"block_ips", `{"block_ips":["::ffff:198.51.100.0/120"]}`, "198.51.100.7", ReasonIPBlocked},
		{"block_ips, mapped client", `{"block_ips":["::ffff:198.51.100.0/120"]}`, "::ffff:198.51.100.7", ReasonIPBlocked},
		{"allow_ips with only_allowed_ips", `{"only_allowed_ips":true,"allow_ips":["::ffff:10.0.0.0/104"]}`, "10.1.2.3", ""},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				v := h.try(attempt{"alice", tt.ip, "ua"}, right)
				reason := ""
				if v.Refusal != nil {
					reason = v.Refusal.Reason
				}
				if reason != tt.want || v.Busy {
					t.Fatalf("%s, want reason %q", describe(v), tt.want)
				}
			})
		}
	})
}

func TestAllowedAddressDoesNotTouchOtherCounters(t *testing.T) {
	// An allowed address neither counts nor locks, even for a username
	// group; the same user elsewhere is counted as usual.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1h","reset_cooloff_on_failure_during_lockout":true,"lockout_parameters":["username"],"allow_ips":["10.0.0.0/8"]}`)
		inside := attempt{"bob", "10.0.0.5", "ua"}
		outside := attempt{"bob", "192.0.2.5", "ua"}
		h.tryN(outside, wrong, 2)
		if v := h.try(outside, right); !locked(v) {
			t.Fatalf("outside: %s, want locked", describe(v))
		}
		// bob is locked by username, but not from the allowed network.
		h.tryN(inside, right, 1)
		h.tryN(inside, wrong, 5)
		if got := h.failures("username", outside); got != 3 {
			t.Fatalf("username counter %d, want 3 (2 failures and the refused attempt)", got)
		}
	})
}

func TestUsernameNormalization(t *testing.T) {
	const ip = "192.0.2.1"
	variants := func(names ...string) []attempt {
		var out []attempt
		for i, n := range names {
			// Different addresses: only the username group can lock.
			out = append(out, attempt{n, "192.0.2." + string(rune('1'+i)), "ua"})
		}
		return out
	}
	tests := []struct {
		name      string
		norm      string
		scenarios []lockScenario
	}{
		{"none (default)", ``, []lockScenario{
			{"Bob, BOB then bob", variants("Bob", "BOB"), attempt{"bob", ip, "ua"}, false},
			{"bob, bob then bob", variants("bob", "bob"), attempt{"bob", ip, "ua"}, true},
		}},
		{"none", `"none"`, []lockScenario{
			{"Bob, BOB then bob", variants("Bob", "BOB"), attempt{"bob", ip, "ua"}, false},
		}},
		{"lowercase", `"lowercase"`, []lockScenario{
			{"Bob, BOB then bob", variants("Bob", "BOB"), attempt{"bob", ip, "ua"}, true},
			{"Bob, ｂｏｂ then bob: full-width is another name", variants("Bob", "ｂｏｂ"), attempt{"bob", ip, "ua"}, false},
		}},
		{"casefold", `"casefold"`, []lockScenario{
			{"Bob, BOB then bob", variants("Bob", "BOB"), attempt{"bob", ip, "ua"}, true},
			{"Bob, ｂｏｂ then BOB", variants("Bob", "ｂｏｂ"), attempt{"BOB", ip, "ua"}, true},
			{"ＢＯＢ, bob then Bob", variants("ＢＯＢ", "bob"), attempt{"Bob", ip, "ua"}, true},
			{"Bob, BOB then bobby", variants("Bob", "BOB"), attempt{"bobby", ip, "ua"}, false},
		}},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				config := `{"failure_limit":2,"cooloff":"1h","lockout_parameters":["username"]}`
				if tt.norm != "" {
					config = `{"failure_limit":2,"cooloff":"1h","lockout_parameters":["username"],"username_normalization":` + tt.norm + `}`
				}
				runScenarios(t, db, config, tt.scenarios)
			})
		}
	})
}

func TestUsernameNormalizationInAnswersAndCounters(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":3,"cooloff":"1h","lockout_parameters":["username"],"username_normalization":"casefold"}`)
		for _, n := range []string{"Bob", "BOB", "ｂｏｂ"} {
			h.tryN(attempt{n, "192.0.2.1", "ua"}, wrong, 1)
		}
		if got := h.counterStrings(); len(got) != 1 || got[0] != "username|bob||=3" {
			t.Fatalf("counters %v, want one for bob at 3", got)
		}
		if l := h.lockouts(); len(l) != 1 || l[0].Username != "bob" {
			t.Fatalf("user_locked_out %+v, want one for bob", l)
		}
		v := h.try(attempt{"BoB", "192.0.2.9", "ua"}, right)
		if !locked(v) || v.Refusal.Details["username"] != "bob" {
			t.Fatalf("%s, want locked with username bob", describe(v))
		}
	})
}

func TestIPv6Prefix(t *testing.T) {
	// An IPv6 client is counted by its prefix (a /64 by default): one
	// host's many addresses are one client.
	tests := []struct {
		name       string
		prefix     string // the ipv6_prefix setting, "" for none
		before     []string
		probe      string
		wantLocked bool
		wantKey    string
	}{
		{"/64 by default: one client", "", []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"}, "2001:db8:1:2::77", true, "2001:db8:1:2::/64"},
		{"/64 by default: the next /64 is another", "", []string{"2001:db8:1:2::1", "2001:db8:1:2::2"}, "2001:db8:1:3::1", false, "2001:db8:1:2::/64"},
		{"/48: the next /64 is the same client", "48", []string{"2001:db8:1:2::1", "2001:db8:1:3::1"}, "2001:db8:1:ffff::1", true, "2001:db8:1::/48"},
		{"/128: every address on its own", "128", []string{"2001:db8::1", "2001:db8::1"}, "2001:db8::2", false, "2001:db8::1"},
		{"/128: the same address", "128", []string{"2001:db8::1", "2001:db8::1"}, "2001:db8::1", true, "2001:db8::1"},
		{"IPv4 whole whatever the prefix", "32", []string{"192.0.2.1", "192.0.2.1"}, "192.0.2.2", false, "192.0.2.1"},
		{"IPv4-mapped is IPv4", "", []string{"::ffff:192.0.2.1", "192.0.2.1"}, "::ffff:192.0.2.1", true, "192.0.2.1"},
		{"a zone is no other client", "", []string{"fe80::1%eth0", "fe80::2%eth1"}, "fe80::3", true, "fe80::/64"},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				config := `{"failure_limit":2}`
				if tt.prefix != "" {
					config = `{"failure_limit":2,"ipv6_prefix":` + tt.prefix + `}`
				}
				h := newHarness(t, db, config)
				for _, ip := range tt.before {
					h.tryN(attempt{"u", ip, "ua"}, wrong, 1)
				}
				cs := h.counters()
				if len(cs) == 0 || cs[0].IPAddress != tt.wantKey {
					t.Fatalf("counters %v, want the first keyed %q", h.counterStrings(), tt.wantKey)
				}
				if v := h.try(attempt{"u", tt.probe, "ua"}, right); locked(v) != tt.wantLocked {
					t.Fatalf("probe from %s: %s, want locked %v; counters %v", tt.probe, describe(v), tt.wantLocked, h.counterStrings())
				}
			})
		}
	})
}

func TestKeyEncodingHasNoCollisions(t *testing.T) {
	tests := []struct {
		name   string
		params string
		a, b   attempt
	}{
		{"(ab,c) vs (a,bc)", `[["username","user_agent"]]`, attempt{"ab", "192.0.2.1", "c"}, attempt{"a", "192.0.2.1", "bc"}},
		{"| inside a value", `[["username","user_agent"]]`, attempt{"a|b", "192.0.2.1", "c"}, attempt{"a", "192.0.2.1", "b|c"}},
		{"escaped | written out", `[["username","user_agent"]]`, attempt{"a%7Cb", "192.0.2.1", "c"}, attempt{"a|b", "192.0.2.1", "c"}},
		{"escaped % written out", `["username"]`, attempt{"a%25", "192.0.2.1", "c"}, attempt{"a%", "192.0.2.1", "c"}},
		{"trailing |", `[["username","user_agent"]]`, attempt{"a|", "192.0.2.1", ""}, attempt{"a", "192.0.2.1", "|"}},
		{"username holds a group separator", `[["username","ip_address"]]`, attempt{"x|192.0.2.1", "192.0.2.1", ""}, attempt{"x", "192.0.2.1|192.0.2.1", ""}},
		{"empty agent vs none", `[["username","user_agent"]]`, attempt{"a", "192.0.2.1", ""}, attempt{"a|", "192.0.2.1", ""}},
		{"a + in a value is no field separator", `[["username","user_agent"]]`, attempt{"a+b", "192.0.2.1", "c"}, attempt{"a", "192.0.2.1", "b+c"}},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1h","reset_cooloff_on_failure_during_lockout":true,"lockout_parameters":`+tt.params+`}`)
				h.tryN(tt.a, wrong, 2)
				if v := h.try(tt.b, right); !through(v) {
					t.Fatalf("%+v is locked by the failures of %+v: %s; counters %v", tt.b, tt.a, describe(v), h.counterStrings())
				}
				if v := h.try(tt.a, right); !locked(v) {
					t.Fatalf("%+v itself is not locked: %s", tt.a, describe(v))
				}
				// The values read back are the ones written.
				g := h.l.groups[0].name()
				c, ok := h.counter(g, tt.a)
				if !ok || c.Failures != 3 || c.Hashed {
					t.Fatalf("counter of %+v: %+v (found %v), want 3 failures with its values; counters %v", tt.a, c, ok, h.counterStrings())
				}
			})
		}
	})
}

func TestLongValuesAreHashed(t *testing.T) {
	long := strings.Repeat("n", 2000)
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1h","reset_cooloff_on_failure_during_lockout":true,"lockout_parameters":["username"]}`)
		a := attempt{long, "192.0.2.1", "ua"}
		other := attempt{long + "x", "192.0.2.1", "ua"}
		h.tryN(a, wrong, 2)
		if v := h.try(other, right); !through(v) {
			t.Fatalf("another long name shares the counter: %s", describe(v))
		}
		if v := h.try(a, right); !locked(v) {
			t.Fatalf("a long name is not locked: %s", describe(v))
		}
		list := h.counters()
		if len(list) != 1 || !list[0].Hashed || list[0].Failures != 3 || list[0].Group != "username" || list[0].Username != "" {
			t.Fatalf("counters %+v, want one hashed username counter at 3", list)
		}
		states, err := h.l.store.Counters(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range states {
			if len(st.Key) > maxKeyBytes {
				t.Fatalf("key of %d bytes stored", len(st.Key))
			}
		}
	})
}

func TestUserAgentCutTo255Bytes(t *testing.T) {
	base := strings.Repeat("A", 255)
	tests := []struct {
		name   string
		a, b   string
		same   bool
		wantUA string
	}{
		{"differ after 255 bytes", base + "one", base + "two", true, base},
		{"differ at byte 255", base[:254] + "X", base[:254] + "Y", false, base[:254] + "X"},
		{"exactly 255", base, base + "tail", true, base},
		// 127 two-byte characters are 254 bytes; the 128th would cross 255.
		{"not inside a character", strings.Repeat("é", 200), strings.Repeat("é", 127) + "zzz", false, strings.Repeat("é", 127)},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1h","lockout_parameters":["user_agent"]}`)
				h.tryN(attempt{"u", "192.0.2.1", tt.a}, wrong, 2)
				v := h.try(attempt{"v", "192.0.2.2", tt.b}, right)
				if locked(v) != tt.same {
					t.Fatalf("second agent: %s, want locked %v; counters %d", describe(v), tt.same, len(h.counters()))
				}
				var found bool
				for _, c := range h.counters() {
					if !utf8.ValidString(c.UserAgent) || len(c.UserAgent) > 255 {
						t.Fatalf("stored agent of %d bytes, valid UTF-8 %v", len(c.UserAgent), utf8.ValidString(c.UserAgent))
					}
					found = found || c.UserAgent == tt.wantUA
				}
				if !found {
					t.Fatalf("no counter with the agent cut to %d bytes", len(tt.wantUA))
				}
			})
		}
	})
}
