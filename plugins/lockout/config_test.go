package lockout

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// problemPaths returns the paths of a *sdk.ConfigError, sorted.
func problemPaths(t *testing.T, err error) []string {
	t.Helper()
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a *sdk.ConfigError", err, err)
	}
	if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("errors.Is(%v, ErrInvalidArgument) is false", err)
	}
	var paths []string
	for _, p := range ce.Problems {
		if p.Message == "" {
			t.Errorf("problem at %q has no message", p.Path)
		}
		paths = append(paths, p.Path)
	}
	slices.Sort(paths)
	return paths
}

func parse(t *testing.T, raw string) *Settings {
	t.Helper()
	s, err := ParseConfig(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", raw, err)
	}
	return s
}

// ipGroup is the default group with limit and cool-off.
func ipGroup(limit int, cooloff time.Duration) attempts.Counter {
	return attempts.Counter{Fields: []string{FieldIPAddress}, Tiers: []attempts.Tier{{Failures: limit, Cooloff: cooloff}}, CountWhileLocked: true}
}

// defaultRule is the rule of an empty configuration: django-axes's
// defaults.
func defaultRule() attempts.Rule {
	return attempts.Rule{
		Counters:              []attempts.Counter{ipGroup(3, 0)},
		UsernameNormalization: attempts.NormalizeNone,
		IPv6Prefix:            64,
		StatusCode:            429,
		AccessLog:             true,
		FailureLogPerUser:     1000,
		SensitiveFields:       []string{FieldUsername, FieldIPAddress},
	}
}

func TestParseConfigDefaults(t *testing.T) {
	for _, raw := range []string{``, `{}`, ` { } `} {
		t.Run(raw, func(t *testing.T) {
			s := parse(t, raw)
			if want := defaultRule(); !reflect.DeepEqual(s.Rule, want) {
				t.Errorf("rule\n got %+v\nwant %+v", s.Rule, want)
			}
			if len(s.Warnings) != 0 {
				t.Errorf("warnings for the default configuration: %q", s.Warnings)
			}
		})
	}
}

func TestParseConfigSettings(t *testing.T) {
	s := parse(t, `{
		"failure_limit": 7, "cooloff": "1h30m",
		"lockout_parameters": ["user_agent", ["username", "ip_address"]],
		"reset_on_success": true, "lock_out_at_failure": true,
		"reset_cooloff_on_failure_during_lockout": false,
		"allow_ips": ["10.0.0.0/8", "::ffff:192.0.2.1", "::ffff:198.51.100.0/120"], "block_ips": ["2001:db8::/32", "2001:db8:1::1"],
		"only_allowed_ips": true, "ipv6_prefix": 56,
		"username_normalization": "lowercase", "status_code": 403,
		"access_log": false, "access_failure_log": true, "access_failure_log_per_user_limit": 20,
		"sensitive_parameters": ["user_agent"], "max_wait": "2s"
	}`)
	tiers := []attempts.Tier{{Failures: 7, Cooloff: 90 * time.Minute}}
	want := attempts.Rule{
		Counters: []attempts.Counter{
			{Fields: []string{FieldUserAgent}, Tiers: tiers, ResetOnSuccess: true},
			{Fields: []string{FieldIPAddress, FieldUsername}, Tiers: tiers, ResetOnSuccess: true},
		},
		UsernameNormalization: attempts.NormalizeLowercase,
		IPv6Prefix:            56,
		AllowIPs:              []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("198.51.100.0/24")},
		BlockIPs:              []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("2001:db8:1::1/128")},
		OnlyAllowedIPs:        true,
		StatusCode:            403,
		FailureLog:            true,
		FailureLogPerUser:     20,
		SensitiveFields:       []string{FieldUserAgent},
		MaxWait:               2 * time.Second,
	}
	if !reflect.DeepEqual(s.Rule, want) {
		t.Errorf("rule\n got %+v\nwant %+v", s.Rule, want)
	}
	// An empty list masks nothing; other normalizations.
	for raw, check := range map[string]func(r attempts.Rule) bool{
		`{"sensitive_parameters":[]}`:             func(r attempts.Rule) bool { return r.SensitiveFields != nil && len(r.SensitiveFields) == 0 },
		`{"username_normalization":"none"}`:       func(r attempts.Rule) bool { return r.UsernameNormalization == attempts.NormalizeNone },
		`{"username_normalization":"casefold"}`:   func(r attempts.Rule) bool { return r.UsernameNormalization == attempts.NormalizeCasefold },
		`{"lock_out_at_failure":false}`:           func(r attempts.Rule) bool { return r.NeverLock },
		`{"access_log":true,"status_code":429}`:   func(r attempts.Rule) bool { return r.AccessLog && r.StatusCode == 429 },
		`{"ipv6_prefix":128,"max_wait":"5m"}`:     func(r attempts.Rule) bool { return r.IPv6Prefix == 128 && r.MaxWait == 5*time.Minute },
		`{"cooloff":"0s","failure_limit":1}`:      func(r attempts.Rule) bool { return reflect.DeepEqual(r.Counters, []attempts.Counter{ipGroup(1, 0)}) },
		`{"lockout_parameters":[["ip_address"]]}`: func(r attempts.Rule) bool { return reflect.DeepEqual(r.Counters, []attempts.Counter{ipGroup(3, 0)}) },
		`{"allow_ips":["::ffff:10.0.0.0/104"]}`:   func(r attempts.Rule) bool { return r.AllowIPs[0] == netip.MustParsePrefix("10.0.0.0/8") },
		`{"block_ips":["192.0.2.77/24"]}`:         func(r attempts.Rule) bool { return r.BlockIPs[0] == netip.MustParsePrefix("192.0.2.0/24") },
		`{"lockout_parameters":["username"],"cooloff":"1m"}`: func(r attempts.Rule) bool {
			return reflect.DeepEqual(r.Counters, []attempts.Counter{{Fields: []string{FieldUsername}, Tiers: []attempts.Tier{{Failures: 3, Cooloff: time.Minute}}}})
		},
	} {
		if r := parse(t, raw).Rule; !check(r) {
			t.Errorf("ParseConfig(%s): rule %+v", raw, r)
		}
	}
}

