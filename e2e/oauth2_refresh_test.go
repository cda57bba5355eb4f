package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/testkit/oidcprovider"
)

// upstreamTTL is the provider's access-token lifetime in these tests:
// a session's refresh asks the provider once it has passed.
const upstreamTTL = 3 * time.Second

// signInForTokens signs username in through backend with grant=tokens
// and returns the Portcullis tokens the callback answers with.
func signInForTokens(t *testing.T, h *host, idp *oidcprovider.Provider, backend, username, password string) pair {
	t.Helper()
	b := browser(t)
	resp, err := b.Get(h.url + "/v1/oauth2/" + backend + "/start?grant=tokens")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start with grant=tokens: %d", resp.StatusCode)
	}
	cb, err := idp.Login(b, resp.Header.Get("Location"), username, password)
	if err != nil {
		t.Fatal(err)
	}
	r := callback(t, b, h, cb, "")
	if r.status != http.StatusOK {
		t.Fatalf("the callback of a sign-in for tokens: %d %s", r.status, r.raw)
	}
	return tokensOf(t, r)
}

// TestOAuth2RefreshAsksTheProvider: a token session an OAuth2 sign-in
// started lasts only while the provider vouches for the user. Its
// refreshes ask the provider (with the refresh token the sign-in got,
// rotated since) once the provider's access token has expired, and not
// before; a provider that refuses (the user revoked there) ends the
// session; a provider that is down fails the refresh with 503 and ends
// nothing, so the same refresh token works once it is back. No provider
// refresh token is ever in the host's log, its audit or its database in
// the clear.
func TestOAuth2RefreshAsksTheProvider(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	idp := oidcprovider.Start(t, oidcprovider.Options{
		Users: []oidcprovider.User{
			{Subject: "u-carol", Username: "carol", Password: "carol-at-the-idp", Email: "carol@example.com", EmailVerified: true},
			{Subject: "u-dave", Username: "dave", Password: "dave-at-the-idp", Email: "dave@example.com", EmailVerified: true},
		},
		Clients: []oidcprovider.Client{{ID: "portcullis", Secret: "a-client-secret-of-the-idp",
			RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/v1/oauth2/corp/callback", port)}}},
		AccessTokenLifetime: upstreamTTL,
	})
	// offline_access: the provider gives a refresh token.
	backend := strings.Replace(oauth2Backend("corp", idp, port, "create"), "scopes: [openid, email, profile, groups]",
		"scopes: [openid, email, profile, offline_access]", 1)
	dir := t.TempDir()
	cfg := oauth2Config(t, dir, port, "storage: {driver: sqlite, dsn: ./portcullis.db}", backend)
	h := startHost(t, cfg)
	appKey := createApp(t, cfg, nil, "app")

	// Tokens are never put in a redirect.
	if r := send(t, "GET", h.url+"/v1/oauth2/corp/start?grant=tokens&return_to="+url.QueryEscape("/welcome"), "", nil); r.status != 400 || r.body["error"] != "invalid_request" {
		t.Errorf("grant=tokens with return_to: %d %s, want 400 invalid_request", r.status, r.raw)
	}

	carol := signInForTokens(t, h, idp, "corp", "carol", "carol-at-the-idp")
	r := refresh(t, h, carol.refresh)
	if r.status != 200 || idp.RefreshGrants() != 0 {
		t.Fatalf("a refresh while the provider's token is valid: %d %s, the provider asked %d times; want 200 and none", r.status, r.raw, idp.RefreshGrants())
	}
	carol = tokensOf(t, r)

	time.Sleep(upstreamTTL + 200*time.Millisecond)
	if r = refresh(t, h, carol.refresh); r.status != 200 || idp.RefreshGrants() != 1 {
		t.Fatalf("a refresh once the provider's token expired: %d %s, the provider asked %d times; want 200 and once", r.status, r.raw, idp.RefreshGrants())
	}
	carol = tokensOf(t, r)
	if r = refresh(t, h, carol.refresh); r.status != 200 || idp.RefreshGrants() != 1 {
		t.Fatalf("a refresh right after: %d %s, the provider asked %d times; want 200 and still once", r.status, r.raw, idp.RefreshGrants())
	}
	carol = tokensOf(t, r)

	// The user is revoked at the provider: once its access token has
	// expired, the session ends.
	idp.RevokeUser("u-carol")
	time.Sleep(upstreamTTL + 200*time.Millisecond)
	if r = refresh(t, h, carol.refresh); r.status != 401 || r.body["error"] != "invalid_token" || idp.RefreshGrants() != 2 {
		t.Fatalf("a refresh after the provider revoked the user: %d %s (asked %d times); want 401 invalid_token", r.status, r.raw, idp.RefreshGrants())
	}
	if active(t, h, appKey, carol.access) {
		t.Error("the ended session's access token still introspects active")
	}

	// The provider fails: 503, the session stands, and the same refresh
	// token works once it answers again.
	dave := signInForTokens(t, h, idp, "corp", "dave", "dave-at-the-idp")
	time.Sleep(upstreamTTL + 200*time.Millisecond)
	idp.SetFault(oidcprovider.TokenHTTPError(http.StatusServiceUnavailable))
	if r = refresh(t, h, dave.refresh); r.status != 503 || r.body["error"] != "backend_unavailable" {
		t.Fatalf("a refresh while the provider answers 503: %d %s, want 503", r.status, r.raw)
	}
	if !active(t, h, appKey, dave.access) {
		t.Fatal("the session ended while the provider was failing")
	}
	idp.SetFault(oidcprovider.NoFault)
	if r = refresh(t, h, dave.refresh); r.status != 200 {
		t.Fatalf("the same refresh token once the provider is back: %d %s, want 200", r.status, r.raw)
	}
	dave = tokensOf(t, r)
	// A provider that is down (connection refused) fails closed too.
	time.Sleep(upstreamTTL + 200*time.Millisecond)
	idp.Down()
	if r = refresh(t, h, dave.refresh); r.status != 503 {
		t.Fatalf("a refresh while the provider is down: %d %s, want 503", r.status, r.raw)
	}
	if !active(t, h, appKey, dave.access) {
		t.Fatal("the session ended while the provider was down")
	}

	h.kill(15)
	audit, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	for _, want := range []string{"oauth2_token_refreshed", "oauth2_token_refresh_failed", "user_logged_out"} {
		if !strings.Contains(string(audit), `"`+want+`"`) {
			t.Errorf("the audit has no %s", want)
		}
	}
	// No provider refresh token in the clear: not in the log, the audit,
	// or the database's files.
	places := map[string]string{"the host's output": h.output(), "the audit file": string(audit)}
	files, _ := filepath.Glob(filepath.Join(dir, "portcullis.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		places[filepath.Base(f)] = string(b)
	}
	issued := idp.IssuedRefreshTokens()
	if len(issued) < 4 || len(files) == 0 {
		t.Fatalf("%d provider refresh tokens issued, %d database files: nothing to check", len(issued), len(files))
	}
	for where, text := range places {
		for _, secret := range issued {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds a provider refresh token in the clear", where)
			}
		}
	}
}

// TestOAuth2TokensAndASecondFactor: a provider's sign-in that needs a
// second factor cannot answer with tokens, since the request that
// completes it does not carry the provider's refresh token: grant=tokens
// is refused with a 400 that says so, while a sign-in for a session goes
// on to its second factor as before.
func TestOAuth2TokensAndASecondFactor(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	idp := oauth2Provider(t, "corp", port)
	box := newCodeBox(t)
	otp := fmt.Sprintf("  - name: otp\n    plugin: otp\n    config: {hash_key: \"an-otp-hash-key-of-at-least-32-bytes-long\", sender: {webhook: %q, secret: %q}}\n",
		box.srv.URL, box.secret)
	cfg := oauth2Config(t, t.TempDir(), port, "storage: {driver: sqlite, dsn: ./portcullis.db}\ntwo_factor: {required: all, backend: otp}",
		oauth2Backend("corp", idp, port, "create"), otp)
	h := startHost(t, cfg)

	b := browser(t)
	resp, err := b.Get(h.url + "/v1/oauth2/corp/start?grant=tokens")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := idp.Login(b, resp.Header.Get("Location"), "carol", "carol-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	if r := callback(t, b, h, cb, ""); r.status != 400 || r.body["error"] != "invalid_request" || r.body["access_token"] != nil {
		t.Fatalf("a sign-in for tokens that needs a second factor: %d %s, want 400 invalid_request", r.status, r.raw)
	}
	b = browser(t)
	cb, err = idp.Login(b, startSignIn(t, b, h, "corp", ""), "carol", "carol-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	if r := callback(t, b, h, cb, ""); r.status != 202 || r.body["slug"] != "2FA" {
		t.Fatalf("a sign-in for a session that needs a second factor: %d %s, want 202 with a 2FA request", r.status, r.raw)
	}
}
