package config

import (
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

// Tokens configures the tokens a login returns.
type Tokens struct {
	// Issuer is the access tokens' iss, and the base of the URLs in
	// /.well-known/openid-configuration: the URL apps reach the host at.
	// Default: http:// and the listen address.
	Issuer string `json:"issuer"`
	// Audience is the access tokens' aud (default "portcullis"); apps
	// verifying tokens check it.
	Audience string `json:"audience"`
	// Algorithm signs access tokens: EdDSA (Ed25519, the default), ES256
	// or RS256. Changing it makes a new key at the next start; tokens of
	// the old key verify until they expire.
	Algorithm string `json:"algorithm"`
	// KeyEncryptionKeyFile holds the key that encrypts the signing keys at
	// rest (32 bytes, base64), used when $PORTCULLIS_KEY_ENCRYPTION_KEY is
	// unset. Default: key-encryption-key in the data directory, made on
	// first start.
	KeyEncryptionKeyFile string   `json:"key_encryption_key_file"`
	AccessTTL            Duration `json:"access_ttl"`
	RefreshTTL           Duration `json:"refresh_ttl"`
	// RefreshMaxLifetime is a session's absolute lifetime: refreshing
	// never carries it further.
	RefreshMaxLifetime Duration `json:"refresh_max_lifetime"`
	// RetainEnded is how long a token is kept after it expired or its
	// family was revoked, before it is purged (storage.PurgeTokens). Until
	// then a replayed refresh token is still recognised as reused (and
	// revokes its family, if anything in it is live); after it, the token
	// is unknown, which refuses it just the same.
	RetainEnded Duration `json:"retain_ended"`
}

// DefaultAudience is tokens.audience when the configuration sets none.
const DefaultAudience = "portcullis"

func (t *Tokens) applyDefaults(listen string) {
	if t.Issuer == "" {
		t.Issuer = defaultIssuer(listen)
	}
	if t.Audience == "" {
		t.Audience = DefaultAudience
	}
	if t.Algorithm == "" {
		t.Algorithm = accesstoken.EdDSA
	}
	setDefault(&t.AccessTTL, 15*time.Minute)
	setDefault(&t.RefreshTTL, 30*24*time.Hour)
	setDefault(&t.RefreshMaxLifetime, 90*24*time.Hour)
	setDefault(&t.RetainEnded, 7*24*time.Hour)
}

// defaultIssuer is http://listen, with localhost for an address that
// listens on every interface.
func defaultIssuer(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// validate reports the problems of the tokens section; a default issuer
// made from a bad listen address is listen's problem, not the issuer's.
func (t *Tokens) validate(listen string) []Problem {
	var ps []Problem
	fail := func(path, msg string) { ps = append(ps, Problem{Path: path, Message: msg}) }
	if t.Issuer != defaultIssuer(listen) && !issuerURL(t.Issuer) {
		fail("tokens.issuer", "must be an http(s) URL without query or fragment, such as https://auth.example.com")
	}
	if !slices.Contains(accesstoken.Algorithms, t.Algorithm) {
		fail("tokens.algorithm", "must be one of EdDSA, ES256, RS256")
	}
	for _, d := range []struct {
		path string
		v    Duration
	}{
		{"tokens.access_ttl", t.AccessTTL}, {"tokens.refresh_ttl", t.RefreshTTL},
		{"tokens.refresh_max_lifetime", t.RefreshMaxLifetime}, {"tokens.retain_ended", t.RetainEnded},
	} {
		if d.v <= 0 {
			fail(d.path, "must be > 0")
		}
	}
	return ps
}

func issuerURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
