package oidcprovider

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	appID       = "app"
	appSecret   = "app-secret"
	appCallback = "http://127.0.0.1:9/auth/callback"
)

var alice = User{
	Subject:       "sub-alice",
	Username:      "alice",
	Password:      "alice-password",
	Email:         "alice@example.test",
	EmailVerified: true,
	Groups:        []string{"admins", "staff"},
}

// relyingParty is the client side the login plugin will have: discovery
// and ID token verification by go-oidc, the code flow by x/oauth2.
type relyingParty struct {
	p        *Provider
	oidc     *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	browser  *http.Client
}

func newRelyingParty(t *testing.T, scopes ...string) *relyingParty {
	t.Helper()
	return newRelyingPartyWith(t, Options{}, scopes...)
}

// newRelyingPartyWith is newRelyingParty on a provider started with opts,
// whose users and clients are alice and the app.
func newRelyingPartyWith(t *testing.T, opts Options, scopes ...string) *relyingParty {
	t.Helper()
	opts.Users = []User{alice}
	opts.Clients = []Client{{ID: appID, Secret: appSecret, RedirectURIs: []string{appCallback}}}
	p := Start(t, opts)
	ctx := testContext(t)
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &relyingParty{
		p:    p,
		oidc: op,
		config: oauth2.Config{
			ClientID:     appID,
			ClientSecret: appSecret,
			Endpoint:     op.Endpoint(),
			RedirectURL:  appCallback,
			Scopes:       scopes,
		},
		verifier: op.Verifier(&oidc.Config{ClientID: appID}),
		browser:  &http.Client{Jar: jar, Timeout: 10 * time.Second},
	}
}

// attempt is one authorization request: what the relying party keeps in
// its session, and the redirect it came back with.
type attempt struct {
	state, nonce, verifier string
	callback               *url.URL
}

func (a *attempt) code(t *testing.T) string {
	t.Helper()
	q := a.callback.Query()
	if q.Get("error") != "" {
		t.Fatalf("callback carries error=%s (%s)", q.Get("error"), q.Get("error_description"))
	}
	if got := q.Get("state"); got != a.state {
		t.Fatalf("callback state = %q, want %q", got, a.state)
	}
	if q.Get("code") == "" {
		t.Fatalf("callback %s has no code", a.callback)
	}
	return q.Get("code")
}

// authorizeURL builds the request as the plugin will: state, nonce and a
// PKCE S256 challenge.
func (rp *relyingParty) authorizeURL() (*attempt, string) {
	a := &attempt{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
	return a, rp.config.AuthCodeURL(a.state, oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier))
}

// login runs the browser part of the flow for alice and returns the
// redirect to the application.
func (rp *relyingParty) login(t *testing.T) *attempt {
	t.Helper()
	a, authURL := rp.authorizeURL()
	cb, err := rp.p.Login(rp.browser, authURL, alice.Username, alice.Password)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != appCallback {
		t.Fatalf("redirected to %s, want the client's redirect_uri %s", got, appCallback)
	}
	a.callback = cb
	return a
}

func (rp *relyingParty) exchange(ctx context.Context, a *attempt, code string) (*oauth2.Token, error) {
	return rp.config.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
}

func rawIDToken(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("token response has no id_token")
	}
	return raw
}

// idClaims are the claims the login plugin reads from the ID token.
type idClaims struct {
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// oauthError returns the RFC 6749 error code of a failed token request.
func oauthError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not an *oauth2.RetrieveError", err, err)
	}
	return re
}
