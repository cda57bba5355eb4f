package lockout

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// The host learns the plugin's rule over real gRPC: Configure, then
// AttemptRule. What it gets must be the rule the configuration says.

// canonical makes empty lists nil: on the wire an empty list and none are
// the same, and mean the same to the host.
func canonical(r attempts.Rule) attempts.Rule {
	if len(r.AllowIPs) == 0 {
		r.AllowIPs = nil
	}
	if len(r.BlockIPs) == 0 {
		r.BlockIPs = nil
	}
	if len(r.SensitiveFields) == 0 {
		r.SensitiveFields = nil
	}
	r.Counters = slices.Clone(r.Counters)
	for i := range r.Counters {
		if len(r.Counters[i].Tiers) == 0 {
			r.Counters[i].Tiers = nil
		}
	}
	return r
}

func TestAttemptRuleOverGRPC(t *testing.T) {
	configs := []string{
		`{}`,
		`{"failure_limit":5,"cooloff":"30m","lockout_parameters":[["username","ip_address"]],"reset_on_success":true}`,
		`{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":10,"cooloff":"1h"}],"reset_cooloff_on_failure_during_lockout":false,"status_code":403}`,
		`{"lockout_parameters":[{"group":"ip_address","failure_limit":20,"cooloff":"1h"},{"group":["username","ip_address"],"failure_limit":3,"cooloff":"5m"},{"group":"username","tiers":[{"failures":10,"cooloff":"1m"},{"failures":20,"cooloff":"1h"}]}]}`,
		`{"allow_ips":["10.0.0.0/8","::ffff:192.0.2.1"],"block_ips":["2001:db8::/32"],"only_allowed_ips":true,"ipv6_prefix":48}`,
		`{"lock_out_at_failure":false,"username_normalization":"casefold","access_log":false,"access_failure_log":true,"access_failure_log_per_user_limit":7,"sensitive_parameters":[],"max_wait":"1500ms"}`,
		`{"sensitive_parameters":["user_agent","username","ip_address"],"lockout_parameters":["user_agent"],"cooloff":"1s"}`,
	}
	for _, config := range configs {
		t.Run(config, func(t *testing.T) {
			ctx := context.Background()
			want := parse(t, config).Rule
			r := sdktest.StartUnconfigured(t, New(), nil)
			info, err := r.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !info.Has(hostside.AttemptLimiter) || info.Has(hostside.Authenticator) || info.Name != "lockout" || info.Version != Version {
				t.Fatalf("info %+v, want the lockout, an attempt limiter and no authenticator", info)
			}
			if err := r.Configure(ctx, "test", json.RawMessage(config)); err != nil {
				t.Fatalf("Configure: %v", err)
			}
			got, err := r.AttemptRule(ctx)
			if err != nil {
				t.Fatalf("AttemptRule: %v", err)
			}
			if !reflect.DeepEqual(canonical(got), canonical(want)) {
				t.Fatalf("rule over gRPC\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestAttemptRuleCarriesEverySetting(t *testing.T) {
	// A rule whose every field differs from its zero value comes back
	// whole: no setting is lost on the wire.
	ctx := context.Background()
	config := `{"failure_limit":4,"cooloff":"90s","lockout_parameters":["ip_address",{"group":["username","user_agent"],"tiers":[{"failures":2,"cooloff":"1m"},{"failures":6,"cooloff":"2h"}]}],
		"reset_on_success":true,"lock_out_at_failure":false,"reset_cooloff_on_failure_during_lockout":true,
		"allow_ips":["10.0.0.0/8"],"block_ips":["10.9.0.0/16"],"only_allowed_ips":true,"ipv6_prefix":56,
		"username_normalization":"lowercase","status_code":403,"access_log":true,"access_failure_log":true,
		"access_failure_log_per_user_limit":9,"sensitive_parameters":["user_agent"],"max_wait":"3s"}`
	want := parse(t, config).Rule
	v := reflect.ValueOf(want)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test's rule leaves %s at its zero value", v.Type().Field(i).Name)
		}
	}
	r := sdktest.Start(t, New(), json.RawMessage(config), nil)
	got, err := r.AttemptRule(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rule over gRPC\n got %+v\nwant %+v", got, want)
	}
	if got.AllowIPs[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("allow_ips %v", got.AllowIPs)
	}
}

func TestConfigureOverGRPC(t *testing.T) {
	// The host sees every problem, with its path, through Configure; a
	// plugin left unconfigured declares no counters, which the host does
	// not accept as a rule.
	ctx := context.Background()
	r := sdktest.StartUnconfigured(t, New(), nil)
	err := r.Configure(ctx, "test", json.RawMessage(`{"failure_limit":-1,"lockout_parameters":["ip_address","email",{"group":"username"}],"status_code":500}`))
	want := []string{"failure_limit", "lockout_parameters[1][0]", "status_code"}
	if got := problemPaths(t, err); !slices.Equal(got, want) {
		t.Fatalf("paths %q, want %q (%v)", got, want, err)
	}
	rule, err := r.AttemptRule(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rule.Counters) != 0 || rule.OnlyAllowedIPs || len(rule.BlockIPs) != 0 {
		t.Fatalf("rule of an unconfigured plugin %+v, want none", rule)
	}
}
