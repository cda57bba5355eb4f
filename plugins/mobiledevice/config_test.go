package mobiledevice

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

const hookSecret = "a webhook secret of some length"

func TestParseConfig(t *testing.T) {
	for _, raw := range []string{``, `{}`, `null`} {
		s, err := ParseConfig(json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if s.NonceTTL != DefaultNonceTTL || s.Webhook != "" || s.WebhookKey != nil || len(s.Warnings) != 0 {
			t.Errorf("%q: defaults %+v", raw, s)
		}
	}
	s, err := ParseConfig(json.RawMessage(`{"notify":{"webhook":"https://push.example.com/devices","secret":"` + hookSecret + `"},"nonce_ttl":"2m"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Webhook != "https://push.example.com/devices" || string(s.WebhookKey) != hookSecret || s.NonceTTL != 2*time.Minute || len(s.Warnings) != 0 {
		t.Errorf("settings %+v", s)
	}
	for ttl, want := range map[string]time.Duration{"5s": 5 * time.Second, "10m": 10 * time.Minute, "90s": 90 * time.Second} {
		s, err := ParseConfig(json.RawMessage(`{"nonce_ttl":"` + ttl + `"}`))
		if err != nil || s.NonceTTL != want {
			t.Errorf("nonce_ttl %s: %v, %v", ttl, s.NonceTTL, err)
		}
	}
	s, err = ParseConfig(json.RawMessage(`{"notify":{"webhook":"http://push.example.com/","secret":"` + hookSecret + `"}}`))
	if err != nil || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "plain http") {
		t.Errorf("a plain-http webhook: %+v, %v", s, err)
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name   string
		config string
		paths  []string
	}{
		{"unknown key", `{"nonce_tll":"60s"}`, []string{"nonce_tll"}},
		{"unknown notify key", `{"notify":{"webhook":"https://x.example/","secret":"` + hookSecret + `","retries":3}}`, []string{"notify.retries"}},
		{"wrong type", `{"nonce_ttl":60}`, []string{"nonce_ttl"}},
		{"not a duration", `{"nonce_ttl":"a minute"}`, []string{"nonce_ttl"}},
		{"too short", `{"nonce_ttl":"4s"}`, []string{"nonce_ttl"}},
		{"too long", `{"nonce_ttl":"11m"}`, []string{"nonce_ttl"}},
		{"negative", `{"nonce_ttl":"-60s"}`, []string{"nonce_ttl"}},
		{"webhook without secret", `{"notify":{"webhook":"https://x.example/"}}`, []string{"notify.secret"}},
		{"secret without webhook", `{"notify":{"secret":"` + hookSecret + `"}}`, []string{"notify.secret"}},
		{"short secret", `{"notify":{"webhook":"https://x.example/","secret":"short"}}`, []string{"notify.secret"}},
		{"not http", `{"notify":{"webhook":"ftp://x.example/","secret":"` + hookSecret + `"}}`, []string{"notify.webhook"}},
		{"everything at once", `{"nonce_ttl":"1h","notify":{"webhook":"gopher://x/","secret":"s"},"extra":1}`, []string{"extra", "nonce_ttl", "notify.secret", "notify.webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(json.RawMessage(tt.config))
			var cfgErr *sdk.ConfigError
			if !errors.As(err, &cfgErr) {
				t.Fatalf("got %v, want a *sdk.ConfigError", err)
			}
			var paths []string
			for _, p := range cfgErr.Problems {
				paths = append(paths, p.Path)
			}
			slices.Sort(paths)
			if !slices.Equal(paths, tt.paths) {
				t.Fatalf("problems at %q, want %q: %v", paths, tt.paths, err)
			}
		})
	}
}

func TestConfigErrorsHoldNoSecret(t *testing.T) {
	_, err := ParseConfig(json.RawMessage(`{"notify":{"webhook":"gopher://user:pa55word@x.example/?token=t0ken","secret":"whsec_c2VjcmV0"}}`))
	if err == nil {
		t.Fatal("no problem")
	}
	for _, secret := range []string{"pa55word", "t0ken", "c2VjcmV0"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q is in the error %v", secret, err)
		}
	}
}
