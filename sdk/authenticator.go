package sdk

import (
	"context"
	"time"
)

// Authenticator is one link of the host's login chain.
//
// The host calls Authenticate for each login that reaches this backend, with
// a deadline in ctx. The response must set exactly one decision: Identity
// (success: the chain stops), Abstain (not mine: the next backend is asked)
// or Deny (stop the chain). A wrong password is a decision, not an error; a
// returned error means the backend could not decide, and the host refuses the
// login with 503 without counting it as a failure. Implementations must be
// safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, req *AuthenticateRequest, resp *AuthenticateResponse) error
}

// Client describes the end user's client as the host established it: the IP
// is the connection's peer unless a trusted proxy vouched for another.
type Client struct {
	IP        string
	UserAgent string
}

// AuthenticateRequest is one login attempt. It carries secrets: never log it.
type AuthenticateRequest struct {
	// RequestID identifies the login across backends and signals.
	RequestID string
	Username  string
	Password  string
	// Credentials holds any other credentials the caller sent.
	Credentials map[string]string
	Client      Client
	// Path is the HTTP path the login arrived on.
	Path string
}

// Decision is a backend's answer to a login.
type Decision int

// The decisions. The zero value is not a decision: a response left unset
// makes the host fail closed.
const (
	DecisionUnset Decision = iota
	DecisionIdentity
	DecisionAbstain
	DecisionDeny
)

func (d Decision) String() string {
	switch d {
	case DecisionIdentity:
		return "identity"
	case DecisionAbstain:
		return "abstain"
	case DecisionDeny:
		return "deny"
	}
	return "unset"
}

// Identity is who a successful login proved to be.
type Identity struct {
	// Subject is the stable user id.
	Subject string
	// Username is the name the user logged in with.
	Username string
	// Attributes are extra claims about the user.
	Attributes map[string]string
}

// Reason codes with a meaning to the host. Backends may use others; a deny
// with any other reason becomes 403 permission_denied.
const (
	// ReasonInvalidCredentials: wrong password or unknown user.
	ReasonInvalidCredentials = "invalid_credentials"
	// ReasonLockedOut: the client is locked out (429 with Retry-After).
	ReasonLockedOut = "locked_out"
	// ReasonPermissionDenied: the backend refuses this login.
	ReasonPermissionDenied = "permission_denied"
)

// AuthenticateResponse is filled in by an Authenticator. Use Grant, Abstain
// or Deny rather than setting the fields by hand.
type AuthenticateResponse struct {
	Decision Decision
	// Identity is set with DecisionIdentity.
	Identity Identity
	// Reason is a short machine-readable code (e.g. "invalid_credentials",
	// "locked_out"). It goes into signals and error bodies: no secrets.
	Reason string
	// RetryAfter, with a deny, tells the client when trying again can help.
	RetryAfter time.Duration
	// Details, with a deny, are extra fields for the JSON error body.
	Details map[string]any
	// HTTPStatus, with a deny, asks for a status: 401, 403 or 429. Zero lets
	// the host choose from the reason.
	HTTPStatus int
	// Description, with a deny, is the human-readable error_description.
	Description string
	// Shortcut, with a deny, lets the host answer repeats of this attempt
	// without asking the backend (see Shortcut). Optional.
	Shortcut *Shortcut
}

// Shortcut is a backend's promise about repeats of an attempt it denied:
// for the same username, client IP and user agent, for TTL, the answer is
// this same deny as long as, after counting the repeat, the highest of
// Counters is above Above (and below Below, when Below is set). The host
// then answers such repeats itself, which saves the round trip to the
// plugin on a path an attacker can hammer. For each repeat, the host
// increments every one of Counters (keys in this plugin instance's
// storage) by one, keeping a live counter's expiry (a counter it creates
// gets Renew as its window); when the promise holds it renews the expiry of
// the counters that hold it to Renew (when set) and answers with the deny,
// whose details["failure_count"] becomes the highest count, so every repeat
// is counted before the answer, as the backend would have counted it. As
// soon as the promise does not hold (a reset, an expiry, a higher tier
// reached) the host takes back its increments, leaving expiries alone, and
// asks the backend again. A host may ignore a shortcut.
type Shortcut struct {
	TTL      time.Duration
	Counters []string
	Above    int64
	Below    int64
	Renew    time.Duration
}

// Grant sets the Identity decision.
func (r *AuthenticateResponse) Grant(id Identity) {
	*r = AuthenticateResponse{Decision: DecisionIdentity, Identity: id}
}

// Abstain sets the Abstain decision: this backend does not know the user or
// the credentials did not match; the next backend is asked.
func (r *AuthenticateResponse) Abstain(reason string) {
	*r = AuthenticateResponse{Decision: DecisionAbstain, Reason: reason}
}

// Deny sets the Deny decision: the chain stops with reason.
func (r *AuthenticateResponse) Deny(reason string, retryAfter time.Duration) {
	*r = AuthenticateResponse{Decision: DecisionDeny, Reason: reason, RetryAfter: retryAfter}
}