func TestParseConfigTiers(t *testing.T) {
	s := parse(t, `{"tiers":[{"failures":10,"cooloff":"1h"},{"failures":3,"cooloff":"1m"},{"failures":5,"cooloff":"10m"}]}`)
	want := []attempts.Tier{{Failures: 3, Cooloff: time.Minute}, {Failures: 5, Cooloff: 10 * time.Minute}, {Failures: 10, Cooloff: time.Hour}}
	if len(s.Rule.Counters) != 1 || !slices.Equal(s.Rule.Counters[0].Tiers, want) {
		t.Fatalf("counters %+v, want one with tiers %v", s.Rule.Counters, want)
	}
	if got := s.Rule.Counters[0].Limit(); got != 3 {
		t.Errorf("limit %d, want the lowest tier's 3", got)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings %q", s.Warnings)
	}
}

func TestParseConfigGroupFlags(t *testing.T) {
	// reset_on_success and reset_cooloff_on_failure_during_lockout: a
	// group's own, else the top level's, else (for the second) true for a
	// group with ip_address and false for one without.
	s := parse(t, `{"cooloff":"15m","reset_on_success":true,"lockout_parameters":[
		["username","ip_address"],
		{"group":"ip_address","reset_on_success":false},
		{"group":"username","reset_cooloff_on_failure_during_lockout":true}
	]}`)
	type flags struct{ reset, count bool }
	var got []flags
	for _, c := range s.Rule.Counters {
		got = append(got, flags{c.ResetOnSuccess, c.CountWhileLocked})
	}
	if want := []flags{{true, true}, {false, true}, {true, true}}; !slices.Equal(got, want) {
		t.Errorf("flags %v, want %v", got, want)
	}
	s = parse(t, `{"cooloff":"15m","reset_cooloff_on_failure_during_lockout":false,"lockout_parameters":[["username","ip_address"],"username"]}`)
	for _, c := range s.Rule.Counters {
		if c.CountWhileLocked {
			t.Errorf("group %v counts refusals although the top level says not to", c.Fields)
		}
	}
}

