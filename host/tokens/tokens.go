// Package tokens issues the access and refresh tokens a successful login
// returns.
//
// Tokens are opaque random strings; only their SHA-256 is stored, so a
// database leak reveals no usable token. (Signed JWTs with key rotation
// replace the access token in a later version; the response shape stays.)
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Kinds of token.
const (
	Access  = "access"
	Refresh = "refresh"
)

// Pair is what a login returns.
type Pair struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
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
// refresh family.
func (i *Issuer) Issue(ctx context.Context, id sdk.Identity) (Pair, error) {
	access, refresh := "pca_"+random(), "pcr_"+random()
	family := random()[:36] // fits the family id column
	now := i.now()
	err := i.store.SaveTokens(ctx,
		storage.Token{Hash: Hash(access), Kind: Access, Subject: id.Subject, Username: id.Username, FamilyID: family, ExpiresAt: now.Add(i.accessTTL)},
		storage.Token{Hash: Hash(refresh), Kind: Refresh, Subject: id.Subject, Username: id.Username, FamilyID: family, ExpiresAt: now.Add(i.refreshTTL)},
	)
	if err != nil {
		return Pair{}, err
	}
	return Pair{AccessToken: access, RefreshToken: refresh, ExpiresIn: i.accessTTL}, nil
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
