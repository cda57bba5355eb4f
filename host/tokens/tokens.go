// Package tokens issues, verifies, rotates and revokes the tokens a
// login returns, and keeps the keys that sign them.
//
// An access token is a JWT (package accesstoken) signed with the current
// key of the KeyRing; it is not stored. A refresh token is an opaque
// random string of which only the SHA-256 is stored, so a database leak
// reveals no usable token. A refresh token is single-use: a refresh
// rotates it within its family, and a refresh token presented a second
// time revokes the whole family (the theft signal of OAuth 2.0 refresh
// token rotation). A family is a session (storage.Session; the access
// token's sid), which has an absolute end however often it refreshes and
// ends when its user's password changes or the user is disabled or
// removed.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// Refresh is the kind of a stored refresh token.
const Refresh = "refresh"

// Errors of Refresh and Revoke.
var (
	// ErrInvalidToken: unknown, expired, revoked, or the wrong kind.
	ErrInvalidToken = errors.New("the token is not valid")
	// ErrTokenReused: a refresh token was presented a second time; its
	// family has been revoked. The error is a *ReusedError.
	ErrTokenReused = errors.New("the refresh token was already used; its session is revoked")
)

// ReusedError is returned for a reused refresh token: it names the token
// (no secret) whose session was revoked. errors.Is(err, ErrTokenReused)
// holds for it.
type ReusedError struct {
	Token storage.Token
}

func (e *ReusedError) Error() string { return ErrTokenReused.Error() }
func (e *ReusedError) Unwrap() error { return ErrTokenReused }

// Pair is what a login or refresh returns.
type Pair struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
	// Session is the session the tokens belong to.
	Session storage.Session
	// AccessID is the access token's jti; Refresh describes the stored
	// refresh token (no secret).
	AccessID string
	Refresh  storage.Token
}

// Options configure an Issuer.
type Options struct {
	// Issuer and Audience are the tokens' iss and aud.
	Issuer, Audience string
	AccessTTL        time.Duration
	RefreshTTL       time.Duration
	// MaxLifetime is a session's absolute lifetime: no token of its family
	// is valid past it, however often it refreshes.
	MaxLifetime time.Duration
	// Cookies configure browser sessions.
	Cookies CookieOptions
	// Signals receives the jwt_* signals (optional).
	Signals Emitter
	// Logger is told of a user whose roles and permissions do not fit in
	// an access token (optional).
	Logger *slog.Logger
	// Metrics counts the tokens issued and the verifications refused
	// (optional).
	Metrics *metrics.Registry
	// Upstream refreshes the provider's tokens of the sessions an external
	// provider signed in (optional: without it such a session does not
	// refresh once the provider's access token has expired).
	Upstream Upstream
}

// Emitter sends the host's signals; the host's signals.Dispatcher is one.
type Emitter interface {
	Emit(ctx context.Context, sender string, args any) string
}

type noSignals struct{}

func (noSignals) Emit(context.Context, string, any) string { return "" }

// Sender is the sender of the jwt_* signals.
const Sender = "tokens"

// Issuer mints, verifies and stores tokens.
type Issuer struct {
	store    *storage.Store
	keys     *KeyRing
	opts     Options
	verifier *accesstoken.Cache // verifies a token's signature once (forward-auth sends one token often)
	now      func() time.Time
	issued   *metrics.Counter // by kind: access, refresh
	refused  *metrics.Counter // by error_type, as in jwt_decode_failed
}