func TestParseConfigGroupsWithLimitsOfTheirOwn(t *testing.T) {
	// A group written as an object has its own failure_limit, cooloff or
	// tiers; what it does not set comes from the top level.
	s := parse(t, `{"failure_limit":5,"cooloff":"30m","lockout_parameters":[
		"ip_address",
		{"group":["username","ip_address"],"failure_limit":3},
		{"group":"username","cooloff":"2h"},
		{"group":["user_agent","ip_address"],"tiers":[{"failures":20,"cooloff":"1h"},{"failures":10,"cooloff":"5m"}]},
		{"group":["user_agent"],"failure_limit":50,"cooloff":"1m"}
	]}`)
	want := []attempts.Counter{
		// A refusal while locked extends the lock of a group with
		// ip_address, not of one without.
		{Fields: []string{FieldIPAddress}, Tiers: []attempts.Tier{{Failures: 5, Cooloff: 30 * time.Minute}}, CountWhileLocked: true},
		{Fields: []string{FieldIPAddress, FieldUsername}, Tiers: []attempts.Tier{{Failures: 3, Cooloff: 30 * time.Minute}}, CountWhileLocked: true},
		{Fields: []string{FieldUsername}, Tiers: []attempts.Tier{{Failures: 5, Cooloff: 2 * time.Hour}}},
		{Fields: []string{FieldIPAddress, FieldUserAgent}, Tiers: []attempts.Tier{{Failures: 10, Cooloff: 5 * time.Minute}, {Failures: 20, Cooloff: time.Hour}}, CountWhileLocked: true},
		{Fields: []string{FieldUserAgent}, Tiers: []attempts.Tier{{Failures: 50, Cooloff: time.Minute}}},
	}
	if !reflect.DeepEqual(s.Rule.Counters, want) {
		t.Fatalf("counters\n got %+v\nwant %+v", s.Rule.Counters, want)
	}
	// An object without limits of its own is the plain group.
	s = parse(t, `{"failure_limit":4,"lockout_parameters":[{"group":["ip_address"]}]}`)
	if want := []attempts.Counter{ipGroup(4, 0)}; !reflect.DeepEqual(s.Rule.Counters, want) {
		t.Fatalf("counters %+v, want %+v", s.Rule.Counters, want)
	}
	// A group's own tiers replace the top level's.
	s = parse(t, `{"tiers":[{"failures":3,"cooloff":"1m"}],"lockout_parameters":[{"group":"ip_address","failure_limit":9,"cooloff":"9m"}]}`)
	if want := []attempts.Counter{ipGroup(9, 9*time.Minute)}; !reflect.DeepEqual(s.Rule.Counters, want) {
		t.Fatalf("counters %+v, want %+v", s.Rule.Counters, want)
	}
}

