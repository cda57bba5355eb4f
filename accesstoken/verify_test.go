package accesstoken_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

type keyMap map[string]accesstoken.Key

func (m keyMap) VerificationKey(_ context.Context, kid string) (accesstoken.Key, error) {
	k, ok := m[kid]
	if !ok {
		return accesstoken.Key{}, fmt.Errorf("kid %q: %w", kid, accesstoken.ErrUnknownKeyID)
	}
	return k, nil
}

type signer struct {
	key     accesstoken.Key
	private crypto.Signer
}

func newSigner(t testing.TB, alg string) signer {
	t.Helper()
	priv, err := accesstoken.NewKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := accesstoken.KeyID(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signer{accesstoken.Key{ID: kid, Algorithm: alg, Public: priv.Public()}, priv}
}

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func claims() *accesstoken.Claims {
	return &accesstoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "https://auth.example", Audience: jwt.ClaimStrings{"app"}, Subject: "u-1", ID: "t-1",
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		},
		SessionID: "s-1", Username: "alice",
	}
}

func verifier(keys keyMap) *accesstoken.Verifier {
	return &accesstoken.Verifier{Issuer: "https://auth.example", Audience: "app", Keys: keys, Now: func() time.Time { return now }}
}

func sign(t *testing.T, s signer, c *accesstoken.Claims) string {
	t.Helper()
	tok, err := accesstoken.Sign(c, s.key, s.private)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	for _, alg := range accesstoken.Algorithms {
		t.Run(alg, func(t *testing.T) {
			s := newSigner(t, alg)
			got, err := verifier(keyMap{s.key.ID: s.key}).Verify(context.Background(), sign(t, s, claims()))
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != "u-1" || got.SessionID != "s-1" || got.Username != "alice" {
				t.Errorf("claims = %+v", got)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	s := newSigner(t, accesstoken.EdDSA)
	other := newSigner(t, accesstoken.EdDSA)
	es := newSigner(t, accesstoken.ES256)
	keys := keyMap{s.key.ID: s.key, es.key.ID: es.key}
	good := sign(t, s, claims())
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	header := func(alg, typ, kid string) string {
		return enc([]byte(fmt.Sprintf(`{"alg":%q,"typ":%q,"kid":%q}`, alg, typ, kid)))
	}
	with := func(edit func(c *accesstoken.Claims)) string {
		c := claims()
		edit(c)
		return sign(t, s, c)
	}
	hs256 := func() string { // HS256 keyed with the public key: algorithm confusion
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
		tok.Header["typ"], tok.Header["kid"] = accesstoken.Type, s.key.ID
		out, err := tok.SignedString([]byte(s.key.Public.(ed25519.PublicKey)))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	otherWithSameKid := func() string {
		forged := other
		forged.key.ID = s.key.ID
		return sign(t, forged, claims())
	}
	esKeyClaimedAsEdDSA := func() string { // a real ES256 signature under an EdDSA header
		tok := sign(t, es, claims())
		p := strings.Split(tok, ".")
		return header(accesstoken.EdDSA, accesstoken.Type, es.key.ID) + "." + p[1] + "." + p[2]
	}
	tampered := func() string {
		c := claims()
		c.Subject = "admin"
		body, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SigningString()
		return parts[0] + "." + strings.Split(body, ".")[1] + "." + parts[2]
	}
	cases := []struct {
		name, token, want string
	}{
		{"empty", "", accesstoken.ErrEmptyToken},
		{"garbage", "not a token", accesstoken.ErrMalformed},
		{"refresh token", "pcr_" + strings.Repeat("A", 43), accesstoken.ErrMalformed},
		{"too long", strings.Repeat("a", accesstoken.MaxLength+1), accesstoken.ErrMalformed},
		{"alg none", header("none", accesstoken.Type, s.key.ID) + "." + parts[1] + ".", accesstoken.ErrInvalidSignature},
		{"HS256 keyed with the public key", hs256(), accesstoken.ErrInvalidSignature},
		{"alg of another key", esKeyClaimedAsEdDSA(), accesstoken.ErrInvalidAlgorithm},
		{"tampered payload", tampered(), accesstoken.ErrInvalidSignature},
		{"wrong signature", otherWithSameKid(), accesstoken.ErrInvalidSignature},
		{"unknown kid", sign(t, other, claims()), accesstoken.ErrUnknownKey},
		{"no kid", header(accesstoken.EdDSA, accesstoken.Type, "") + "." + parts[1] + "." + parts[2], accesstoken.ErrUnknownKey},
		{"wrong typ", header(accesstoken.EdDSA, "JWT", s.key.ID) + "." + parts[1] + "." + parts[2], accesstoken.ErrTypeMismatch},
		{"expired", with(func(c *accesstoken.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second)) }), accesstoken.ErrExpired},
		{"no exp", with(func(c *accesstoken.Claims) { c.ExpiresAt = nil }), accesstoken.ErrMissingClaim},
		{"not yet valid", with(func(c *accesstoken.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) }), accesstoken.ErrNotYetValid},
		{"issued in the future", with(func(c *accesstoken.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute)) }), accesstoken.ErrInvalidIssuedAt},
		{"wrong issuer", with(func(c *accesstoken.Claims) { c.Issuer = "https://evil.example" }), accesstoken.ErrInvalidIssuer},
		{"wrong audience", with(func(c *accesstoken.Claims) { c.Audience = jwt.ClaimStrings{"other"} }), accesstoken.ErrInvalidAudience},
		{"no session", with(func(c *accesstoken.Claims) { c.SessionID = "" }), accesstoken.ErrMissingClaim},
		{"no subject", with(func(c *accesstoken.Claims) { c.Subject = "" }), accesstoken.ErrMissingClaim},
	}
	// The cache refuses each the same way, having accepted the good token.
	cache := &accesstoken.Cache{Verifier: verifier(keys)}
	if _, err := cache.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	verifiers := map[string]func(context.Context, string) (*accesstoken.Claims, error){
		"verifier": verifier(keys).Verify, "cache": cache.Verify,
	}
	for _, tc := range cases {
		for via, verify := range verifiers {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				_, err := verify(context.Background(), tc.token)
				var refused *accesstoken.Error
				if !errors.As(err, &refused) || !errors.Is(err, accesstoken.ErrInvalidToken) {
					t.Fatalf("err = %v, want an *accesstoken.Error", err)
				}
				if refused.Type != tc.want {
					t.Errorf("type = %s, want %s (%v)", refused.Type, tc.want, err)
				}
				if tc.token != "" && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token) {
					t.Error("the error quotes the token")
				}
			})
		}
	}
}

