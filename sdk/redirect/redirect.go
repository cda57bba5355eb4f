// Package redirect holds the redirect-authenticator capability: a backend
// that signs users in through a browser redirect to an external provider
// (OAuth2's authorization code flow with PKCE, OpenID Connect), and
// refreshes the provider's tokens.
//
// The host owns the flow: it makes the state, binds it to the browser
// with a cookie, keeps it in its database (so that any host of a cluster
// can finish the flow), derives the PKCE verifier and the OIDC nonce from
// secrets it never stores, checks the callback, maps the identity to a
// local user and starts the session. A backend only builds the
// provider's URL, exchanges a code and reads an identity, and refreshes
// tokens. It keeps nothing between the calls.
package redirect

import (
	"context"
	"time"
)

// Authenticator is the capability. A plugin value that implements it is
// served as a redirect authenticator by sdk.Serve.
type Authenticator interface {
	// Begin builds the URL of the provider's authorization endpoint the
	// browser is sent to.
	Begin(ctx context.Context, req *BeginRequest) (*BeginResponse, error)
	// Complete exchanges the code the provider sent back for tokens and
	// reads who signed in. A refusal by the provider or an identity that
	// does not verify is a Failure, not an error; an error means the
	// backend could not decide.
	Complete(ctx context.Context, req *CompleteRequest) (*CompleteResponse, error)
	// Refresh uses an upstream refresh token Complete returned.
	Refresh(ctx context.Context, req *RefreshRequest) (*RefreshResponse, error)
}

// BeginRequest is what the provider's URL must carry.
type BeginRequest struct {
	// State is the flow's state, which the provider sends back.
	State string
	// RedirectURL is the host's callback for this backend.
	RedirectURL string
	// CodeChallenge is the PKCE S256 challenge of the flow's verifier.
	CodeChallenge string
	// Nonce is the OpenID Connect nonce the ID token must carry.
	Nonce string
}

// BeginResponse is the provider's URL.
type BeginResponse struct {
	URL string
}

// CompleteRequest is a callback's code. It carries secrets: never log it.
type CompleteRequest struct {
	RedirectURL  string
	Code         string
	CodeVerifier string
	// Nonce is the nonce Begin was given.
	Nonce string
}

// Failure types: why a provider did not vouch for a user. They are the
// error_type of the oauth2_token_fetch_failed signal (lback's values).
const (
	FailureInvalidGrant   = "invalid_grant"
	FailureTimeout        = "timeout"
	FailureUnreachable    = "connection_error"
	FailureInvalidIDToken = "invalid_id_token"
	FailureNoIdentity     = "no_identity"
	// An HTTP error of the provider is "http_error_<status>".
)

// CompleteResponse is who signed in, or why nobody did.
type CompleteResponse struct {
	// Identity is set when the provider vouched for a user.
	Identity *Identity
	// Failure says why not (see the Failure constants), and Description
	// says it for people; no secret in either.
	Failure     string
	Description string
	// RefreshToken is the provider's refresh token, if it gave one: a
	// secret the host keeps encrypted. Expiry is when the provider's
	// access token expires.
	RefreshToken string
	Expiry       time.Time
}

// Identity is what the provider says of the user, mapped by the
// backend's configuration.
type Identity struct {
	// Subject identifies the user at the provider, stably (issuer and
	// subject).
	Subject       string
	Username      string
	Email         string
	EmailVerified bool
	// Roles are the provider's groups mapped to local roles.
	Roles []string
	// Provisioning is what the backend's configuration says to do with a
	// first-time identity: "link", "create" or "deny".
	Provisioning string
}

// The provisioning policies.
const (
	ProvisionLink   = "link"
	ProvisionCreate = "create"
	ProvisionDeny   = "deny"
)

// RefreshRequest carries an upstream refresh token: a secret.
type RefreshRequest struct {
	RefreshToken string
}

// RefreshResponse is the refreshed tokens, or why not.
type RefreshResponse struct {
	// RefreshToken replaces the old one when the provider rotated it
	// (empty: keep the old one).
	RefreshToken string
	Expiry       time.Time
	Failure      string
	Description  string
}