func TestParseConfigGroupWithoutAddressNeedsACooloff(t *testing.T) {
	// A group without ip_address whose lock never ends would let anyone,
	// from anywhere, lock its clients out for good.
	tests := []struct {
		name string
		raw  string
		want []string // problem paths; none: valid
	}{
		{"username, permanent", `{"lockout_parameters":["username"]}`, []string{"lockout_parameters[0]"}},
		{"username, cool-off 0", `{"cooloff":"0s","lockout_parameters":["ip_address","username"]}`, []string{"lockout_parameters[1]"}},
		{"user agent and username, permanent", `{"lockout_parameters":[["user_agent","username"]]}`, []string{"lockout_parameters[0]"}},
		{"object without a cool-off", `{"lockout_parameters":[{"group":"username","failure_limit":5}]}`, []string{"lockout_parameters[0]"}},
		{"object with cool-off 0", `{"cooloff":"1h","lockout_parameters":[{"group":"username","cooloff":"0"}]}`, []string{"lockout_parameters[0]"}},
		{"several", `{"lockout_parameters":["username","user_agent","ip_address"]}`, []string{"lockout_parameters[0]", "lockout_parameters[1]"}},
		{"with a cool-off", `{"cooloff":"1m","lockout_parameters":["username"]}`, nil},
		{"object with its own cool-off", `{"lockout_parameters":["ip_address",{"group":"username","cooloff":"10m"}]}`, nil},
		{"object inherits the cool-off", `{"cooloff":"10m","lockout_parameters":[{"group":"username","failure_limit":5}]}`, nil},
		{"tiers always have a cool-off", `{"tiers":[{"failures":3,"cooloff":"1m"}],"lockout_parameters":["username"]}`, nil},
		{"with ip_address, permanent is allowed", `{"lockout_parameters":[["username","ip_address"]]}`, nil},
		{"never locking needs none", `{"lock_out_at_failure":false,"lockout_parameters":["username"]}`, nil},
		// A cool-off already reported as wrong is not reported again as
		// missing.
		{"a top-level cool-off that does not parse", `{"cooloff":"soon","lockout_parameters":["username"]}`, []string{"cooloff"}},
		{"a group's cool-off that does not parse", `{"lockout_parameters":[{"group":"username","cooloff":"soon"}]}`, []string{"lockout_parameters[0].cooloff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseConfig(json.RawMessage(tt.raw))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParseConfig(%s): %v", tt.raw, err)
				}
				return
			}
			if got := problemPaths(t, err); !slices.Equal(got, tt.want) {
				t.Fatalf("ParseConfig(%s) = %+v, %v; want problems at %q", tt.raw, s, err, tt.want)
			}
			if !strings.Contains(err.Error(), "cooloff") {
				t.Errorf("error does not say to give it a cooloff: %v", err)
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	raw := `{
		"failure_limit": -1,
		"cooloff": "soon",
		"lockout_parameters": [["username", "password"], [], "ip", ["ip_address", "ip_address"], 7, ["ip_address"], {"group":"username","failure_limit":-2,"tiers":[{"failures":1,"cooloff":"x"}]}, {"failure_limit":3}],
		"tiers": [{"failures": 0, "cooloff": "x"}, {"failures": 2, "cooloff": "-1m"}, {"failures": 2, "cooloff": "1m"}],
		"allow_ips": ["10.0.0.0/8", "nope"],
		"block_ips": ["1.2.3.4/99"],
		"username_normalization": "upper",
		"status_code": 401,
		"ipv6_prefix": 16,
		"max_wait": "forever",
		"access_failure_log_per_user_limit": -1,
		"sensitive_parameters": ["username", "password"]
	}`
	_, err := ParseConfig(json.RawMessage(raw))
	want := []string{
		"access_failure_log_per_user_limit",
		"allow_ips",
		"block_ips",
		"lockout_parameters[0][1]",
		"lockout_parameters[1]",
		"lockout_parameters[2][0]",
		"lockout_parameters[3][1]",
		"lockout_parameters[4]",
		"lockout_parameters[6].tiers[0].cooloff",
		"lockout_parameters[7].group",
		"ipv6_prefix",
		"max_wait",
		"sensitive_parameters[1]",
		"status_code",
		"tiers",
		"tiers[0].cooloff",
		"tiers[0].failures",
		"tiers[1].cooloff",
		"username_normalization",
	}
	slices.Sort(want)
	if got := problemPaths(t, err); !slices.Equal(got, want) {
		t.Fatalf("problem paths\n got %q\nwant %q\nerror: %v", got, want, err)
	}
	for _, frag := range []string{`"password"`, `"upper"`, "401", `"nope"`, `"forever"`, `"x"`} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error does not name %s: %v", frag, err)
		}
	}
}

func TestParseConfigReportsDecodeAndValueProblemsTogether(t *testing.T) {
	_, err := ParseConfig(json.RawMessage(`{"failure_limt":3,"status_code":401,"lockout_parameters":["email",{"group":"ip_address","failure_limt":2}]}`))
	want := []string{"failure_limt", "lockout_parameters[0][0]", "lockout_parameters[1].failure_limt", "status_code"}
	if got := problemPaths(t, err); !slices.Equal(got, want) {
		t.Fatalf("problem paths %q, want %q (%v)", got, want, err)
	}
}

