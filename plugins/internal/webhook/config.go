package webhook

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/portcullis-auth/portcullis/internal/redact"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Target is a webhook as a plugin's configuration names it, checked.
type Target struct {
	// URL is the webhook's URL, empty when the configuration names none.
	URL string
	// Key is the HMAC key the secret stands for (Key).
	Key []byte
	// PlainHTTP is set for an http URL to another machine: what the
	// webhook carries crosses the network in clear, which a plugin warns
	// about.
	PlainHTTP bool
}

// Shown is the URL as a message may show it (redact.URL).
func (t Target) Shown() string { return redact.URL(t.URL) }

// Check checks the webhook URL and secret a configuration holds at
// path.webhook and path.secret: both or neither. The URL must be http or
// https with a host; the secret is Key's. Each problem is at its path, and
// none quotes the secret or the URL's credentials or query. A Target
// without URL and no problem means the configuration names no webhook.
func Check(path, rawURL, secret string) (Target, []sdk.FieldError) {
	var ps []sdk.FieldError
	add := func(field, format string, args ...any) {
		ps = append(ps, sdk.FieldError{Path: path + "." + field, Message: fmt.Sprintf(format, args...)})
	}
	if rawURL == "" {
		if secret != "" {
			add("secret", "is only for a webhook")
		}
		return Target{}, ps
	}
	t := Target{URL: rawURL}
	// The URL may hold credentials: a problem shows it redacted.
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		add("webhook", "must be an http or https URL; this one cannot be parsed (it is not shown: it may hold credentials)")
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		add("webhook", "must be an http or https URL, not %q", redact.URL(rawURL))
	case u.Scheme == "http" && !loopback(u.Hostname()):
		t.PlainHTTP = true
	}
	if secret == "" {
		add("secret", "is required for a webhook (use ${ENV})")
	} else if key, err := Key(secret); err != nil {
		add("secret", "%v", err)
	} else {
		t.Key = key
	}
	return t, ps
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// The webhook secret's forms: the Standard Webhooks one, "whsec_" and a
// base64 key, or any other text, which is the key itself. The rules are
// the host's signal webhooks' (host/signals/webhooksig), so that one
// secret works for both.
const (
	SecretPrefix  = "whsec_"
	MinKeyBytes   = 24
	MaxKeyBytes   = 64
	MinSecretText = 16
)

// Key returns the HMAC key a webhook secret stands for. Its errors never
// hold the secret.
func Key(secret string) ([]byte, error) {
	encoded, standard := strings.CutPrefix(secret, SecretPrefix)
	if !standard {
		if len(secret) < MinSecretText {
			return nil, fmt.Errorf("must be at least %d characters (or %s and a base64 key)", MinSecretText, SecretPrefix)
		}
		return []byte(secret), nil
	}
	// The decoder skips line breaks; a secret must not hold any.
	key, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil || strings.ContainsAny(encoded, "\r\n") {
		return nil, fmt.Errorf("after %s must come the key in standard base64, with padding", SecretPrefix)
	}
	if len(key) < MinKeyBytes || len(key) > MaxKeyBytes {
		return nil, fmt.Errorf("the key after %s must be %d to %d bytes, not %d", SecretPrefix, MinKeyBytes, MaxKeyBytes, len(key))
	}
	return key, nil
}
