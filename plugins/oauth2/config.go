package oauth2

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/internal/redact"
	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// Config is the plugin's `config:` section as written.
type Config struct {
	// Issuer is an OpenID Provider's issuer identifier: its endpoints and
	// keys are discovered from Issuer/.well-known/openid-configuration,
	// on first use. It excludes the explicit endpoints.
	Issuer string `json:"issuer"`
	// AuthURL, TokenURL and UserinfoURL are a plain OAuth2 provider's
	// endpoints, all three or none; who signed in is read from
	// UserinfoURL with the access token.
	AuthURL     string `json:"auth_url"`
	TokenURL    string `json:"token_url"`
	UserinfoURL string `json:"userinfo_url"`
	// ClientID and ClientSecret are the client's credentials at the
	// provider; the secret is written as ${ENV}.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// RedirectURL is the host's callback for this backend,
	// https://host/v1/oauth2/<backend>/callback; the host's own URL for
	// a flow wins over it.
	RedirectURL string `json:"redirect_url"`
	// Scopes are asked of the provider (default openid, email and
	// profile with an issuer, none otherwise).
	Scopes []string `json:"scopes"`
	// Claims names the claims the identity is read from.
	Claims ClaimsConfig `json:"claims"`
	// Roles maps a provider group to the local roles it gives.
	Roles map[string][]string `json:"roles"`
	// Provisioning is what the host does with an identity it has not
	// seen: link (default), create or deny.
	Provisioning string `json:"provisioning"`
	// Timeout bounds each call to the provider (default 10s).
	Timeout string `json:"timeout"`
}

