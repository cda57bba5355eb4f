package oidcprovider

import (
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestShortAccessTokensCountedRefreshesAndRevokedUsers: access tokens
// live as long as AccessTokenLifetime says; every refresh grant the token
// endpoint receives is counted, a faulted one too; every refresh token
// issued is listed; and once RevokeUser ran, the user's refresh tokens
// are refused with invalid_grant while a fresh sign-in still works.
func TestShortAccessTokensCountedRefreshesAndRevokedUsers(t *testing.T) {
	t.Parallel()
	rp := newRelyingPartyWith(t, Options{AccessTokenLifetime: 3 * time.Second}, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
	ctx := testContext(t)
	a := rp.login(t)
	tok, err := rp.exchange(ctx, a, a.code(t))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if left := time.Until(tok.Expiry); left <= 0 || left > 3*time.Second {
		t.Fatalf("the access token expires in %s, want at most 3s", left)
	}
	if n := rp.p.RefreshGrants(); n != 0 {
		t.Fatalf("%d refresh grants counted before any", n)
	}
	refreshed, err := rp.config.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh grant: %v", err)
	}
	rp.p.SetFault(TokenHTTPError(503))
	if _, err := rp.config.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
		t.Fatal("a refresh through a 503 fault succeeded")
	}
	rp.p.SetFault(NoFault)
	if n := rp.p.RefreshGrants(); n != 2 {
		t.Fatalf("%d refresh grants counted, want 2 (one served, one faulted)", n)
	}
	if issued := rp.p.IssuedRefreshTokens(); !slices.Contains(issued, tok.RefreshToken) || !slices.Contains(issued, refreshed.RefreshToken) {
		t.Fatalf("the issued refresh tokens %d do not list both", len(issued))
	}

	rp.p.RevokeUser(alice.Subject)
	_, err = rp.config.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token()
	if err == nil {
		t.Fatal("a revoked user's refresh token was accepted")
	}
	if re := oauthError(t, err); re.ErrorCode != "invalid_grant" {
		t.Fatalf("a revoked user's refresh token: error code %q, want invalid_grant", re.ErrorCode)
	}
	b := rp.login(t)
	if _, err := rp.exchange(ctx, b, b.code(t)); err != nil {
		t.Fatalf("signing in again after RevokeUser: %v", err)
	}
}
