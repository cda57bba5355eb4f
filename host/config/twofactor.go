package config

import (
	"fmt"
	"slices"
	"time"
)

// TwoFactor configures two-factor logins (docs/authorization-requests.md).
type TwoFactor struct {
	// Required is "none" (the default: one factor), "all": every login
	// whose password is right is answered 202 with a 2FA authorization
	// request, and completed with its code at POST /v1/login/2fa, or
	// "enrolled": only the logins of users who enrolled an authenticator
	// app (TOTP).
	Required string `json:"required"`
	// Backend is the authorization-request backend that makes and checks
	// the codes; default: the only one of authorization_requests.backends.
	Backend string `json:"backend"`
	// Expiration is how long the code of a two-factor login is good for
	// (default 5m).
	Expiration Duration `json:"expiration"`
}

// The values of two_factor.required.
const (
	TwoFactorNone     = "none"
	TwoFactorAll      = "all"
	TwoFactorEnrolled = "enrolled"
)

func (t *TwoFactor) applyDefaults(authBackends []string) {
	if t.Required == "" {
		t.Required = TwoFactorNone
	}
	if t.Backend == "" && len(authBackends) == 1 {
		t.Backend = authBackends[0]
	}
	setDefault(&t.Expiration, 5*time.Minute)
}

func (t *TwoFactor) validate(authBackends []string) []Problem {
	var ps []Problem
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "two_factor." + path, Message: fmt.Sprintf(format, args...)})
	}
	switch t.Required {
	case TwoFactorNone:
		if t.Backend != "" && !slices.Contains(authBackends, t.Backend) {
			fail("backend", "%q is not one of authorization_requests.backends", t.Backend)
		}
		return ps
	case TwoFactorAll, TwoFactorEnrolled:
	default:
		fail("required", "must be none, all or enrolled")
	}
	switch {
	case t.Backend == "" && len(authBackends) == 0:
		fail("backend", "a two-factor login needs an authorization-request backend (an otp backend in backends)")
	case t.Backend == "":
		fail("backend", "name one of authorization_requests.backends")
	case !slices.Contains(authBackends, t.Backend):
		fail("backend", "%q is not one of authorization_requests.backends", t.Backend)
	}
	if t.Expiration.D() < 10*time.Second || t.Expiration.D() > time.Hour {
		fail("expiration", "must be from 10s to 1h")
	}
	return ps
}