func TestVerifyNeedsIssuerAndAudience(t *testing.T) {
	s := newSigner(t, accesstoken.EdDSA)
	for _, v := range []*accesstoken.Verifier{
		{Audience: "app", Keys: keyMap{s.key.ID: s.key}, Now: func() time.Time { return now }},
		{Issuer: "https://auth.example", Keys: keyMap{s.key.ID: s.key}, Now: func() time.Time { return now }},
	} {
		if _, err := v.Verify(context.Background(), sign(t, s, claims())); err == nil {
			t.Errorf("a verifier without issuer or audience accepted a token: %+v", v)
		}
	}
}

func TestVerifyKeysUnreadableIsNotForgery(t *testing.T) {
	s := newSigner(t, accesstoken.EdDSA)
	v := verifier(nil)
	v.Keys = failingKeys{}
	_, err := v.Verify(context.Background(), sign(t, s, claims()))
	var refused *accesstoken.Error
	if !errors.As(err, &refused) || refused.Type != accesstoken.ErrUnexpected {
		t.Fatalf("err = %v, want unexpected_exception", err)
	}
}

type failingKeys struct{}

func (failingKeys) VerificationKey(context.Context, string) (accesstoken.Key, error) {
	return accesstoken.Key{}, errors.New("database is down")
}

func TestSetRoundTrip(t *testing.T) {
	var keys []accesstoken.Key
	for _, alg := range accesstoken.Algorithms {
		keys = append(keys, newSigner(t, alg).key)
	}
	set, err := accesstoken.NewSet(keys)
	if err != nil {
		t.Fatal(err)
	}
	data := mustJSON(t, set)
	parsed, err := accesstoken.ParseSet(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		got, ok := parsed[k.ID]
		if !ok || got.Algorithm != k.Algorithm {
			t.Fatalf("key %s lost: %+v", k.ID, got)
		}
		if id, _ := accesstoken.KeyID(got.Public); id != k.ID {
			t.Errorf("%s: thumbprint of the parsed key = %s", k.Algorithm, id)
		}
	}
}

func TestParseSetSkipsForeignKeys(t *testing.T) {
	data := []byte(`{"keys":[{"kty":"oct","kid":"h","alg":"HS256","k":"c2VjcmV0"},{"kty":"OKP","kid":"e","alg":"EdDSA","use":"enc","crv":"Ed25519","x":"AA"}]}`)
	got, err := accesstoken.ParseSet(data)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no keys", got, err)
	}
	if _, err := accesstoken.ParseSet([]byte(`{"keys":[{"kty":"OKP","kid":"e","alg":"EdDSA","crv":"Ed25519","x":"AA"}]}`)); err == nil {
		t.Error("a short Ed25519 key was accepted")
	}
	if _, err := accesstoken.ParseSet([]byte(`{"keys":[{"kty":"RSA","kid":"r","alg":"EdDSA","n":"AA","e":"AQAB"}]}`)); err == nil {
		t.Error("an RSA key claiming EdDSA was accepted")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
