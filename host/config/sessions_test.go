package config

import (
	"strings"
	"testing"
	"time"
)

// TestSessionsDefaults: the cookie is portcullis_session, host-only,
// SameSite=Lax, and Secure exactly when the issuer is https; sessions end
// after an idle hour and at most a day.
func TestSessionsDefaults(t *testing.T) {
	for issuer, secure := range map[string]bool{"": false, "http://auth.example": false, "https://auth.example": true} {
		raw := ""
		if issuer != "" {
			raw = "tokens: {issuer: " + issuer + "}\n"
		}
		s := mustParse(t, raw, nil).Sessions
		if s.CookieName != "portcullis_session" || s.CookieDomain != "" || s.SameSite != "lax" || s.Secure == nil || *s.Secure != secure ||
			s.IdleTimeout.D() != time.Hour || s.MaxLifetime.D() != 24*time.Hour {
			t.Errorf("issuer %q: sessions = %+v (secure %v); want the defaults, secure %v", issuer, s, deref(s.Secure), secure)
		}
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// TestSessionsCookieSettings: what a valid sessions block sets, read
// back as given.
func TestSessionsCookieSettings(t *testing.T) {
	for _, tt := range []struct {
		raw                    string
		name, domain, sameSite string
		secure                 bool
	}{
		{"sessions: {same_site: strict}\n", "portcullis_session", "", "strict", false},
		{"sessions: {same_site: none, secure: true}\n", "portcullis_session", "", "none", true},
		{"tokens: {issuer: https://auth.example}\nsessions: {same_site: none}\n", "portcullis_session", "", "none", true},
		{"sessions: {cookie_domain: example.com}\n", "portcullis_session", "example.com", "lax", false},
		{"tokens: {issuer: https://auth.example}\nsessions: {cookie_domain: example.com, secure: false}\n", "portcullis_session", "example.com", "lax", false},
		{"sessions: {cookie_name: __Host-pc, secure: true}\n", "__Host-pc", "", "lax", true},
		{"tokens: {issuer: https://auth.example}\nsessions: {cookie_name: __Host-pc}\n", "__Host-pc", "", "lax", true},
		{"sessions: {cookie_name: __Secure-pc, cookie_domain: example.com, secure: true}\n", "__Secure-pc", "example.com", "lax", true},
	} {
		s := mustParse(t, tt.raw, nil).Sessions
		if s.CookieName != tt.name || s.CookieDomain != tt.domain || s.SameSite != tt.sameSite || s.Secure == nil || *s.Secure != tt.secure {
			t.Errorf("%q: sessions = %+v (secure %v); want name %s, domain %q, same_site %s, secure %v",
				tt.raw, s, deref(s.Secure), tt.name, tt.domain, tt.sameSite, tt.secure)
		}
	}
}

// TestSessionsProblems: a cookie browsers would refuse or misapply is a
// config error at its path: SameSite=None without Secure, a __Secure- or
// __Host- name without Secure (also when Secure defaults to false under
// an http issuer), a __Host- name with a domain.
func TestSessionsProblems(t *testing.T) {
	for _, tt := range []struct {
		name  string
		raw   string
		wants []want
	}{
		{"none without secure", "sessions: {same_site: none, secure: false}\n", []want{{"sessions.same_site", "none needs sessions.secure: true"}}},
		{"none under an http issuer", "sessions: {same_site: none}\n", []want{{"sessions.same_site", "none needs sessions.secure: true"}}},
		{"none, https issuer, secure turned off", "tokens: {issuer: https://auth.example}\nsessions: {same_site: none, secure: false}\n",
			[]want{{"sessions.same_site", "none needs sessions.secure: true"}}},
		{"unknown same_site", "sessions: {same_site: relaxed}\n", []want{{"sessions.same_site", "must be strict, lax or none"}}},
		{"same_site in capitals", "sessions: {same_site: Strict}\n", []want{{"sessions.same_site", "must be strict, lax or none"}}},
		{"__Host- with a domain", "sessions: {cookie_name: __Host-pc, cookie_domain: example.com, secure: true}\n",
			[]want{{"sessions.cookie_domain", "must be empty for a __Host- cookie"}}},
		{"domain with a scheme", "sessions: {cookie_domain: 'https://example.com'}\n",
			[]want{{"sessions.cookie_domain", "must be a domain name such as example.com"}}},
		{"domain with a port", "sessions: {cookie_domain: 'example.com:8443'}\n",
			[]want{{"sessions.cookie_domain", "must be a domain name such as example.com"}}},
		{"domain with a path", "sessions: {cookie_domain: example.com/app}\n",
			[]want{{"sessions.cookie_domain", "must be a domain name such as example.com"}}},
		{"__Host- without secure", "sessions: {cookie_name: __Host-pc, secure: false}\n",
			[]want{{"sessions.secure", "must be true for a __Secure- or __Host- cookie"}}},
		{"__Host- under an http issuer", "sessions: {cookie_name: __Host-pc}\n",
			[]want{{"sessions.secure", "must be true for a __Secure- or __Host- cookie"}}},
		{"__Secure- without secure", "sessions: {cookie_name: __Secure-pc, secure: false}\n",
			[]want{{"sessions.secure", "must be true for a __Secure- or __Host- cookie"}}},
		{"a name with a space", "sessions: {cookie_name: my session}\n", []want{{"sessions.cookie_name", "must be 1 to 64"}}},
		{"a name with a semicolon", "sessions: {cookie_name: \"a;b\"}\n", []want{{"sessions.cookie_name", "must be 1 to 64"}}},
		{"a name too long", "sessions: {cookie_name: " + strings.Repeat("a", 65) + "}\n", []want{{"sessions.cookie_name", "must be 1 to 64"}}},
		{"secure not a bool", "sessions: {secure: yes please}\n", []want{{"sessions.secure", "must be true or false"}}},
		{"unknown key", "sessions: {cookie_path: /}\n", []want{{"sessions.cookie_path", "unknown key"}}},
		{"every mistake at once", "sessions: {cookie_name: __Host-pc, cookie_domain: example.com, same_site: none, secure: false, idle_timeout: -1s}\n",
			[]want{
				{"sessions.cookie_domain", "must be empty for a __Host- cookie"},
				{"sessions.secure", "must be true for a __Secure- or __Host- cookie"},
				{"sessions.same_site", "none needs sessions.secure: true"},
				{"sessions.idle_timeout", "must be > 0"},
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("test.yaml", []byte(tt.raw), (&env{}).lookup)
			if cfg != nil {
				t.Errorf("Parse returned a config alongside an error")
			}
			checkProblems(t, problems(t, err), tt.wants)
		})
	}
}