// NewIssuer returns an Issuer storing in store and signing with keys.
func NewIssuer(store *storage.Store, keys *KeyRing, opts Options) *Issuer {
	if opts.Signals == nil {
		opts.Signals = noSignals{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Cookies.IdleTimeout <= 0 {
		opts.Cookies.IdleTimeout = time.Hour
	}
	if opts.Cookies.MaxLifetime <= 0 {
		opts.Cookies.MaxLifetime = 24 * time.Hour
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	i := &Issuer{store: store, keys: keys, opts: opts, now: time.Now,
		issued: opts.Metrics.Counter("portcullis_tokens_issued_total", "Tokens issued at logins and refreshes, by kind (access, refresh).", "kind"),
		refused: opts.Metrics.Counter("portcullis_token_verification_failures_total",
			"Access tokens refused, by the error_type of their jwt_decode_failed signal.", "error_type"),
	}
	i.issued.Add(0, "access") // written from the start, so that the first token is an increase
	i.issued.Add(0, Refresh)
	i.verifier = &accesstoken.Cache{Verifier: &accesstoken.Verifier{Issuer: opts.Issuer, Audience: opts.Audience, Keys: keys, Leeway: 5 * time.Second, Now: func() time.Time { return i.now() }}}
	return i
}

// Keys returns the issuer's key ring.
func (i *Issuer) Keys() *KeyRing { return i.keys }

// Issue mints a new access and refresh token for id, starting a new
// session (a refresh family). The roles id's backend vouched for are kept
// with the session, for its every token (storage.VouchedRoles; invalid
// ones are an error wrapping sdk.ErrInvalidArgument, and nothing is
// issued). The provider of an OAuth2 sign-in (WithUpstream) is kept with
// the session too, so that its refreshes ask the provider. writes are
// made in the transaction that stores the session (the login's lockout
// settlement: chain.Login.SuccessWrites).
func (i *Issuer) Issue(ctx context.Context, id sdk.Identity, writes ...storage.SessionWrite) (Pair, error) {
	roles, err := storage.VouchedRoles(id.Roles)
	if err != nil {
		return Pair{}, err
	}
	now := i.now().UTC().Truncate(time.Second)
	sess := storage.Session{ID: uuid.NewString(), Subject: id.Subject, Username: id.Username, Roles: roles, ExpiresAt: now.Add(i.opts.MaxLifetime)}
	if up, ok := UpstreamFrom(ctx); ok {
		sess.Upstream = up
	}
	access, p, err := i.mint(ctx, sess, now)
	if err != nil {
		return Pair{}, err
	}
	if p.Session, err = i.store.CreateSessionWith(ctx, sess, writes, p.Refresh); err != nil {
		return Pair{}, err
	}
	i.created(ctx, access, p)
	return p, nil
}

// mint signs an access token and makes a refresh token for sess; neither
// expires after the session. The access token carries the roles and
// permissions of sess as they are now (sessionAuthz): a change reaches
// the next token minted, at a login or a refresh.
func (i *Issuer) mint(ctx context.Context, sess storage.Session, now time.Time) (*accesstoken.Claims, Pair, error) {
	key, signer, err := i.keys.signing()
	if err != nil {
		return nil, Pair{}, err
	}
	authz, err := i.sessionAuthz(ctx, sess, true)
	if err != nil {
		return nil, Pair{}, err
	}
	accessEnd := earliest(now.Add(i.opts.AccessTTL), sess.ExpiresAt).Truncate(time.Second) // now is whole seconds
	claims := &accesstoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: i.opts.Issuer, Audience: jwt.ClaimStrings{i.opts.Audience}, Subject: sess.Subject, ID: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(accessEnd),
		},
		SessionID: sess.ID, Username: sess.Username,
	}
	SetAuthz(claims, authz)
	access, err := accesstoken.Sign(claims, key, signer)
	if err == nil && len(access) > accesstoken.MaxLength && !claims.PermissionsOverflow {
		// Within the bounds, but not with this username and issuer: a
		// token no verifier would parse is worse than one without them.
		claims.Roles, claims.Permissions, claims.PermissionsOverflow = nil, nil, true
		access, err = accesstoken.Sign(claims, key, signer)
	}
	if err != nil {
		return nil, Pair{}, fmt.Errorf("signing an access token: %w", err)
	}
	if claims.PermissionsOverflow {
		i.opts.Logger.Warn("a user's roles and permissions do not fit in an access token: the token carries none of them, "+
			"and every permission check with it fails (permissions_overflow) unless the user is a superuser",
			"user_id", sess.Subject, "session_id", sess.ID, "token_id", claims.ID, "roles", len(authz.Roles), "permissions", len(authz.Permissions),
			"max_roles", accesstoken.MaxTokenRoles, "max_permissions", accesstoken.MaxTokenPermissions)
	}
	refresh := "pcr_" + random()
	p := Pair{
		AccessToken: access, RefreshToken: refresh, ExpiresIn: accessEnd.Sub(now), Session: sess, AccessID: claims.ID,
		Refresh: storage.Token{ID: uuid.NewString(), Hash: Hash(refresh), Kind: Refresh, Subject: sess.Subject, Username: sess.Username,
			FamilyID: sess.ID, ExpiresAt: earliest(now.Add(i.opts.RefreshTTL), sess.ExpiresAt)},
	}
	return claims, p, nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (i *Issuer) created(ctx context.Context, access *accesstoken.Claims, p Pair) {
	i.issued.Inc("access")
	i.issued.Inc(Refresh)
	i.opts.Signals.Emit(ctx, Sender, &signals.JWTAccessTokenCreated{Subject: access.Subject, TokenID: access.ID, ExpiresAt: access.ExpiresAt.Time})
	i.opts.Signals.Emit(ctx, Sender, &signals.JWTRefreshTokenCreated{Subject: p.Refresh.Subject, TokenID: p.Refresh.ID, FamilyID: p.Refresh.FamilyID, ExpiresAt: p.Refresh.ExpiresAt})
}

// Refresh exchanges a refresh token for a new pair in the same session.
// The old refresh token is used up; presenting it again returns
// ErrTokenReused and revokes the session. A session that has ended (its
// absolute lifetime passed, revoked, or its user gone or disabled) does
// not refresh.
//
// A session an external provider signed in refreshes only while the
// provider vouches for its user: once the provider's access token has
// expired, the provider is asked first (checkUpstream). A refusal revokes
// the session (*UpstreamEndedError); a provider that cannot be asked
// fails the refresh with ErrUpstreamUnavailable, leaving the session and
// the refresh token as they were.
func (i *Issuer) Refresh(ctx context.Context, refreshToken string) (Pair, error) {
	t, err := i.lookup(ctx, refreshToken)
	if err != nil {
		return Pair{}, err
	}
	if t.Kind != Refresh {
		return Pair{}, fmt.Errorf("%w: not a refresh token", ErrInvalidToken)
	}
	if !t.RevokedAt.IsZero() {
		if _, err := i.store.RevokeFamily(ctx, t.FamilyID); err != nil {
			return Pair{}, err
		}
		return Pair{}, &ReusedError{Token: t}
	}
	now := i.now()
	if !now.Before(t.ExpiresAt) {
		return Pair{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	sess, err := i.store.SessionByID(ctx, t.FamilyID)
	if errors.Is(err, sdk.ErrNotFound) {
		return Pair{}, fmt.Errorf("%w: no session", ErrInvalidToken)
	}
	if err != nil {
		return Pair{}, err
	}
	if !sess.Active(now) {
		return Pair{}, fmt.Errorf("%w: the session has ended", ErrInvalidToken)
	}
	if sess.Upstream.Backend != "" {
		// Before the token is used: a provider that cannot be asked
		// leaves it usable for a retry.
		if err := i.checkUpstream(ctx, &sess, now); err != nil {
			return Pair{}, err
		}
	}
	won, err := i.store.UseToken(ctx, t.Hash)
	if err != nil {
		return Pair{}, err
	}
	if !won { // a concurrent refresh used it first: that is a reuse too
		if _, err := i.store.RevokeFamily(ctx, t.FamilyID); err != nil {
			return Pair{}, err
		}
		return Pair{}, &ReusedError{Token: t}
	}
	access, p, err := i.mint(ctx, sess, now.UTC().Truncate(time.Second))
	if err != nil {
		return Pair{}, err
	}
	if err := i.store.SaveTokens(ctx, p.Refresh); err != nil {
		return Pair{}, err
	}
	i.created(ctx, access, p)
	return p, nil
}

// Verify checks an access token's signature, type, issuer, audience and
// times (not its session: see Introspect), and sends jwt_token_decoded
// or jwt_decode_failed. A refused token is an *accesstoken.Error.
func (i *Issuer) Verify(ctx context.Context, token string) (*accesstoken.Claims, error) {
	claims, err := i.verifier.Verify(ctx, token)
	if err != nil {
		var refused *accesstoken.Error
		if errors.As(err, &refused) {
			fail := &signals.JWTDecodeFailed{ErrorType: refused.Type}
			i.refused.Inc(refused.Type)
			if refused.Type == accesstoken.ErrTypeMismatch {
				fail.ExpectedType, fail.ActualType = accesstoken.Type, printable(refused.ActualType)
			}
			i.opts.Signals.Emit(ctx, Sender, fail)
		}
		return nil, err
	}
	i.opts.Signals.Emit(ctx, Sender, &signals.JWTTokenDecoded{Subject: claims.Subject, TokenID: claims.ID, TokenType: "access"})
	return claims, nil
}

// printable bounds a header value copied into a signal.
func printable(s string) string {
	if len(s) > 32 || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r > '~' }) {
		return "(unprintable)"
	}
	return s
}

// Introspection is what Introspect found.
type Introspection struct {
	Active bool
	Claims *accesstoken.Claims
}

// Introspect reports whether an access token is active: it verifies and
// its session still stands (not revoked, not past its absolute end, its
// user neither gone nor disabled). A refused token is inactive, not an
// error; an error means the session could not be read.
func (i *Issuer) Introspect(ctx context.Context, token string) (Introspection, error) {
	claims, err := i.Verify(ctx, token)
	if err != nil {
		var refused *accesstoken.Error
		if errors.As(err, &refused) && refused.Type != accesstoken.ErrUnexpected {
			return Introspection{}, nil
		}
		return Introspection{}, err
	}
	sess, err := i.store.SessionByID(ctx, claims.SessionID)
	if errors.Is(err, sdk.ErrNotFound) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, err
	}
	if !sess.Active(i.now()) || sess.Subject != claims.Subject {
		i.refused.Inc(accesstoken.ErrRevoked)
		i.opts.Signals.Emit(ctx, Sender, &signals.JWTDecodeFailed{ErrorType: accesstoken.ErrRevoked})
		return Introspection{}, nil
	}
	return Introspection{Active: true, Claims: claims}, nil
}

// Revoke ends the session of token, a refresh token or an access token:
// every token of its family is revoked. It returns the session's subject
// and id and whether anything was live; an unknown or invalid token is
// not an error (RFC 7009).
func (i *Issuer) Revoke(ctx context.Context, token string) (subject, session string, revoked bool, err error) {
	if strings.HasPrefix(token, "pcr_") {
		t, err := i.lookup(ctx, token)
		if errors.Is(err, ErrInvalidToken) {
			return "", "", false, nil
		}
		if err != nil {
			return "", "", false, err
		}
		subject, session = t.Subject, t.FamilyID
	} else {
		claims, err := i.verifier.Verify(ctx, token)
		var refused *accesstoken.Error
		if errors.As(err, &refused) && refused.Type != accesstoken.ErrUnexpected {
			return "", "", false, nil
		}
		if err != nil {
			return "", "", false, err
		}
		subject, session = claims.Subject, claims.SessionID
	}
	n, err := i.store.RevokeFamily(ctx, session)
	return subject, session, n > 0, err
}
func (i *Issuer) lookup(ctx context.Context, token string) (storage.Token, error) {
	t, err := i.store.TokenByHash(ctx, Hash(token))
	if errors.Is(err, sdk.ErrNotFound) {
		return storage.Token{}, fmt.Errorf("%w: unknown", ErrInvalidToken)
	}
	return t, err
}

// Hash returns the stored form of a token.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// random returns 256 bits from the system CSPRNG, base64url-encoded.
func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
