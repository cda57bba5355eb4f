package lockout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
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

func TestParseConfigDefaults(t *testing.T) {
	for _, raw := range []string{``, `{}`, `null`} {
		t.Run(raw, func(t *testing.T) {
			s, err := ParseConfig(json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			if s.FailureLimit != 3 || s.Cooloff != 0 || len(s.Tiers) != 0 {
				t.Errorf("limit %d cool-off %v tiers %v, want 3, permanent, none", s.FailureLimit, s.Cooloff, s.Tiers)
			}
			if len(s.Groups) != 1 || s.Groups[0].Name() != "ip_address" {
				t.Errorf("groups %v, want [ip_address]", s.Groups)
			}
			if !s.LockOutAtFailure || !s.CountDuringLock || s.ResetOnSuccess || s.OnlyAllowedIPs {
				t.Errorf("flags %+v, want lock out, count during lock, no reset on success, not only allowed", s)
			}
			if s.StatusCode != http.StatusTooManyRequests || !s.AccessLog || s.FailureLog || s.FailureLogLimit != 1000 {
				t.Errorf("status %d access log %v failure log %v limit %d, want 429, on, off, 1000", s.StatusCode, s.AccessLog, s.FailureLog, s.FailureLogLimit)
			}
			if !s.Sensitive[FieldUsername] || !s.Sensitive[FieldIPAddress] || s.Sensitive[FieldUserAgent] {
				t.Errorf("sensitive %v, want username and ip_address", s.Sensitive)
			}
			if s.Normalize("Bob") != "Bob" {
				t.Errorf("names are normalized by default")
			}
			if len(s.Warnings) != 0 {
				t.Errorf("warnings for the default configuration: %q", s.Warnings)
			}
		})
	}
}

func TestParseConfigSettings(t *testing.T) {
	s, err := ParseConfig(json.RawMessage(`{
		"failure_limit": 7, "cooloff": "1h30m",
		"lockout_parameters": ["user_agent", ["username", "ip_address"]],
		"reset_on_success": true, "lock_out_at_failure": true,
		"reset_cooloff_on_failure_during_lockout": false,
		"allow_ips": ["10.0.0.0/8", "::ffff:192.0.2.1"], "block_ips": ["2001:db8::/32"],
		"username_normalization": "lowercase", "status_code": 403,
		"access_log": false, "access_failure_log": true, "access_failure_log_per_user_limit": 20,
		"sensitive_parameters": ["user_agent"]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.FailureLimit != 7 || s.Cooloff != 90*time.Minute || !s.ResetOnSuccess || s.CountDuringLock || s.StatusCode != 403 ||
		s.AccessLog || !s.FailureLog || s.FailureLogLimit != 20 || s.Normalize("BoB") != "bob" {
		t.Errorf("settings %+v", s)
	}
	var groups []string
	for _, g := range s.Groups {
		groups = append(groups, g.Name())
	}
	if want := []string{"user_agent", "ip_address+username"}; !slices.Equal(groups, want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	wantAllow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if !slices.Equal(s.AllowIPs, wantAllow) || !slices.Equal(s.BlockIPs, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}) {
		t.Errorf("allow %v block %v", s.AllowIPs, s.BlockIPs)
	}
	if s.Sensitive[FieldUsername] || s.Sensitive[FieldIPAddress] || !s.Sensitive[FieldUserAgent] {
		t.Errorf("sensitive %v, want only user_agent", s.Sensitive)
	}
	// An empty list masks nothing.
	s, err = ParseConfig(json.RawMessage(`{"sensitive_parameters":[]}`))
	if err != nil || len(s.Sensitive) != 0 {
		t.Errorf("sensitive_parameters [] gives %v, %v; want nothing masked", s.Sensitive, err)
	}
}

func TestParseConfigTiers(t *testing.T) {
	s, err := ParseConfig(json.RawMessage(`{"tiers":[{"failures":10,"cooloff":"1h"},{"failures":3,"cooloff":"1m"},{"failures":5,"cooloff":"10m"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.FailureLimit != 3 || s.Cooloff != time.Minute {
		t.Errorf("limit %d cool-off %v, want the lowest tier's 3 and 1m", s.FailureLimit, s.Cooloff)
	}
	want := []ParsedTier{{3, time.Minute}, {5, 10 * time.Minute}, {10, time.Hour}}
	if !slices.Equal(s.Tiers, want) {
		t.Errorf("tiers %v, want %v", s.Tiers, want)
	}
	for _, c := range []struct {
		count int64
		want  time.Duration
	}{{0, time.Minute}, {3, time.Minute}, {4, time.Minute}, {5, 10 * time.Minute}, {9, 10 * time.Minute}, {10, time.Hour}, {1000, time.Hour}} {
		if got := s.CooloffFor(c.count); got != c.want {
			t.Errorf("CooloffFor(%d) = %v, want %v", c.count, got, c.want)
		}
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings %q", s.Warnings)
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	raw := `{
		"failure_limit": -1,
		"cooloff": "soon",
		"lockout_parameters": [["username", "password"], [], "ip", ["ip_address", "ip_address"], 7, ["username"]],
		"tiers": [{"failures": 0, "cooloff": "x"}, {"failures": 2, "cooloff": "-1m"}, {"failures": 2, "cooloff": "1m"}],
		"allow_ips": ["10.0.0.0/8", "nope"],
		"block_ips": ["1.2.3.4/99"],
		"username_normalization": "upper",
		"status_code": 401,
		"access_failure_log_per_user_limit": -1,
		"sensitive_parameters": ["username", "password"]
	}`
	_, err := ParseConfig(json.RawMessage(raw))
	want := []string{
		"access_failure_log_per_user_limit",
		"allow_ips",
		"block_ips",
		"cooloff",
		"failure_limit",
		"lockout_parameters[0][1]",
		"lockout_parameters[1]",
		"lockout_parameters[2][0]",
		"lockout_parameters[3][1]",
		"lockout_parameters[4]",
		"sensitive_parameters[1]",
		"status_code",
		"tiers",
		"tiers[0].cooloff",
		"tiers[0].failures",
		"tiers[1].cooloff",
		"username_normalization",
	}
	if got := problemPaths(t, err); !slices.Equal(got, want) {
		t.Fatalf("problem paths\n got %q\nwant %q\nerror: %v", got, want, err)
	}
	for _, frag := range []string{`"password"`, `"upper"`, "401", `"soon"`, `"nope"`} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error does not name %s: %v", frag, err)
		}
	}
}

func TestParseConfigReportsDecodeAndValueProblemsTogether(t *testing.T) {
	_, err := ParseConfig(json.RawMessage(`{"failure_limt":3,"status_code":401,"lockout_parameters":["email"]}`))
	want := []string{"failure_limt", "lockout_parameters[0][0]", "status_code"}
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
		{"normalization", `{"username_normalization":"NFKC"}`, []string{"username_normalization"}},
		{"status 401", `{"status_code":401}`, []string{"status_code"}},
		{"status 200", `{"status_code":200}`, []string{"status_code"}},
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
		{"no ip_address group", `{"lockout_parameters":["username",["username","user_agent"]]}`, []string{"no lockout group contains ip_address"}},
		{"ip_address inside a pair is enough", `{"lockout_parameters":[["username","ip_address"]]}`, nil},
		{"tiers with failure_limit", `{"failure_limit":5,"tiers":[{"failures":3,"cooloff":"1m"}]}`, []string{"tiers replace failure_limit and cooloff"}},
		{"tiers with cooloff", `{"cooloff":"1h","tiers":[{"failures":3,"cooloff":"1m"}]}`, []string{"tiers replace failure_limit and cooloff"}},
		{"tier with a shorter cool-off", `{"tiers":[{"failures":3,"cooloff":"1h"},{"failures":5,"cooloff":"1m"}]}`, []string{"shorter cool-off"}},
		{"lock_out_at_failure false with cooloff", `{"lock_out_at_failure":false,"cooloff":"5m"}`, []string{"lock_out_at_failure is false"}},
		{"lock_out_at_failure false with tiers", `{"lock_out_at_failure":false,"tiers":[{"failures":3,"cooloff":"1m"}]}`, []string{"lock_out_at_failure is false"}},
		{"lock_out_at_failure false with no counting during lock", `{"lock_out_at_failure":false,"reset_cooloff_on_failure_during_lockout":false}`, []string{"lock_out_at_failure is false"}},
		{"lock_out_at_failure false alone", `{"lock_out_at_failure":false}`, nil},
		{"only_allowed_ips with empty allow_ips", `{"only_allowed_ips":true}`, []string{"only_allowed_ips is true but allow_ips is empty"}},
		{"only_allowed_ips with allow_ips", `{"only_allowed_ips":true,"allow_ips":["10.0.0.0/8"]}`, nil},
		{"overlapping lists", `{"allow_ips":["10.0.0.0/8"],"block_ips":["10.1.0.0/16"]}`, []string{"allow_ips 10.0.0.0/8 and block_ips 10.1.0.0/16 overlap"}},
		{"the same address in both", `{"allow_ips":["192.0.2.1"],"block_ips":["192.0.2.1"]}`, []string{"allow_ips 192.0.2.1/32 and block_ips 192.0.2.1/32 overlap"}},
		{"disjoint lists", `{"allow_ips":["10.0.0.0/8"],"block_ips":["192.168.0.0/16","2001:db8::/32"]}`, nil},
		{"duplicate groups", `{"lockout_parameters":["ip_address",["ip_address"],["username","ip_address"],["ip_address","username"]]}`,
			[]string{"lockout_parameters[1] repeats the group ip_address", "lockout_parameters[3] repeats the group ip_address+username"}},
		{"several at once", `{"lockout_parameters":["username"],"only_allowed_ips":true,"lock_out_at_failure":false,"cooloff":"1m"}`,
			[]string{"no lockout group contains ip_address", "lock_out_at_failure is false", "only_allowed_ips is true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseConfig(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatalf("ParseConfig(%s): %v", tt.raw, err)
			}
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

func TestConfigureOverGRPC(t *testing.T) {
	// The host sees every problem, with its path, through Configure.
	r := sdktest.StartUnconfigured(t, New(), nil)
	err := r.Configure(context.Background(), "test", json.RawMessage(`{"failure_limit":-1,"lockout_parameters":["ip_address","email"],"status_code":500}`))
	want := []string{"failure_limit", "lockout_parameters[1][0]", "status_code"}
	if got := problemPaths(t, err); !slices.Equal(got, want) {
		t.Fatalf("paths %q, want %q", got, want)
	}
	// An unconfigured plugin fails closed.
	var resp sdk.AuthenticateResponse
	aerr := r.Authenticator().Authenticate(context.Background(), &sdk.AuthenticateRequest{RequestID: "r", Username: "a", Client: sdk.Client{IP: "192.0.2.1"}}, &resp)
	if aerr == nil || resp.Decision == sdk.DecisionAbstain {
		t.Fatalf("unconfigured Authenticate = %s, %v; want an error", describe(resp), aerr)
	}
}

func TestISODuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Minute, "PT30M"},
		{90 * time.Minute, "PT1H30M"},
		{26 * time.Hour, "P1DT2H"},
		{45 * time.Second, "PT45S"},
		{0, "PT0S"},
		{-time.Minute, "PT0S"},
		{400 * time.Millisecond, "PT0S"},
		{1500 * time.Millisecond, "PT2S"},
		{time.Hour, "PT1H"},
		{24 * time.Hour, "P1D"},
		{48*time.Hour + time.Second, "P2DT1S"},
		{time.Hour + time.Second, "PT1H1S"},
		{25*time.Hour + 61*time.Second, "P1DT1H1M1S"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.d.String(), func(t *testing.T) {
			if got := isoDuration(tt.d); got != tt.want {
				t.Fatalf("isoDuration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestCounterKeyRoundTrip(t *testing.T) {
	tests := []Client{
		{Username: "alice", IPAddress: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux)"},
		{Username: "a|b", IPAddress: "2001:db8::1", UserAgent: "x|y|z"},
		{Username: "100%", IPAddress: "::ffff:192.0.2.1", UserAgent: "%7C%25|%"},
		{Username: "+", IPAddress: "", UserAgent: ""},
		{Username: "ünïcødé", IPAddress: "192.0.2.1", UserAgent: "ｂｏｔ"},
	}
	g := Group{FieldIPAddress, FieldUserAgent, FieldUsername}
	seen := map[string]Client{}
	for _, c := range tests {
		key, ok := counterKey(g, c)
		if !ok {
			t.Fatalf("counterKey(%+v) not applicable", c)
		}
		if prev, dup := seen[key]; dup {
			t.Fatalf("%+v and %+v share the key %q", prev, c, key)
		}
		seen[key] = c
		pk, ok := parseCounterKey(key)
		if !ok || pk.Group.Name() != g.Name() {
			t.Fatalf("parseCounterKey(%q) = %+v, %v", key, pk, ok)
		}
		if pk.Values[FieldUsername] != c.Username || pk.Values[FieldIPAddress] != c.IPAddress || pk.Values[FieldUserAgent] != c.UserAgent {
			t.Fatalf("round trip of %+v gave %+v", c, pk.Values)
		}
	}
	if _, ok := counterKey(Group{FieldUsername}, Client{IPAddress: "192.0.2.1"}); ok {
		t.Fatal("a username group applies to a login without a username")
	}
	for _, bad := range []string{"", "c|", "c|email|x", "x|alice|1|2", "c|ip_address", "c|ip_address|a|b", "h|username"} {
		if pk, ok := parseCounterKey(bad); ok {
			t.Errorf("parseCounterKey(%q) = %+v, want not a counter", bad, pk)
		}
	}
}