func TestParseConfigProblems(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"unknown lockout parameter", `{"lockout_parameters":["ip_address","password"]}`, []string{"lockout_parameters[1][0]"}},
		{"unknown field inside a group", `{"lockout_parameters":[["username","email"]]}`, []string{"lockout_parameters[0][1]"}},
		{"empty list", `{"lockout_parameters":[]}`, []string{"lockout_parameters"}},
		{"empty group", `{"lockout_parameters":["ip_address",[]]}`, []string{"lockout_parameters[1]"}},
		{"group of a number", `{"lockout_parameters":[["username",1]]}`, []string{"lockout_parameters[0]"}},
		{"not a list", `{"lockout_parameters":"ip_address"}`, []string{"lockout_parameters"}},
		{"field twice in a group", `{"lockout_parameters":[["username","username"]]}`, []string{"lockout_parameters[0][1]"}},
		{"object without a group", `{"lockout_parameters":[{"failure_limit":3}]}`, []string{"lockout_parameters[0].group"}},
		{"object with an unknown key", `{"lockout_parameters":[{"group":"ip_address","limit":3}]}`, []string{"lockout_parameters[0].limit"}},
		{"object with an empty group", `{"lockout_parameters":[{"group":[]}]}`, []string{"lockout_parameters[0].group"}},
		{"object with an unknown field", `{"lockout_parameters":[{"group":["ip_address","email"]}]}`, []string{"lockout_parameters[0].group[1]"}},
		{"object with a negative limit", `{"lockout_parameters":[{"group":"ip_address","failure_limit":-1}]}`, []string{"lockout_parameters[0].failure_limit"}},
		{"object with a bad cool-off", `{"lockout_parameters":[{"group":"ip_address","cooloff":"1 hour"}]}`, []string{"lockout_parameters[0].cooloff"}},
		{"object with bad tiers", `{"lockout_parameters":[{"group":"ip_address","tiers":[{"failures":0,"cooloff":"1m"}]}]}`, []string{"lockout_parameters[0].tiers[0].failures"}},
		{"negative failure limit", `{"failure_limit":-3}`, []string{"failure_limit"}},
		{"cool-off without unit", `{"cooloff":"30"}`, []string{"cooloff"}},
		{"negative cool-off", `{"cooloff":"-5m"}`, []string{"cooloff"}},
		{"cool-off in hours as a number", `{"cooloff":1}`, []string{"cooloff"}},
		{"tier without cool-off", `{"tiers":[{"failures":3}]}`, []string{"tiers[0].cooloff"}},
		{"tier with zero cool-off", `{"tiers":[{"failures":3,"cooloff":"0s"}]}`, []string{"tiers[0].cooloff"}},
		{"tier without failures", `{"tiers":[{"cooloff":"1m"}]}`, []string{"tiers[0].failures"}},
		{"tiers with the same failures", `{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":3,"cooloff":"2m"}]}`, []string{"tiers"}},
		{"allow_ips", `{"allow_ips":["10.0.0.300"]}`, []string{"allow_ips"}},
		{"block_ips CIDR", `{"block_ips":["10.0.0.0/33"]}`, []string{"block_ips"}},
		{"block_ips hostname", `{"block_ips":["localhost"]}`, []string{"block_ips"}},
		{"IPv4-mapped prefix wider than IPv4", `{"block_ips":["::ffff:0.0.0.0/64"]}`, []string{"block_ips"}},
		{"normalization", `{"username_normalization":"NFKC"}`, []string{"username_normalization"}},
		{"status 401", `{"status_code":401}`, []string{"status_code"}},
		{"status 200", `{"status_code":200}`, []string{"status_code"}},
		{"ipv6 prefix too short", `{"ipv6_prefix":31}`, []string{"ipv6_prefix"}},
		{"ipv6 prefix too long", `{"ipv6_prefix":129}`, []string{"ipv6_prefix"}},
		{"max_wait not a duration", `{"max_wait":"10"}`, []string{"max_wait"}},
		{"max_wait zero", `{"max_wait":"0s"}`, []string{"max_wait"}},
		{"max_wait too long", `{"max_wait":"6m"}`, []string{"max_wait"}},
		{"failure log limit", `{"access_failure_log_per_user_limit":-5}`, []string{"access_failure_log_per_user_limit"}},
		{"sensitive password", `{"sensitive_parameters":["password"]}`, []string{"sensitive_parameters[0]"}},
		{"sensitive path_info", `{"sensitive_parameters":["ip_address","path_info"]}`, []string{"sensitive_parameters[1]"}},
		{"sensitive as a string", `{"sensitive_parameters":"username"}`, []string{"sensitive_parameters"}},
		{"unknown setting", `{"cool_off":"1m"}`, []string{"cool_off"}},
		{"wrong type", `{"reset_on_success":"yes"}`, []string{"reset_on_success"}},
		{"not an object", `[]`, []string{""}},
		{"not JSON", `{`, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseConfig(json.RawMessage(tt.raw))
			if err == nil {
				t.Fatalf("ParseConfig(%s) = %+v, want an error", tt.raw, s)
			}
			if got := problemPaths(t, err); !slices.Equal(got, tt.want) {
				t.Fatalf("ParseConfig(%s): paths %q, want %q (%v)", tt.raw, got, tt.want, err)
			}
		})
	}
}

