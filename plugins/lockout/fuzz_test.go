package lockout

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// FuzzParseConfig: any configuration is either a rule the host can
// enforce or a list of problems at their paths. An accepted rule locks
// nobody out for good through a group without ip_address.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"failure_limit":5,"cooloff":"30m","lockout_parameters":[["username","ip_address"]]}`,
		`{"lockout_parameters":["username"],"cooloff":"15m"}`,
		`{"lockout_parameters":["username"]}`,
		`{"lockout_parameters":[{"group":"ip_address","failure_limit":20,"reset_on_success":false},{"group":["username"],"failure_limit":20,"cooloff":"15m"}]}`,
		`{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":6,"cooloff":"1h"}]}`,
		`{"tiers":[{"failures":3,"cooloff":"1m"},{"failures":2,"cooloff":"1h"}]}`,
		`{"allow_ips":["10.0.0.0/8","::1"],"block_ips":["::ffff:0.0.0.0/64"],"only_allowed_ips":true}`,
		`{"ipv6_prefix":16,"status_code":401,"max_wait":"10m","username_normalization":"upper"}`,
		`{"cooloff":"30","sensitive_parameters":["password"],"reset_on_sucess":true}`,
		`{"lock_out_at_failure":false,"cooloff":"1h"}`,
		`{"failure_limit":9223372036854775807,"cooloff":"2562047h"}`,
		`{"lockout_parameters":[{"failure_limit":3}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseConfig(json.RawMessage(raw))
		if err != nil {
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 || !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("ParseConfig(%q) = %T %v, want a configuration error", raw, err, err)
			}
			for _, p := range ce.Problems {
				if p.Message == "" {
					t.Fatalf("ParseConfig(%q): a problem at %q without a message", raw, p.Path)
				}
			}
			return
		}
		if len(s.Rule.Counters) == 0 {
			t.Fatalf("ParseConfig(%q) accepted a rule without counters", raw)
		}
		for _, c := range s.Rule.Counters {
			if len(c.Fields) == 0 || c.Limit() <= 0 {
				t.Fatalf("ParseConfig(%q) accepted counter %+v", raw, c)
			}
			for i, tier := range c.Tiers {
				if tier.Cooloff < 0 || i > 0 && tier.Failures <= c.Tiers[i-1].Failures {
					t.Fatalf("ParseConfig(%q) accepted tiers %+v", raw, c.Tiers)
				}
			}
			if !s.Rule.NeverLock && !slices.Contains(c.Fields, FieldIPAddress) && c.Tiers[len(c.Tiers)-1].Cooloff == 0 {
				t.Fatalf("ParseConfig(%q) accepted group %v, which anyone could lock for good from anywhere", raw, c.Fields)
			}
		}
	})
}
