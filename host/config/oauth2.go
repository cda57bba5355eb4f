package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// OAuth2 configures sign-ins with external providers (docs/oauth2.md):
// the host's side of every backend whose plugin is a redirect
// authenticator (the oauth2 plugin, configured in its backend entry).
type OAuth2 struct {
	// ReturnOrigins are the origins (scheme://host[:port]) a sign-in may
	// send the browser back to with return_to; a path on the host itself
	// is always allowed. Nothing else is, so that the host is no open
	// redirect.
	ReturnOrigins []string `json:"return_origins"`
	// FlowTTL is how long a browser has between start and callback
	// (default 10m).
	FlowTTL Duration `json:"flow_ttl"`
}

func (o *OAuth2) applyDefaults() {
	setDefault(&o.FlowTTL, 10*time.Minute)
}

func (o *OAuth2) validate() []Problem {
	var ps []Problem
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "oauth2." + path, Message: fmt.Sprintf(format, args...)})
	}
	for i, o := range o.ReturnOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(o, "*") {
			fail(fmt.Sprintf("return_origins[%d]", i), "must be an origin such as https://app.example.com, not %q", o)
		}
	}
	if o.FlowTTL.D() < 30*time.Second || o.FlowTTL.D() > time.Hour {
		fail("flow_ttl", "must be from 30s to 1h")
	}
	return ps
}
