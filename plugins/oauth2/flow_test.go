package oauth2

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
	"github.com/portcullis-auth/portcullis/sdk/signals"
	"github.com/portcullis-auth/portcullis/testkit/oidcprovider"
)

func TestMetadata(t *testing.T) {
	md := New().Metadata()
	if md.Name != "oauth2" || md.Version == "" {
		t.Errorf("metadata %+v", md)
	}
	want := []string{"oauth2_authorize_url_generated", "oauth2_token_fetched", "oauth2_token_fetch_failed", "oauth2_token_refreshed", "oauth2_token_refresh_failed"}
	if !slices.Equal(md.Emits, want) {
		t.Errorf("emits %q, want %q", md.Emits, want)
	}
	for _, name := range md.Emits {
		if !signals.Known(name) || signals.HostOnly(name) {
			t.Errorf("%s is not a catalogue signal a plugin may send", name)
		}
	}
}

func TestSignIn(t *testing.T) {
	g := newRig(t, nil)
	f := g.login(alice)

	u, err := url.Parse(f.url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for key, want := range map[string]string{
		"client_id": clientID, "redirect_uri": callback, "response_type": "code", "state": f.begin.State,
		"code_challenge": f.begin.CodeChallenge, "code_challenge_method": "S256", "nonce": f.begin.Nonce,
		"scope": "openid email profile offline_access groups",
	} {
		if got := q.Get(key); got != want {
			t.Errorf("authorization URL's %s = %q, want %q", key, got, want)
		}
	}
	if q.Has("code_verifier") || strings.Contains(f.url, f.verifier) || strings.Contains(f.url, g.secret) {
		t.Error("the authorization URL carries the verifier or the client secret")
	}

	res := g.complete(f)
	if res.Failure != "" || res.Identity == nil {
		t.Fatalf("failure %q: %s", res.Failure, res.Description)
	}
	want := redirect.Identity{
		Subject: g.op.Issuer + "#sub-alice", Username: "alice", Email: "alice@example.test", EmailVerified: true,
		Roles: []string{"admin", "reader"}, Provisioning: "create",
	}
	got := *res.Identity
	if got.Subject != want.Subject || got.Username != want.Username || got.Email != want.Email ||
		got.EmailVerified != want.EmailVerified || !slices.Equal(got.Roles, want.Roles) || got.Provisioning != want.Provisioning {
		t.Errorf("identity %+v, want %+v", got, want)
	}
	if res.RefreshToken == "" {
		t.Error("no refresh token for a flow with offline_access")
	}
	if until := time.Until(res.Expiry); until <= 0 || until > time.Hour {
		t.Errorf("the access token expires in %s", until)
	}

	// bob's email is not verified, and he is in no group.
	res = g.complete(g.login(bob))
	if res.Identity == nil || res.Identity.Subject != g.op.Issuer+"#sub-bob" || res.Identity.EmailVerified || res.Identity.Roles != nil {
		t.Errorf("bob: %+v (%s)", res.Identity, res.Description)
	}

	wantSignals := []string{"oauth2_authorize_url_generated", "oauth2_token_fetched", "oauth2_authorize_url_generated", "oauth2_token_fetched"}
	if got := g.signals(); !slices.Equal(got, wantSignals) {
		t.Errorf("signals %q, want %q", got, wantSignals)
	}
	emitted := g.host.Emitted()
	var gen signals.OAuth2AuthorizeURLGenerated
	if err := signals.Decode(&emitted[0], &gen); err != nil {
		t.Fatal(err)
	}
	if gen.Backend != backend || gen.AuthorizeURL != u.Scheme+"://"+u.Host+u.Path || gen.Scope != "openid email profile offline_access groups" {
		t.Errorf("oauth2_authorize_url_generated %+v", gen)
	}
	var fetched signals.OAuth2TokenFetched
	if err := signals.Decode(&emitted[1], &fetched); err != nil {
		t.Fatal(err)
	}
	if fetched.Backend != backend || fetched.ExpiresIn <= 0 || !strings.Contains(fetched.Scope, "openid") {
		t.Errorf("oauth2_token_fetched %+v", fetched)
	}
	g.checkNoSecrets()
}

// The host's redirect URL for a flow wins over the configured one.
func TestRedirectURLFromTheHost(t *testing.T) {
	g := newRig(t, nil)
	f := g.begin("https://auth.example.com/v1/oauth2/corp/callback")
	u, _ := url.Parse(f.url)
	if got := u.Query().Get("redirect_uri"); got != "https://auth.example.com/v1/oauth2/corp/callback" {
		t.Errorf("redirect_uri %q", got)
	}
	// Without one configured, a flow needs the host's.
	g.configure(map[string]any{"issuer": g.op.Issuer, "client_id": clientID, "client_secret": g.secret})
	_, err := g.p.Begin(ctx(t), &redirect.BeginRequest{State: "s", CodeChallenge: "c", Nonce: "n"})
	if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a flow without a redirect URL: %v", err)
	}
}