// ClaimsConfig names the claims an identity is read from. Names are taken
// whole: a provider's namespaced claims ("https://example.com/groups")
// hold dots.
type ClaimsConfig struct {
	// Subject is the userinfo claim that identifies the user at a plain
	// OAuth2 provider (default "sub"; GitHub's is "id"). With an issuer
	// the subject is the ID token's sub, and this may not be set.
	Subject  string `json:"subject"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Groups   string `json:"groups"`
}

// Defaults and bounds.
const (
	DefaultTimeout       = 10 * time.Second
	MinTimeout           = 1 * time.Second
	MaxTimeout           = 2 * time.Minute
	DefaultSubjectClaim  = "sub"
	DefaultUsernameClaim = "preferred_username"
	DefaultEmailClaim    = "email"
	DefaultGroupsClaim   = "groups"
)

// DefaultScopes are the scopes asked of an OpenID Provider when the
// configuration names none.
var DefaultScopes = []string{"openid", "email", "profile"}

// Settings are a validated configuration, with defaults filled in.
type Settings struct {
	// Issuer is set for OpenID Connect; else AuthURL, TokenURL and
	// UserinfoURL are.
	Issuer      string
	AuthURL     string
	TokenURL    string
	UserinfoURL string

	ClientID     string
	ClientSecret string
	RedirectURL  string
	Scopes       []string
	Claims       ClaimsConfig
	// Roles maps a group to its local roles, each list sorted.
	Roles        map[string][]string
	Provisioning string
	Timeout      time.Duration
	// Warnings are settings that work but are likely mistakes.
	Warnings []string
}

// OIDC reports whether the settings name an OpenID Provider.
func (s Settings) OIDC() bool { return s.Issuer != "" }

// problems collects configuration problems at their paths.
type problems = configcheck.Problems

// ParseConfig decodes and validates a configuration, filling in defaults.
// Every problem is reported in one *sdk.ConfigError, at its path. No
// message holds the client secret or a URL's credentials or query.
func ParseConfig(raw json.RawMessage) (Settings, error) {
	var c Config
	var ps problems
	decoding, err := configcheck.Decode(raw, &c)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{ClientID: c.ClientID, ClientSecret: c.ClientSecret}
	s.endpoints(c, &ps)
	if c.ClientID == "" {
		ps.Add("client_id", "is required: the client's id at the provider")
	}
	if c.ClientSecret == "" {
		ps.Add("client_secret", "is required: the client's secret at the provider, written as ${ENV}")
	}
	if c.RedirectURL != "" {
		s.RedirectURL = s.checkURL(&ps, "redirect_url", c.RedirectURL, false)
	}
	s.scopes(c, &ps)
	s.claims(c, &ps)
	s.roles(c, &ps)
	switch c.Provisioning {
	case "":
		s.Provisioning = redirect.ProvisionLink
	case redirect.ProvisionLink, redirect.ProvisionCreate, redirect.ProvisionDeny:
		s.Provisioning = c.Provisioning
	default:
		ps.Add("provisioning", "must be %s, %s or %s, not %q", redirect.ProvisionLink, redirect.ProvisionCreate, redirect.ProvisionDeny, c.Provisioning)
	}
	s.Timeout = DefaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d < MinTimeout || d > MaxTimeout {
			ps.Add("timeout", "must be a duration from %s to %s such as 10s, not %q", MinTimeout, MaxTimeout, c.Timeout)
		} else {
			s.Timeout = d
		}
	}
	if err := decoding.With(ps).Err(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// endpoints checks that the provider is named exactly one way: an issuer,
// or the three explicit endpoints.
func (s *Settings) endpoints(c Config, ps *problems) {
	explicit := map[string]string{"auth_url": c.AuthURL, "token_url": c.TokenURL, "userinfo_url": c.UserinfoURL}
	named := 0
	for _, v := range explicit {
		if v != "" {
			named++
		}
	}
	switch {
	case c.Issuer != "" && named > 0:
		for _, path := range slices.Sorted(maps.Keys(explicit)) {
			if explicit[path] != "" {
				ps.Add(path, "excludes issuer: name the provider by its issuer (OpenID Connect discovery) or by auth_url, token_url and userinfo_url, not both")
			}
		}
	case c.Issuer != "":
		s.Issuer = s.checkURL(ps, "issuer", c.Issuer, true)
	case named == 0:
		ps.Add("issuer", "is required, or else auth_url, token_url and userinfo_url: the provider must be named one way")
	default:
		for _, path := range slices.Sorted(maps.Keys(explicit)) {
			if explicit[path] == "" {
				ps.Add(path, "is required with the other explicit endpoints (or name an issuer instead)")
			}
		}
		s.AuthURL = s.checkURL(ps, "auth_url", c.AuthURL, false)
		s.TokenURL = s.checkURL(ps, "token_url", c.TokenURL, true)
		s.UserinfoURL = s.checkURL(ps, "userinfo_url", c.UserinfoURL, true)
	}
}

// checkURL checks an absolute URL at path and returns it, or "" when it
// is absent or wrong. It must be https, or http to this machine (which
// is warned about: it is for development); it may not carry credentials
// or a fragment, nor a query when noQuery is set (an issuer, an endpoint
// the plugin calls). Messages show it redacted.
func (s *Settings) checkURL(ps *problems, path, raw string, noQuery bool) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		ps.Add(path, "must be an https URL; this one cannot be parsed (it is not shown: it may hold credentials)")
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "":
		ps.Add(path, "must be an https URL, not %q", redact.URL(raw))
	case u.User != nil:
		ps.Add(path, "must not hold credentials (%s)", redact.URL(raw))
	case u.Fragment != "" || strings.Contains(raw, "#"):
		ps.Add(path, "must not have a fragment (%s)", redact.URL(raw))
	case noQuery && (u.RawQuery != "" || u.ForceQuery):
		ps.Add(path, "must not have a query (%s)", redact.URL(raw))
	case u.Scheme == "http" && !loopback(u.Hostname()):
		ps.Add(path, "must be https: %s would carry codes and tokens in clear (http is allowed only to a loopback address, for development)", redact.URL(raw))
	case u.Scheme == "http":
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s %s is plain http: for development on this machine only", path, redact.URL(raw)))
		return raw
	default:
		return raw
	}
	return ""
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scopes checks the scopes: tokens without spaces, none twice, and
// openid among them with an issuer (without it there is no ID token).
func (s *Settings) scopes(c Config, ps *problems) {
	if c.Scopes == nil {
		if c.Issuer != "" {
			s.Scopes = slices.Clone(DefaultScopes)
		}
		return
	}
	seen := map[string]bool{}
	for i, sc := range c.Scopes {
		path := fmt.Sprintf("scopes[%d]", i)
		switch {
		case sc == "" || strings.ContainsFunc(sc, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r > '~' }):
			ps.Add(path, "must be a scope token: printable ASCII without spaces, quotes or backslashes")
		case seen[sc]:
			ps.Add(path, "%q is listed twice", sc)
		}
		seen[sc] = true
	}
	if c.Issuer != "" && !seen["openid"] {
		ps.Add("scopes", "must include openid with an issuer: without it the provider sends no ID token")
	}
	s.Scopes = slices.Clone(c.Scopes)
}

// claims fills in the claim names' defaults.
func (s *Settings) claims(c Config, ps *problems) {
	cl := c.Claims
	if cl.Subject != "" && c.Issuer != "" {
		ps.Add("claims.subject", "is for a plain OAuth2 provider: with an issuer the subject is the ID token's sub")
	}
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	s.Claims = ClaimsConfig{
		Subject:  def(cl.Subject, DefaultSubjectClaim),
		Username: def(cl.Username, DefaultUsernameClaim),
		Email:    def(cl.Email, DefaultEmailClaim),
		Groups:   def(cl.Groups, DefaultGroupsClaim),
	}
}

// roles checks the group-to-roles map: named groups, roles the host can
// hold.
func (s *Settings) roles(c Config, ps *problems) {
	s.Roles, _ = configcheck.Roles(ps, "roles", c.Roles)
}
