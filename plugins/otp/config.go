package otp

import (
	"encoding/json"
	"fmt"

	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
	"github.com/portcullis-auth/portcullis/plugins/internal/webhook"
)

// Config is the plugin's `config:` section as written.
type Config struct {
	// Length is the number of characters of a code (default 6).
	Length int `json:"length"`
	// Alphabet holds the characters a code is drawn from (default the ten
	// digits): distinct printable ASCII characters, no space.
	Alphabet string `json:"alphabet"`
	// HashKey keys the hash of each code kept in a challenge's state: a
	// secret of at least 32 bytes, written as ${PORTCULLIS_OTP_KEY}.
	// Without it the plugin keeps a key of its own in the host's storage.
	HashKey string `json:"hash_key"`
	// Sender delivers the codes.
	Sender SenderConfig `json:"sender"`
	// Development allows sender.log.
	Development bool `json:"development"`
}

// SenderConfig says how codes reach users: a webhook, or the log.
type SenderConfig struct {
	// Webhook is the http(s) URL of the app's delivery service, which
	// receives each code in a signed POST.
	Webhook string `json:"webhook"`
	// Secret keys the webhook's Standard Webhooks signature, as a signal
	// webhook's secret does: "whsec_" and a base64 key of 24 to 64 bytes,
	// or any other text of at least 16 characters.
	Secret string `json:"secret"`
	// Log writes each code to the log: development only.
	Log bool `json:"log"`
}

// Defaults and bounds.
const (
	DefaultLength   = 6
	DefaultAlphabet = "0123456789"
	// MinCodes is the least number of different codes a length and an
	// alphabet must allow: six digits' worth, as NIST SP 800-63B asks of
	// a code sent out of band.
	MinCodes = 1_000_000
	// MaxLength bounds a code's length.
	MaxLength = 64
	// MinHashKeyBytes is the least length of hash_key.
	MinHashKeyBytes = 32
)

// Settings are a validated configuration, with defaults filled in.
type Settings struct {
	Length   int
	Alphabet string
	// HashKey is the configured key; nil means the stored one.
	HashKey []byte
	// Webhook and WebhookKey are the webhook sender's URL and signing key;
	// LogSender is set for the log sender instead.
	Webhook    string
	WebhookKey []byte
	LogSender  bool
	// Warnings are settings that work but are likely mistakes.
	Warnings []string
}

// problems collects configuration problems at their paths.
type problems = configcheck.Problems

// ParseConfig decodes and validates a configuration, filling in defaults.
// Every problem is reported in one *sdk.ConfigError, at its path. No
// message holds a secret or a URL's credentials.
func ParseConfig(raw json.RawMessage) (*Settings, error) {
	var c Config
	ps, err := configcheck.Decode(raw, &c)
	if err != nil {
		return nil, err
	}
	s := &Settings{Length: c.Length, Alphabet: c.Alphabet}
	s.code(c, &ps)
	if c.HashKey != "" {
		if len(c.HashKey) < MinHashKeyBytes {
			ps.Add("hash_key", "must be at least %d bytes, not %d (for instance 32 random bytes in base64: openssl rand -base64 32)", MinHashKeyBytes, len(c.HashKey))
		}
		s.HashKey = []byte(c.HashKey)
	}
	s.sender(c, &ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// code checks length and alphabet.
func (s *Settings) code(c Config, ps *problems) {
	if s.Length == 0 {
		s.Length = DefaultLength
	}
	if s.Alphabet == "" {
		s.Alphabet = DefaultAlphabet
	}
	lengthOK := s.Length >= 1 && s.Length <= MaxLength
	if !lengthOK {
		ps.Add("length", "must be 1 to %d, not %d", MaxLength, s.Length)
	}
	alphabetOK := true
	seen := map[byte]bool{}
	for i := range len(s.Alphabet) {
		ch := s.Alphabet[i]
		switch {
		case ch <= ' ' || ch > '~':
			ps.Add("alphabet", "must be printable ASCII characters without spaces; character %d is not", i+1)
			alphabetOK = false
		case seen[ch]:
			ps.Add("alphabet", "must not repeat a character; %q is repeated", ch)
			alphabetOK = false
		}
		if !alphabetOK {
			break
		}
		seen[ch] = true
	}
	if alphabetOK && len(s.Alphabet) < 2 {
		ps.Add("alphabet", "must have at least 2 characters")
		alphabetOK = false
	}
	if lengthOK && alphabetOK && !allows(len(s.Alphabet), s.Length, MinCodes) {
		path := "length"
		if c.Length == 0 {
			path = "alphabet"
		}
		ps.Add(path, "a code of %d characters of %d allows fewer than %d different codes; make it longer", s.Length, len(s.Alphabet), MinCodes)
	}
}

// allows reports whether n characters of an alphabet of size k make
// at least `least` different codes.
func allows(k, n, least int) bool {
	codes := 1
	for range n {
		codes *= k
		if codes >= least {
			return true
		}
	}
	return codes >= least
}

// sender checks the sender: exactly one of a webhook with its secret, and
// the log with development: true.
func (s *Settings) sender(c Config, ps *problems) {
	sc := c.Sender
	switch {
	case sc.Webhook != "" && sc.Log:
		ps.Add("sender", "webhook and log exclude each other: choose one")
	case sc.Webhook == "" && !sc.Log:
		ps.Add("sender", "is required: {webhook: URL, secret: ...}, or {log: true} in development")
	}
	hook, hookProblems := webhook.Check("sender", sc.Webhook, sc.Secret)
	*ps = append(*ps, hookProblems...)
	s.Webhook, s.WebhookKey = hook.URL, hook.Key
	if hook.PlainHTTP {
		s.Warnings = append(s.Warnings, fmt.Sprintf("sender.webhook %s is plain http: every code crosses the network in clear; use https", hook.Shown()))
	}
	if sc.Log {
		if !c.Development {
			ps.Add("sender.log", "writes every code to the log: it is for development only, and needs development: true")
		} else {
			s.LogSender = true
			s.Warnings = append(s.Warnings, "sender.log writes every one-time code to the log: for development only, never in production")
		}
	}
}
