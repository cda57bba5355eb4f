package oidcprovider

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestCodeFlowIssuesVerifiedIDToken(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	ctx := testContext(t)

	var discovery struct {
		Methods  []string `json:"code_challenge_methods_supported"`
		Algs     []string `json:"id_token_signing_alg_values_supported"`
		Userinfo string   `json:"userinfo_endpoint"`
	}
	if err := rp.oidc.Claims(&discovery); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(discovery.Methods, "S256") || !slices.Contains(discovery.Algs, "RS256") || discovery.Userinfo == "" {
		t.Fatalf("discovery document lacks S256, RS256 or userinfo: %+v", discovery)
	}

	a := rp.login(t)
	tok, err := rp.exchange(ctx, a, a.code(t))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken != "" {
		t.Error("a refresh token was issued without offline_access")
	}
	idt, err := rp.verifier.Verify(ctx, rawIDToken(t, tok))
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Issuer != rp.p.Issuer || !strings.HasPrefix(rp.p.Issuer, "http://127.0.0.1:") {
		t.Errorf("iss = %q, provider issuer %q", idt.Issuer, rp.p.Issuer)
	}
	if idt.Subject != alice.Subject || idt.Nonce != a.nonce || !slices.Equal(idt.Audience, []string{appID}) {
		t.Errorf("sub/nonce/aud = %q/%q/%v, want %q/%q/[%s]", idt.Subject, idt.Nonce, idt.Audience, alice.Subject, a.nonce, appID)
	}
	if until := time.Until(idt.Expiry); until <= 0 || until > 2*time.Hour {
		t.Errorf("exp is %s from now", until)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	want := idClaims{Email: alice.Email, EmailVerified: true, PreferredUsername: alice.Username, Groups: alice.Groups}
	if c.Email != want.Email || c.EmailVerified != want.EmailVerified ||
		c.PreferredUsername != want.PreferredUsername || !slices.Equal(c.Groups, want.Groups) {
		t.Errorf("ID token claims = %+v, want %+v", c, want)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}

	info, err := rp.oidc.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var ic idClaims
	if err := info.Claims(&ic); err != nil {
		t.Fatal(err)
	}
	if info.Subject != alice.Subject || info.Email != alice.Email || !slices.Equal(ic.Groups, alice.Groups) {
		t.Errorf("userinfo = %+v %+v", info, ic)
	}
}

func TestClientSecretPostIsAccepted(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	rp.config.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	a := rp.login(t)
	if _, err := rp.exchange(testContext(t), a, a.code(t)); err != nil {
		t.Fatalf("exchange with client_secret_post: %v", err)
	}
}

func TestWrongClientSecretIsRefused(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	rp.config.ClientSecret = "not-the-secret"
	rp.config.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	a := rp.login(t)
	_, err := rp.exchange(testContext(t), a, a.code(t))
	if err == nil {
		t.Fatal("exchange with a wrong client secret succeeded")
	}
	if re := oauthError(t, err); re.ErrorCode != "invalid_client" && re.ErrorCode != "unauthorized_client" {
		t.Fatalf("error code = %q, want a client authentication error", re.ErrorCode)
	}
}

func TestReplayedCodeIsInvalidGrant(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	ctx := testContext(t)
	a := rp.login(t)
	code := a.code(t)
	if _, err := rp.exchange(ctx, a, code); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err := rp.exchange(ctx, a, code)
	if err == nil {
		t.Fatal("a replayed code was exchanged again")
	}
	if re := oauthError(t, err); re.ErrorCode != "invalid_grant" {
		t.Fatalf("replayed code: error code %q, want invalid_grant", re.ErrorCode)
	}
}

func TestWrongVerifierIsInvalidGrant(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := rp.login(t)
	_, err := rp.config.Exchange(testContext(t), a.code(t), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	if err == nil {
		t.Fatal("a code was exchanged with the wrong code_verifier")
	}
	if re := oauthError(t, err); re.ErrorCode != "invalid_grant" {
		t.Fatalf("wrong verifier: error code %q, want invalid_grant", re.ErrorCode)
	}
}

func TestPKCEIsRequired(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	state := "s1"
	cb, err := rp.p.Login(rp.browser, rp.config.AuthCodeURL(state), alice.Username, alice.Password)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if q := cb.Query(); q.Get("error") != "invalid_request" || q.Get("state") != state || q.Has("code") {
		t.Fatalf("authorization without PKCE answered %s", cb)
	}
}

func TestDenyRedirectsAccessDenied(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a, authURL := rp.authorizeURL()
	cb, err := rp.p.Deny(rp.browser, authURL)
	if err != nil {
		t.Fatalf("Deny: %v", err)
	}
	q := cb.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != a.state || q.Has("code") {
		t.Fatalf("deny redirected to %s", cb)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != appCallback {
		t.Fatalf("deny redirected to %s, want %s", got, appCallback)
	}
}

func TestWrongPasswordIsRefused(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	_, authURL := rp.authorizeURL()
	cb, err := rp.p.Login(rp.browser, authURL, alice.Username, "guess")
	if err == nil || !strings.Contains(err.Error(), "invalid username or password") {
		t.Fatalf("Login with a wrong password = %v, %v", cb, err)
	}
}

func TestLoginNeedsTheFormCookie(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	_, authURL := rp.authorizeURL()
	if _, err := rp.p.Login(&http.Client{}, authURL, alice.Username, alice.Password); err == nil {
		t.Fatal("Login without a cookie jar succeeded")
	}
	// A jar that keeps nothing: the form is fetched but its cookie lost.
	forgetful := &http.Client{Jar: forgetfulJar{}}
	_, err := rp.p.Login(forgetful, authURL, alice.Username, alice.Password)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Login whose browser dropped the form cookie = %v, want a 403", err)
	}
}

type forgetfulJar struct{}

func (forgetfulJar) SetCookies(*url.URL, []*http.Cookie) {}
func (forgetfulJar) Cookies(*url.URL) []*http.Cookie     { return nil }

func TestRefreshTokenGrant(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t, oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess)
	ctx := testContext(t)
	a := rp.login(t)
	tok, err := rp.exchange(ctx, a, a.code(t))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}

	refreshed, err := rp.config.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh grant: %v", err)
	}
	if refreshed.AccessToken == "" || refreshed.AccessToken == tok.AccessToken {
		t.Errorf("refresh grant returned access token %q", refreshed.AccessToken)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh token was not rotated: %q", refreshed.RefreshToken)
	}
	idt, err := rp.verifier.Verify(ctx, rawIDToken(t, refreshed))
	if err != nil {
		t.Fatalf("verify refreshed ID token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != alice.Subject || c.Email != alice.Email {
		t.Errorf("refreshed ID token sub/email = %q/%q", idt.Subject, c.Email)
	}

	_, err = rp.config.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err == nil {
		t.Fatal("a used refresh token was accepted again")
	}
	if re := oauthError(t, err); re.ErrorCode != "invalid_grant" {
		t.Fatalf("reused refresh token: error code %q, want invalid_grant", re.ErrorCode)
	}
}
