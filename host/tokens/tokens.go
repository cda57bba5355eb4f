// Package tokens issues, rotates and revokes the access and refresh tokens
// a successful login returns.
//
// Tokens are opaque random strings; only their SHA-256 is stored, so a
// database leak reveals no usable token. A refresh token is single-use: a
// refresh rotates it within its family, and a refresh token presented a
// second time revokes the whole family (the theft signal of OAuth 2.0
// refresh token rotation). Signed JWT access tokens with key rotation
// replace the opaque access token in a later version; the response shape
// stays.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Kinds of token.
const (
	Access  = "access"
	Refresh = "refresh"
)

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
	// Access and Refresh describe the stored tokens (no secrets).
	Access, Refresh storage.Token
}

// Issuer mints and stores tokens.
type Issuer struct {
	store      *storage.Store
	accessTTL  time.Duration
	refreshTTL time.Duration
	now        func() time.Time
}

// NewIssuer returns an Issuer storing in store.
func NewIssuer(store *storage.Store, accessTTL, refreshTTL time.Duration) *Issuer {
	return &Issuer{store: store, accessTTL: accessTTL, refreshTTL: refreshTTL, now: time.Now}
}

// Issue mints a new access and refresh token for id, starting a new
// refresh family (a session).
func (i *Issuer) Issue(ctx context.Context, id sdk.Identity) (Pair, error) {
	return i.issue(ctx, id.Subject, id.Username, uuid.NewString())
}

func (i *Issuer) issue(ctx context.Context, subject, username, family string) (Pair, error) {
	access, refresh := "pca_"+random(), "pcr_"+random()
	now := i.now().UTC()
	p := Pair{
		AccessToken: access, RefreshToken: refresh, ExpiresIn: i.accessTTL,
		Access:  storage.Token{ID: uuid.NewString(), Hash: Hash(access), Kind: Access, Subject: subject, Username: username, FamilyID: family, ExpiresAt: now.Add(i.accessTTL)},
		Refresh: storage.Token{ID: uuid.NewString(), Hash: Hash(refresh), Kind: Refresh, Subject: subject, Username: username, FamilyID: family, ExpiresAt: now.Add(i.refreshTTL)},
	}
	if err := i.store.SaveTokens(ctx, p.Access, p.Refresh); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// Refresh exchanges a refresh token for a new pair in the same family. The
// old refresh token is used up; presenting it again returns ErrTokenReused
// and revokes the family.
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
	if !i.now().Before(t.ExpiresAt) {
		return Pair{}, fmt.Errorf("%w: expired", ErrInvalidToken)
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
	return i.issue(ctx, t.Subject, t.Username, t.FamilyID)
}

// Revoke ends the session of token (access or refresh): every token of its
// family is revoked. It returns the token's record and whether anything was
// live; an unknown token is not an error (RFC 7009).
func (i *Issuer) Revoke(ctx context.Context, token string) (storage.Token, bool, error) {
	t, err := i.lookup(ctx, token)
	if errors.Is(err, ErrInvalidToken) {
		return storage.Token{}, false, nil
	}
	if err != nil {
		return storage.Token{}, false, err
	}
	n, err := i.store.RevokeFamily(ctx, t.FamilyID)
	return t, n > 0, err
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
