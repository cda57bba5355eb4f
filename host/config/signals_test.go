package config

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// TestParseWebhookSecret: a webhook's secret is either whsec_ and a
// standard base64 key of 24 to 64 bytes, or any string of at least 16
// characters; a problem never quotes the secret.
func TestParseWebhookSecret(t *testing.T) {
	key := func(n int) string { return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("K", n))) }
	tests := []struct {
		name   string
		secret string
		want   string // "": valid
	}{
		{"whsec_ of 24 bytes", "whsec_" + key(24), ""},
		{"whsec_ of 64 bytes", "whsec_" + key(64), ""},
		{"plain secret of 16 characters", "0123456789abcdef", ""},
		{"whsec_ of 16 bytes", "whsec_" + key(16), "must be 24 to 64 bytes, not 16"},
		{"whsec_ of 65 bytes", "whsec_" + key(65), "must be 24 to 64 bytes, not 65"},
		{"whsec_ not base64", "whsec_this*is*not*base64*this*is*not", "standard base64"},
		{"whsec_ in URL-safe base64", "whsec_" + strings.ReplaceAll(key(30)+"-_", "=", ""), "standard base64"},
		{"plain secret of 15 characters", "0123456789abcde", "at least 16 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := fmt.Sprintf("signals:\n  subscribers:\n    - {webhook: https://siem.example.com/hook, secret: %q, signals: [\"*\"]}\n", tt.secret)
			if tt.want == "" {
				mustParse(t, raw, nil)
				return
			}
			_, err := Parse("test.yaml", []byte(raw), (&env{}).lookup)
			checkProblems(t, problems(t, err), []want{{"signals.subscribers[0].secret", tt.want}})
			if strings.Contains(err.Error(), strings.TrimPrefix(tt.secret, "whsec_")) {
				t.Errorf("the problem quotes the secret: %v", err)
			}
		})
	}
	// Without a secret, the problem says one is required.
	_, err := Parse("test.yaml", []byte("signals:\n  subscribers:\n    - {webhook: https://siem.example.com/hook, signals: [\"*\"]}\n"), (&env{}).lookup)
	checkProblems(t, problems(t, err), []want{{"signals.subscribers[0].secret", "is required for a webhook"}})
}

// TestParseWebhookURLNeverShown: a webhook URL's user information and
// query may hold credentials; neither a problem nor the default name shows
// them.
func TestParseWebhookURLNeverShown(t *testing.T) {
	planted := []string{"plantedUser7q", "plantedPass7q", "plantedToken7q", "plantedFrag7q"}
	tests := []struct {
		name, url string
		want      string // the problem at signals.subscribers[0].webhook; "": none
	}{
		{"not http", "ftp://plantedUser7q:plantedPass7q@example.com/x?token=plantedToken7q#plantedFrag7q",
			`must be an http or https URL, not "ftp://example.com/x?…"`},
		{"no host", "https://plantedUser7q:plantedPass7q@/x?token=plantedToken7q",
			`must be an http or https URL, not "https:///x?…"`},
		{"cannot be parsed", "https://plantedUser7q:planted%zzPass7q@example.com/x?token=plantedToken7q",
			"must be an http or https URL; this one cannot be parsed"},
		{"valid", "https://plantedUser7q:plantedPass7q@example.com/x?token=plantedToken7q#plantedFrag7q", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := fmt.Sprintf("signals:\n  subscribers:\n    - {webhook: %q, secret: 0123456789abcdef, signals: [\"*\"]}\n", tt.url)
			cfg, err := Parse("test.yaml", []byte(raw), (&env{}).lookup)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if got, want := cfg.Signals.Subscribers[0].Name, "webhook:https://example.com/x"; got != want {
					t.Errorf("default name %q, want %q", got, want)
				}
				return
			}
			checkProblems(t, problems(t, err), []want{{"signals.subscribers[0].webhook", tt.want}})
			for _, p := range planted {
				if strings.Contains(err.Error(), p) {
					t.Errorf("the problem shows %q: %v", p, err)
				}
			}
		})
	}
}
