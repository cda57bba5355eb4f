package sdk

import (
	"context"
	"time"
)

// Authenticator is one link of the host's login chain.
//
// The host calls Authenticate for each login that reaches this backend, with
// a deadline in ctx. The response must set exactly one decision with Grant
// (success: the chain stops), Abstain (not mine: the next backend is asked)
// or Deny (stop the chain). A wrong password is a decision, not an error; a
// returned error means the backend could not decide, and the host refuses the
// login with 503 without counting it as a failure (unless the operator set
// the backend's on_error to skip). Implementations must be safe for
// concurrent use and keep no state between calls: what must outlive a call
// goes to the host's storage, or into the response's Memo.
type Authenticator interface {
	Authenticate(ctx context.Context, req *AuthenticateRequest, resp *AuthenticateResponse) error
}

// Client describes the end user's client as the host established it: the IP
// is the connection's peer unless a trusted proxy or an app vouched for
// another. Signals carry it under the same JSON names.
type Client struct {
	IP        string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
}

// AuthenticateRequest is one login attempt. It carries secrets: never log it.
type AuthenticateRequest struct {
	// RequestID identifies the login across backends, outcomes and signals.
	RequestID string
	Username  string
	Password  string
	// Credentials holds any other credentials the caller sent.
	Credentials map[string]string
	Client      Client
	// Path is the HTTP path the login arrived on.
	Path string
}

// Decision is a backend's answer to a login. The zero value is no decision:
// a response left unset makes the host fail closed.
type Decision int

// The decisions.
const (
	DecisionIdentity Decision = iota + 1
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
	// Roles are roles the backend vouches for (a directory's groups mapped
	// by its configuration). The host adds them to the roles its own user
	// table gives Subject, for the tokens and sessions of this login.
	// They are a set of role names (order and repeats do not matter), at
	// most 64, each 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-': the host
	// takes an identity that breaks these rules for no decision, and the
	// login fails (503) rather than getting other roles than meant.
	Roles []string
}

// ReasonInvalidCredentials is the reason for a wrong password or an unknown
// user. It is the only reason the host counts as a failed login (for
// lockouts); a deny with any other reason becomes 403 permission_denied
// with the reason in the body, and is not counted.
const ReasonInvalidCredentials = "invalid_credentials"

// AuthenticateResponse is filled in by an Authenticator. Use Grant, Abstain
// or Deny rather than setting Decision by hand.
type AuthenticateResponse struct {
	Decision Decision
	// Identity is set with DecisionIdentity.
	Identity Identity
	// Reason is a short machine-readable code (e.g. "invalid_credentials").
	// It goes into signals and error bodies: no secrets.
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
	// Memo is opaque to the host and handed back to this backend with the
	// login's outcome (see OutcomeObserver), so that a backend needs no
	// memory of its own between its answer and the outcome. At most 4 KiB;
	// no secrets.
	Memo []byte
}

// Grant sets the Identity decision.
func (r *AuthenticateResponse) Grant(id Identity) {
	*r = AuthenticateResponse{Decision: DecisionIdentity, Identity: id, Memo: r.Memo}
}

// Abstain sets the Abstain decision: this backend does not know the user or
// the credentials did not match (reason ReasonInvalidCredentials); the next
// backend is asked.
func (r *AuthenticateResponse) Abstain(reason string) {
	*r = AuthenticateResponse{Decision: DecisionAbstain, Reason: reason, Memo: r.Memo}
}

// Deny sets the Deny decision: the chain stops with reason.
func (r *AuthenticateResponse) Deny(reason string, retryAfter time.Duration) {
	*r = AuthenticateResponse{Decision: DecisionDeny, Reason: reason, RetryAfter: retryAfter, Memo: r.Memo}
}
