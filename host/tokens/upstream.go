package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Upstream refreshes the tokens of the external provider that signed a
// session's user in (an OAuth2 sign-in); oauthflow.Service is one. A
// refresh of such a session asks it once the provider's access token has
// expired, so that the session lasts no longer than the provider vouches
// for the user.
type Upstream interface {
	// Refresh trades the session's upstream refresh token
	// (sess.Upstream.RefreshToken, sealed) at the provider. It returns the
	// provider's new refresh token, sealed, or nil when the provider did
	// not rotate it, and when the provider's new access token expires
	// (zero: the provider did not say). An error wrapping
	// ErrUpstreamRefused means the provider refused: it no longer vouches
	// for the user. Any other error means the provider could not be asked.
	Refresh(ctx context.Context, sess storage.Session) (sealed []byte, expiry time.Time, err error)
}

// Errors of a refresh of a session an external provider signed in.
var (
	// ErrUpstreamRefused: the provider refused to refresh its tokens (the
	// user was disabled there, or the grant revoked). Upstream.Refresh
	// returns it; Issuer.Refresh then revokes the session and returns an
	// *UpstreamEndedError.
	ErrUpstreamRefused = errors.New("the provider that signed the user in refused to refresh its tokens")
	// ErrUpstreamUnavailable: the provider could not be asked (it, or the
	// backend that speaks to it, is down or failed). Nothing changed: the
	// session stands and the refresh token was not used, so the client
	// may try again.
	ErrUpstreamUnavailable = errors.New("the provider that signed the user in could not be asked")
)

// UpstreamEndedError is returned by Refresh for a session whose provider
// no longer vouches for its user: the session has been revoked. Both
// errors.Is(err, ErrInvalidToken) and errors.Is(err, ErrUpstreamRefused)
// hold for it.
type UpstreamEndedError struct {
	Session storage.Session
	// Reason says why, for logs: ReasonUpstreamRefused or
	// ReasonUpstreamExpired.
	Reason string
	// Revoked is set when this refresh revoked the session (it was not
	// revoked already by a concurrent one).
	Revoked bool
	err     error
}

// The reasons of an UpstreamEndedError.
const (
	// ReasonUpstreamRefused: the provider refused the refresh.
	ReasonUpstreamRefused = "upstream_refused"
	// ReasonUpstreamExpired: the provider's access token expired and it
	// gave no refresh token to renew it with.
	ReasonUpstreamExpired = "upstream_expired"
)

func (e *UpstreamEndedError) Error() string {
	if e.err != nil {
		return "the session has ended: " + e.err.Error()
	}
	return "the session has ended: the provider's access token expired and it gave no refresh token"
}

func (e *UpstreamEndedError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrUpstreamRefused, ErrInvalidToken, e.err}
	}
	return []error{ErrUpstreamRefused, ErrInvalidToken}
}

// upstreamKey carries a sign-in's Upstream from the OAuth2 callback to
// Issue or StartCookieSession.
type upstreamKey struct{}

// WithUpstream returns ctx carrying up, the provider that signed in the
// login whose session Issue or StartCookieSession starts with ctx. Only
// the OAuth2 callback sets it.
func WithUpstream(ctx context.Context, up storage.Upstream) context.Context {
	return context.WithValue(ctx, upstreamKey{}, up)
}

// UpstreamFrom returns the Upstream WithUpstream put in ctx.
func UpstreamFrom(ctx context.Context) (storage.Upstream, bool) {
	up, ok := ctx.Value(upstreamKey{}).(storage.Upstream)
	return up, ok && up.Backend != ""
}

// checkUpstream asks the provider that signed sess in whether it still
// vouches for the user, before the refresh token is used: only once the
// provider's access token has expired (providers limit how often they are
// asked), or at every refresh when the provider gave a refresh token but
// no expiry, and never for a session no provider signed in. On success the
// session's upstream tokens are stored and sess updated; a refusal
// revokes the session.
func (i *Issuer) checkUpstream(ctx context.Context, sess *storage.Session, now time.Time) error {
	up := sess.Upstream
	if !up.Expiry.IsZero() && now.Before(up.Expiry) {
		return nil
	}
	if len(up.RefreshToken) == 0 {
		if up.Expiry.IsZero() {
			// The provider gave neither an expiry nor a way to renew:
			// there is nothing to ask, and the session's own lifetime
			// bounds it.
			return nil
		}
		// The provider's say-so ended with its access token, and there
		// is no refresh token to renew it with.
		return i.endForUpstream(ctx, *sess, ReasonUpstreamExpired, nil)
	}
	if i.opts.Upstream == nil {
		return fmt.Errorf("%w: no OAuth2 backend is running to refresh backend %q's tokens", ErrUpstreamUnavailable, up.Backend)
	}
	sealed, expiry, err := i.opts.Upstream.Refresh(ctx, *sess)
	switch {
	case errors.Is(err, ErrUpstreamRefused):
		return i.endForUpstream(ctx, *sess, ReasonUpstreamRefused, err)
	case err != nil:
		return fmt.Errorf("%w: backend %q: %w", ErrUpstreamUnavailable, up.Backend, err)
	}
	if err := i.store.SetSessionUpstream(ctx, sess.ID, sealed, expiry); errors.Is(err, sdk.ErrNotFound) {
		return fmt.Errorf("%w: the session has ended", ErrInvalidToken)
	} else if err != nil {
		return err
	}
	if sealed != nil {
		sess.Upstream.RefreshToken = sealed
	}
	sess.Upstream.Expiry = expiry
	return nil
}

// endForUpstream revokes a session whose provider no longer vouches for
// its user, as a reused refresh token revokes its session.
func (i *Issuer) endForUpstream(ctx context.Context, sess storage.Session, reason string, cause error) error {
	n, err := i.store.RevokeFamily(ctx, sess.ID)
	if err != nil {
		return err
	}
	return &UpstreamEndedError{Session: sess, Reason: reason, Revoked: n > 0, err: cause}
}
