package tokens

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// CookieOptions configure browser sessions.
type CookieOptions struct {
	// IdleTimeout ends a session not used for that long.
	IdleTimeout time.Duration
	// MaxLifetime ends a session however much it is used.
	MaxLifetime time.Duration
}

// cookiePrefix starts every session cookie's value.
const cookiePrefix = "pcs_"

// ErrNoSession: the cookie names no session, or one that has ended.
var ErrNoSession = errors.New("no active session")

// StartCookieSession starts a browser session for id and returns it with
// its secret, the cookie's value: 256 random bits, stored only as a hash,
// new at every login (no session fixation). The roles id's backend
// vouched for are kept with the session (storage.VouchedRoles; invalid
// ones are an error wrapping sdk.ErrInvalidArgument, and no session
// starts). Of the provider of an OAuth2 sign-in (WithUpstream) it keeps
// the backend's name only: a cookie session does not ask the provider (its
// idle timeout and absolute lifetime bound it), so it keeps no provider
// token.
func (i *Issuer) StartCookieSession(ctx context.Context, id sdk.Identity) (storage.Session, string, error) {
	secret := cookiePrefix + random()
	now := i.now().UTC()
	sess := storage.Session{
		ID: uuid.NewString(), Kind: storage.SessionCookie, Subject: id.Subject, Username: id.Username, Roles: id.Roles,
		SecretHash: Hash(secret), ExpiresAt: now.Add(i.opts.Cookies.MaxLifetime), IdleExpiresAt: now.Add(i.opts.Cookies.IdleTimeout),
	}
	sess.IdleExpiresAt = earliest(sess.IdleExpiresAt, sess.ExpiresAt)
	if up, ok := UpstreamFrom(ctx); ok {
		sess.Upstream = storage.Upstream{Backend: up.Backend}
	}
	sess, err := i.store.CreateSession(ctx, sess)
	if err != nil {
		return storage.Session{}, "", err
	}
	return sess, secret, nil
}

// CookieSession returns the active session whose secret is secret, and
// pushes its idle end forward (written at most once a tenth of the idle
// timeout). It returns an error wrapping ErrNoSession, with the reason,
// when there is none; any other error means the session could not be read.
func (i *Issuer) CookieSession(ctx context.Context, secret string) (storage.Session, error) {
	if !strings.HasPrefix(secret, cookiePrefix) || len(secret) != len(cookiePrefix)+43 {
		return storage.Session{}, fmt.Errorf("%w: not a session cookie", ErrNoSession)
	}
	sess, err := i.store.SessionBySecret(ctx, Hash(secret))
	if errors.Is(err, sdk.ErrNotFound) {
		return storage.Session{}, fmt.Errorf("%w: unknown", ErrNoSession)
	}
	if err != nil {
		return storage.Session{}, err
	}
	now := i.now()
	if !sess.Active(now) || sess.Kind != storage.SessionCookie {
		return sess, fmt.Errorf("%w: ended", ErrNoSession)
	}
	until := earliest(now.Add(i.opts.Cookies.IdleTimeout), sess.ExpiresAt)
	if wrote, err := i.store.ExtendIdle(ctx, sess.ID, until, i.opts.Cookies.IdleTimeout/10); err != nil {
		return storage.Session{}, err
	} else if wrote {
		sess.IdleExpiresAt = until
	}
	return sess, nil
}

// EndCookieSession revokes the session whose secret is secret; it reports
// whether one was live.
func (i *Issuer) EndCookieSession(ctx context.Context, secret string) (storage.Session, bool, error) {
	sess, err := i.CookieSession(ctx, secret)
	if err != nil {
		return sess, false, err
	}
	n, err := i.store.RevokeFamily(ctx, sess.ID)
	return sess, n > 0, err
}

// CSRFToken returns the CSRF token of the session whose secret is secret.
// It is derived from the secret, so it needs no storage and dies with the
// session, and it does not reveal the secret: a page script may read it,
// never the HttpOnly cookie.
func CSRFToken(secret string) string {
	sum := sha256.Sum256([]byte("portcullis csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CSRFValid reports, in constant time, whether token is the CSRF token of
// the session whose secret is secret.
func CSRFValid(secret, token string) bool {
	want := CSRFToken(secret)
	return subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}