func TestParseConfigWarnings(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []string // fragments, one per warning, in order
	}{
		{"no ip_address group", `{"cooloff":"1h","lockout_parameters":["username",["username","user_agent"]]}`,
			[]string{"no lockout group contains ip_address", "every lockout group contains username"}},
		{"ip_address inside a pair is not enough for a username", `{"lockout_parameters":[["username","ip_address"]]}`,
			[]string{"every lockout group contains username", "every lockout group contains ip_address"}},
		{"the built-in chain's groups", `{"cooloff":"30m","lockout_parameters":[["username","ip_address"],"username","ip_address"]}`, nil},
		{"tiers with failure_limit", `{"failure_limit":5,"tiers":[{"failures":3,"cooloff":"1m"}]}`, []string{"tiers replace failure_limit and cooloff"}},
		{"tiers with cooloff", `{"cooloff":"1h","tiers":[{"failures":3,"cooloff":"1m"}]}`, []string{"tiers replace failure_limit and cooloff"}},
		{"tier with a shorter cool-off", `{"tiers":[{"failures":3,"cooloff":"1h"},{"failures":5,"cooloff":"1m"}]}`,
			[]string{"tiers: the tier at 5 failures has a shorter cool-off than the one at 3"}},
		{"a group's tier with a shorter cool-off", `{"lockout_parameters":["ip_address",{"group":["ip_address","username"],"tiers":[{"failures":3,"cooloff":"1h"},{"failures":5,"cooloff":"1m"}]}]}`,
			[]string{"lockout_parameters[1].tiers: the tier at 5 failures has a shorter cool-off than the one at 3", "every lockout group contains ip_address"}},
		{"lock_out_at_failure false with tiers", `{"lock_out_at_failure":false,"tiers":[{"failures":3,"cooloff":"1m"},{"failures":5,"cooloff":"1h"}]}`, []string{"lock_out_at_failure is false"}},
		{"lock_out_at_failure false with no counting during lock", `{"lock_out_at_failure":false,"reset_cooloff_on_failure_during_lockout":false}`, []string{"lock_out_at_failure is false"}},
		{"lock_out_at_failure false alone", `{"lock_out_at_failure":false}`, nil},
		{"reset_on_success with an ip_address group", `{"reset_on_success":true}`, []string{"reset_on_success with an [ip_address] group"}},
		{"reset_on_success with a pair", `{"reset_on_success":true,"lockout_parameters":[["username","ip_address"],"ip_address"]}`,
			[]string{"every lockout group contains ip_address", "reset_on_success with an [ip_address] group"}},
		{"only_allowed_ips with empty allow_ips", `{"only_allowed_ips":true}`, []string{"only_allowed_ips is true but allow_ips is empty"}},
		{"only_allowed_ips with allow_ips", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"]}`, nil},
		{"overlapping lists", `{"allow_ips":["10.0.0.0/8"],"block_ips":["10.1.0.0/16"]}`, []string{"allow_ips 10.0.0.0/8 and block_ips 10.1.0.0/16 overlap"}},
		{"the same address in both", `{"allow_ips":["192.0.2.1"],"block_ips":["192.0.2.1"]}`, []string{"allow_ips 192.0.2.1/32 and block_ips 192.0.2.1/32 overlap"}},
		{"disjoint lists", `{"allow_ips":["10.0.0.0/8"],"block_ips":["192.168.0.0/16","2001:db8::/32"]}`, nil},
		{"duplicate groups", `{"lockout_parameters":["ip_address",["ip_address"],["username","ip_address"],["ip_address","username"]]}`,
			[]string{"lockout_parameters[1] repeats the group ip_address", "lockout_parameters[3] repeats the group ip_address+username", "every lockout group contains ip_address"}},
		{"several at once", `{"lockout_parameters":["username"],"only_allowed_ips":true,"lock_out_at_failure":false,"tiers":[{"failures":3,"cooloff":"1m"},{"failures":4,"cooloff":"1s"}]}`,
			[]string{"tiers: the tier at 4", "no lockout group contains ip_address", "every lockout group contains username", "lock_out_at_failure is false", "only_allowed_ips is true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, tt.raw)
			if len(s.Warnings) != len(tt.want) {
				t.Fatalf("warnings %q, want %d matching %q", s.Warnings, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(s.Warnings[i], w) {
					t.Errorf("warning %d %q, want it to contain %q", i, s.Warnings[i], w)
				}
			}
		})
	}
}