func TestMalformedCallsAreErrors(t *testing.T) {
	g := newRig(t, nil)
	for name, req := range map[string]*redirect.BeginRequest{
		"no state":     {CodeChallenge: "c", Nonce: "n"},
		"no challenge": {State: "s", Nonce: "n"},
		"no nonce":     {State: "s", CodeChallenge: "c"},
	} {
		if _, err := g.p.Begin(ctx(t), req); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("begin, %s: %v", name, err)
		}
	}
	// A callback without a code is the provider's answer to a code that
	// does not redeem, not the host's mistake.
	if resp, err := g.p.Complete(ctx(t), &redirect.CompleteRequest{CodeVerifier: "v", Nonce: "n"}); err != nil || resp.Failure != redirect.FailureInvalidGrant {
		t.Errorf("complete, no code: %+v, %v; want the failure invalid_grant", resp, err)
	}
	for name, req := range map[string]*redirect.CompleteRequest{
		"no verifier": {Code: "c", Nonce: "n"},
		"no nonce":    {Code: "c", CodeVerifier: "v"},
	} {
		if _, err := g.p.Complete(ctx(t), req); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("complete, %s: %v", name, err)
		}
	}
	if _, err := g.p.Refresh(ctx(t), &redirect.RefreshRequest{}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("refresh without a token: %v", err)
	}
	if _, err := New().Begin(ctx(t), &redirect.BeginRequest{State: "s", CodeChallenge: "c", Nonce: "n"}); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("begin before configure: %v", err)
	}
}

func TestReplayedCode(t *testing.T) {
	g := newRig(t, nil)
	f := g.login(alice)
	if res := g.complete(f); res.Identity == nil {
		t.Fatalf("first use: %q %s", res.Failure, res.Description)
	}
	res := g.complete(f)
	wantFailure(t, res.Failure, res.Description, redirect.FailureInvalidGrant, "the token endpoint refused the grant")
	if res.Identity != nil || res.RefreshToken != "" {
		t.Errorf("a failure carries %+v", res)
	}
	if got := g.signals(); got[len(got)-1] != "oauth2_token_fetch_failed" {
		t.Errorf("signals %q", got)
	}
	var failed signals.OAuth2TokenFetchFailed
	emitted := g.host.Emitted()
	if err := signals.Decode(&emitted[len(emitted)-1], &failed); err != nil || failed.Error != "invalid_grant" || failed.Backend != backend {
		t.Errorf("oauth2_token_fetch_failed %+v, %v", failed, err)
	}
	g.checkNoSecrets()
}

func TestWrongVerifier(t *testing.T) {
	g := newRig(t, nil)
	f := g.login(alice)
	other := g.begin("").verifier
	res := g.completeWith(f, other, f.begin.Nonce)
	wantFailure(t, res.Failure, res.Description, redirect.FailureInvalidGrant, "")
	if res.Identity != nil {
		t.Errorf("a wrong verifier signed %+v in", res.Identity)
	}
	g.checkNoSecrets()
}

func TestWrongNonce(t *testing.T) {
	g := newRig(t, nil)
	g.op.SetFault(oidcprovider.WrongNonce)
	res := g.complete(g.login(alice))
	wantFailure(t, res.Failure, res.Description, redirect.FailureInvalidIDToken, "nonce:")
	// The nonce is compared with the flow's, whatever the provider says.
	g.op.SetFault(oidcprovider.NoFault)
	f := g.login(alice)
	res = g.completeWith(f, f.verifier, "nonce-of-another-flow")
	wantFailure(t, res.Failure, res.Description, redirect.FailureInvalidIDToken, "nonce:")
	g.checkNoSecrets()
}

func TestWrongAudience(t *testing.T) {
	g := newRig(t, nil)
	g.op.SetFault(oidcprovider.WrongAudience)
	res := g.complete(g.login(alice))
	wantFailure(t, res.Failure, res.Description, redirect.FailureInvalidIDToken, "audience:")
	g.checkNoSecrets()
}

func TestTokenHTTPError(t *testing.T) {
	g := newRig(t, nil)
	f := g.login(alice)
	g.op.SetFault(oidcprovider.TokenHTTPError(502))
	res := g.complete(f)
	wantFailure(t, res.Failure, res.Description, "http_error_502", "the token endpoint answered HTTP 502")
	var failed signals.OAuth2TokenFetchFailed
	emitted := g.host.Emitted()
	if err := signals.Decode(&emitted[len(emitted)-1], &failed); err != nil || failed.Error != "http_error_502" {
		t.Errorf("oauth2_token_fetch_failed %+v, %v", failed, err)
	}
	g.checkNoSecrets()
}

