package mobiledevice

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
	"github.com/portcullis-auth/portcullis/plugins/internal/webhook"
)

// Config is the plugin's `config:` section as written.
type Config struct {
	// Notify, if set, tells the app's notification service that a user's
	// devices have an authorization request to answer, so that it can
	// push to them; devices can also poll, so it is optional.
	Notify NotifyConfig `json:"notify"`
	// NonceTTL is how long a nonce issued for a signed request stays
	// good: a Go duration from 5s to 10m (default 60s).
	NonceTTL string `json:"nonce_ttl"`
}

// NotifyConfig is the notification webhook: both or neither.
type NotifyConfig struct {
	// Webhook is the http(s) URL that receives each notice in a signed
	// POST.
	Webhook string `json:"webhook"`
	// Secret keys the webhook's Standard Webhooks signature, as a signal
	// webhook's secret does: "whsec_" and a base64 key of 24 to 64 bytes,
	// or any other text of at least 16 characters.
	Secret string `json:"secret"`
}

// Defaults and bounds of nonce_ttl.
const (
	DefaultNonceTTL = 60 * time.Second
	MinNonceTTL     = 5 * time.Second
	MaxNonceTTL     = 10 * time.Minute
)

// Settings are a validated configuration, with defaults filled in.
type Settings struct {
	// Webhook and WebhookKey are the notification webhook's URL and
	// signing key; an empty Webhook sends no notice.
	Webhook    string
	WebhookKey []byte
	// NonceTTL is how long a nonce stays good.
	NonceTTL time.Duration
	// Warnings are settings that work but are likely mistakes.
	Warnings []string
}

// ParseConfig decodes and validates a configuration, filling in defaults.
// Every problem is reported in one *sdk.ConfigError, at its path. No
// message holds the secret or a URL's credentials.
func ParseConfig(raw json.RawMessage) (Settings, error) {
	var c Config
	ps, err := configcheck.Decode(raw, &c)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{NonceTTL: DefaultNonceTTL}
	hook, hookProblems := webhook.Check("notify", c.Notify.Webhook, c.Notify.Secret)
	ps = append(ps, hookProblems...)
	s.Webhook, s.WebhookKey = hook.URL, hook.Key
	if hook.PlainHTTP {
		s.Warnings = append(s.Warnings, fmt.Sprintf("notify.webhook %s is plain http: who has a request to answer crosses the network in clear; use https", hook.Shown()))
	}
	if c.NonceTTL != "" {
		d, err := time.ParseDuration(c.NonceTTL)
		if err != nil || d < MinNonceTTL || d > MaxNonceTTL {
			ps.Add("nonce_ttl", "must be a duration from %s to %s such as 60s, not %q", MinNonceTTL, MaxNonceTTL, c.NonceTTL)
		} else {
			s.NonceTTL = d
		}
	}
	if err := ps.Err(); err != nil {
		return Settings{}, err
	}
	return s, nil
}
