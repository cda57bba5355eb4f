package config

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Sessions configures browser sessions (POST /v1/session) and their
// cookie.
type Sessions struct {
	// CookieName is the cookie's name (default portcullis_session).
	CookieName string `json:"cookie_name"`
	// CookieDomain lets subdomains share the cookie; empty (the default)
	// keeps it to the host that set it.
	CookieDomain string `json:"cookie_domain"`
	// SameSite is strict, lax (the default) or none (which needs secure).
	SameSite string `json:"same_site"`
	// Secure marks the cookie HTTPS-only. Default: true when tokens.issuer
	// is an https URL.
	Secure *bool `json:"secure"`
	// IdleTimeout ends a session not used for that long (default 1h).
	IdleTimeout Duration `json:"idle_timeout"`
	// MaxLifetime ends a session however much it is used (default 24h).
	MaxLifetime Duration `json:"max_lifetime"`
	// TrustedOrigins may send cookie-authenticated writes besides the
	// host's own origin (the issuer's and the request's own): the origins
	// of the app pages that log users in, such as https://app.example.com.
	TrustedOrigins []string `json:"trusted_origins"`
}

// ForwardAuth configures GET /v1/forward-auth.
type ForwardAuth struct {
	// LoginURL, when set, is where a browser (Accept: text/html) without a
	// valid session is sent, with the original URL in the rd parameter.
	LoginURL string `json:"login_url"`
}

var cookieName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]{1,64}$`)

func (s *Sessions) applyDefaults(issuer string) {
	if s.CookieName == "" {
		s.CookieName = "portcullis_session"
	}
	if s.SameSite == "" {
		s.SameSite = "lax"
	}
	if s.Secure == nil {
		secure := strings.HasPrefix(issuer, "https://")
		s.Secure = &secure
	}
	setDefault(&s.IdleTimeout, time.Hour)
	setDefault(&s.MaxLifetime, 24*time.Hour)
}

func (s *Sessions) validate() []Problem {
	var ps []Problem
	fail := func(path, msg string) { ps = append(ps, Problem{Path: path, Message: msg}) }
	if !cookieName.MatchString(s.CookieName) {
		fail("sessions.cookie_name", "must be 1 to 64 letters, digits or !#$%&'*+.^_`|~-")
	}
	if strings.HasPrefix(s.CookieName, "__Host-") && s.CookieDomain != "" {
		fail("sessions.cookie_domain", "must be empty for a __Host- cookie")
	} else if s.CookieDomain != "" && (&http.Cookie{Name: "n", Domain: s.CookieDomain}).Valid() != nil {
		// net/http would drop such a domain from every cookie without a
		// word, making the cookie the host's alone.
		fail("sessions.cookie_domain", "must be a domain name such as example.com (no scheme, port or path)")
	}
	if strings.HasPrefix(s.CookieName, "__Secure-") || strings.HasPrefix(s.CookieName, "__Host-") {
		if s.Secure != nil && !*s.Secure {
			fail("sessions.secure", "must be true for a __Secure- or __Host- cookie")
		}
	}
	switch s.SameSite {
	case "strict", "lax":
	case "none":
		if s.Secure != nil && !*s.Secure {
			fail("sessions.same_site", "none needs sessions.secure: true (browsers refuse it otherwise)")
		}
	default:
		fail("sessions.same_site", "must be strict, lax or none")
	}
	if s.IdleTimeout <= 0 {
		fail("sessions.idle_timeout", "must be > 0")
	}
	if s.MaxLifetime <= 0 {
		fail("sessions.max_lifetime", "must be > 0")
	}
	for i, o := range s.TrustedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			fail(fmt.Sprintf("sessions.trusted_origins[%d]", i), "must be an origin such as https://app.example.com (scheme and host, no path)")
		}
	}
	return ps
}

func (f *ForwardAuth) validate() []Problem {
	if f.LoginURL == "" {
		return nil
	}
	if u, err := url.Parse(f.LoginURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return []Problem{{Path: "forward_auth.login_url", Message: "must be an absolute http(s) URL"}}
	}
	return nil
}