func TestTokenTimeout(t *testing.T) {
	g := newRig(t, nil) // timeout: 1s
	f := g.login(alice)
	g.op.SetFault(oidcprovider.TokenDelay(5 * time.Second))
	start := time.Now()
	res := g.complete(f)
	wantFailure(t, res.Failure, res.Description, redirect.FailureTimeout, "the token endpoint did not answer within 1s")
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the exchange gave up after %s, not the timeout", took)
	}
	g.checkNoSecrets()
}

// A caller that gives up gets an error, not a failure to show the user,
// and no signal says the provider failed.
func TestCallerGivesUp(t *testing.T) {
	g := newRig(t, func(c map[string]any) { c["timeout"] = "10s" })
	f := g.login(alice)
	g.op.SetFault(oidcprovider.TokenDelay(5 * time.Second))
	c, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	res, err := g.p.Complete(c, &redirect.CompleteRequest{RedirectURL: callback, Code: f.code, CodeVerifier: f.verifier, Nonce: f.begin.Nonce})
	if !errors.Is(err, context.DeadlineExceeded) || res != nil {
		t.Errorf("complete: %+v, %v", res, err)
	}
	if slices.Contains(g.signals(), "oauth2_token_fetch_failed") {
		t.Errorf("signals %q", g.signals())
	}
}

func TestProviderDown(t *testing.T) {
	g := newRig(t, nil)
	f := g.login(alice)
	g.op.Down()
	res := g.complete(f)
	wantFailure(t, res.Failure, res.Description, redirect.FailureUnreachable, "the token endpoint could not be reached")
	ref := g.refresh("some-refresh-token")
	wantFailure(t, ref.Failure, ref.Description, redirect.FailureUnreachable, "the token endpoint could not be reached")
}

// A provider that is down when the host starts does not keep the backend
// from being configured; discovery waits for the first flow.
func TestDiscoveryIsLazy(t *testing.T) {
	g := newRig(t, nil)
	issuer := g.op.Issuer
	g.op.Down()
	g.configure(map[string]any{"issuer": issuer, "client_id": clientID, "client_secret": g.secret, "redirect_url": callback})
	_, err := g.p.Begin(ctx(t), &redirect.BeginRequest{State: "s", CodeChallenge: "c", Nonce: "n"})
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("begin with the provider down: %v", err)
	}
	res, err := g.p.Complete(ctx(t), &redirect.CompleteRequest{Code: "c", CodeVerifier: "v", Nonce: "n"})
	if err != nil {
		t.Fatal(err)
	}
	wantFailure(t, res.Failure, res.Description, redirect.FailureUnreachable, "the discovery endpoint could not be reached")
}

func TestRefresh(t *testing.T) {
	g := newRig(t, nil)
	first := g.complete(g.login(alice))
	if first.RefreshToken == "" {
		t.Fatalf("no refresh token: %q %s", first.Failure, first.Description)
	}
	res := g.refresh(first.RefreshToken)
	if res.Failure != "" {
		t.Fatalf("refresh: %q %s", res.Failure, res.Description)
	}
	// The provider rotates refresh tokens: the new one is returned.
	if res.RefreshToken == "" || res.RefreshToken == first.RefreshToken {
		t.Errorf("the rotated refresh token was not returned")
	}
	if until := time.Until(res.Expiry); until <= 0 || until > time.Hour {
		t.Errorf("the new access token expires in %s", until)
	}
	// The new one works; the old one was revoked by the rotation.
	if again := g.refresh(res.RefreshToken); again.Failure != "" {
		t.Errorf("the rotated refresh token: %q %s", again.Failure, again.Description)
	}
	old := g.refresh(first.RefreshToken)
	wantFailure(t, old.Failure, old.Description, redirect.FailureInvalidGrant, "")
	if old.RefreshToken != "" || !old.Expiry.IsZero() {
		t.Errorf("a failed refresh carries %+v", old)
	}
	garbage := g.refresh("not-a-refresh-token-" + g.secret[:8])
	wantFailure(t, garbage.Failure, garbage.Description, redirect.FailureInvalidGrant, "")

	want := []string{"oauth2_token_refreshed", "oauth2_token_refreshed", "oauth2_token_refresh_failed", "oauth2_token_refresh_failed"}
	if got := g.signals(); !slices.Equal(got[len(got)-4:], want) {
		t.Errorf("signals %q, want them to end with %q", got, want)
	}
	emitted := g.host.Emitted()
	var refreshed signals.OAuth2TokenRefreshed
	if err := signals.Decode(&emitted[len(emitted)-4], &refreshed); err != nil || refreshed.Backend != backend || refreshed.ExpiresIn <= 0 {
		t.Errorf("oauth2_token_refreshed %+v, %v", refreshed, err)
	}
	var failed signals.OAuth2TokenRefreshFailed
	if err := signals.Decode(&emitted[len(emitted)-1], &failed); err != nil || failed.Error != "invalid_grant" {
		t.Errorf("oauth2_token_refresh_failed %+v, %v", failed, err)
	}
	g.checkNoSecrets()
}
