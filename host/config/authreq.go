package config

import (
	"fmt"
	"slices"
	"time"
)

// AuthorizationRequests configures authorization requests
// (docs/authorization-requests.md).
type AuthorizationRequests struct {
	// Backends are the backends (by name) that prepare and check
	// requests' challenges. A request that names none is prepared by
	// the only one; with several, it must name one. Default: every
	// backend whose plugin is a first-party authorization-request
	// plugin ("otp", "mobiledevice").
	Backends []string `json:"backends"`
	// DefaultExpiration is how long a request waits when its creator
	// says nothing (default 1h); MaxExpiration bounds what a creator may
	// ask for (default 24h).
	DefaultExpiration Duration `json:"default_expiration"`
	MaxExpiration     Duration `json:"max_expiration"`
	// MaxWrongAnswers is how many wrong answers a request takes: the one
	// after them denies it (reason too_many_attempts). Default 5.
	MaxWrongAnswers int `json:"max_wrong_answers"`
	// Retention is how long a decided or expired request is kept before
	// it is deleted (default 7 days).
	Retention Duration `json:"retention"`
}

// authRequestPlugins are the first-party plugins that prepare and check
// authorization requests' challenges.
var authRequestPlugins = []string{"otp", "mobiledevice"}

func (a *AuthorizationRequests) applyDefaults(backends []Backend) {
	if a.Backends == nil {
		a.Backends = []string{}
		for _, b := range backends {
			if slices.Contains(authRequestPlugins, b.Plugin) {
				a.Backends = append(a.Backends, b.Name)
			}
		}
	}
	setDefault(&a.DefaultExpiration, time.Hour)
	setDefault(&a.MaxExpiration, 24*time.Hour)
	setDefault(&a.Retention, 7*24*time.Hour)
	if a.MaxWrongAnswers == 0 {
		a.MaxWrongAnswers = 5
	}
}

func (a *AuthorizationRequests) validate(backends []Backend) []Problem {
	var ps []Problem
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "authorization_requests." + path, Message: fmt.Sprintf(format, args...)})
	}
	for i, name := range a.Backends {
		if !slices.ContainsFunc(backends, func(b Backend) bool { return b.Name == name }) {
			fail(fmt.Sprintf("backends[%d]", i), "no backend named %q", name)
		}
		if slices.Contains(a.Backends[:i], name) {
			fail(fmt.Sprintf("backends[%d]", i), "%q is listed twice", name)
		}
	}
	if a.DefaultExpiration.D() <= 0 {
		fail("default_expiration", "must be > 0")
	}
	if a.MaxExpiration.D() < a.DefaultExpiration.D() {
		fail("max_expiration", "must be at least default_expiration (%s)", a.DefaultExpiration.D())
	}
	if a.MaxWrongAnswers < 1 || a.MaxWrongAnswers > 100 {
		fail("max_wrong_answers", "must be from 1 to 100")
	}
	if a.Retention.D() <= 0 {
		fail("retention", "must be > 0")
	}
	return ps
}
