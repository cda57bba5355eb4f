package oauthflow

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// sessionTokenLabel binds a sealed upstream refresh token to the backend
// and the local user (the session's subject) it was issued for, so that a
// sealed token copied to another user's session row does not open.
func sessionTokenLabel(backend, subject string) string {
	return "oauth2 session refresh token " + backend + "\x00" + subject
}

// Refresh implements tokens.Upstream: it renews, at the provider, the
// refresh token a session an OAuth2 sign-in started keeps (sealed), and
// returns the provider's new refresh token sealed (nil when the provider
// did not rotate it) and when its new access token expires.
//
// Only a refusal of the grant itself (invalid_grant: the token was
// revoked, the user disabled at the provider, the grant expired) is an
// error wrapping tokens.ErrUpstreamRefused, which ends the session. A
// token that does not open for this session is one too: it was not sealed
// for it, and no provider will take it. Anything else (the backend or the
// provider is down, slow, or answers an error of its own, or the client
// is misconfigured) is ErrUnavailable: it is not the user's say-so, and
// ending sessions for it would turn an outage into a wave of logouts.
func (s *Service) Refresh(ctx context.Context, sess storage.Session) ([]byte, time.Time, error) {
	backend := sess.Upstream.Backend
	b, ok := s.opts.Backends[backend]
	if !ok {
		return nil, time.Time{}, fmt.Errorf("no OAuth2 backend %q is running: %w", backend, ErrUnavailable)
	}
	label := sessionTokenLabel(backend, sess.Subject)
	plain, err := s.opts.Sealer.OpenSecret(label, sess.Upstream.RefreshToken)
	if err != nil || len(plain) == 0 {
		s.opts.Logger.Warn("a session's provider refresh token does not open: it was not sealed for this session",
			"backend", backend, "session_id", sess.ID)
		return nil, time.Time{}, fmt.Errorf("%w: the stored refresh token does not open for this session", tokens.ErrUpstreamRefused)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	resp, err := b.Refresh(cctx, &redirect.RefreshRequest{RefreshToken: string(plain)})
	if err != nil || resp == nil {
		s.opts.Logger.Warn("an OAuth2 backend could not refresh a session's provider tokens", "backend", backend, "session_id", sess.ID, "error", err)
		return nil, time.Time{}, fmt.Errorf("backend %q: %w", backend, ErrUnavailable)
	}
	if resp.Failure != "" {
		typ := clip(resp.Failure, 64)
		if resp.Failure == redirect.FailureInvalidGrant {
			return nil, time.Time{}, fmt.Errorf("%w: %s", tokens.ErrUpstreamRefused, typ)
		}
		return nil, time.Time{}, fmt.Errorf("backend %q: the provider did not refresh (%s): %w", backend, typ, ErrUnavailable)
	}
	var sealed []byte
	if resp.RefreshToken != "" && resp.RefreshToken != string(plain) {
		sealed = s.opts.Sealer.SealSecret(label, []byte(resp.RefreshToken))
	}
	return sealed, resp.Expiry, nil
}

// Interface guard.
var _ tokens.Upstream = (*Service)(nil)
