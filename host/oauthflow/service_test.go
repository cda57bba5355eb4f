package oauthflow_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/oauthflow"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// provider is a redirect backend that behaves as a provider would: a
// code is good once, for the verifier whose challenge Begin was given.
type provider struct {
	mu         sync.Mutex
	challenges map[string]string // state -> challenge
	codes      map[string]string // code -> challenge
	identity   redirect.Identity
	failure    string
	refresh    string

	// What Refresh answers, and the refresh tokens it was given.
	refreshed    redirect.RefreshResponse
	refreshErr   error
	refreshedFor []string
}

func (p *provider) Begin(_ context.Context, r *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.challenges[r.State] = r.CodeChallenge
	return &redirect.BeginResponse{URL: "https://idp.example/authorize?state=" + url.QueryEscape(r.State)}, nil
}

// authorize is the user signing in at the provider: the code for state.
func (p *provider) authorize(state string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := "code-" + state[:8]
	p.codes[code] = p.challenges[state]
	return code
}

func (p *provider) Complete(_ context.Context, r *redirect.CompleteRequest) (*redirect.CompleteResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want, ok := p.codes[r.Code]
	delete(p.codes, r.Code)
	sum := sha256.Sum256([]byte(r.CodeVerifier))
	if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != want {
		return &redirect.CompleteResponse{Failure: redirect.FailureInvalidGrant}, nil
	}
	if p.failure != "" {
		return &redirect.CompleteResponse{Failure: p.failure}, nil
	}
	id := p.identity
	return &redirect.CompleteResponse{Identity: &id, RefreshToken: p.refresh, Expiry: time.Now().Add(time.Hour)}, nil
}

func (p *provider) Refresh(_ context.Context, r *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refreshedFor = append(p.refreshedFor, r.RefreshToken)
	if p.refreshErr != nil {
		return nil, p.refreshErr
	}
	resp := p.refreshed
	return &resp, nil
}

type rig struct {
	svc    *oauthflow.Service
	store  *storage.Store
	idp    *provider
	sealer *tokens.Sealer
	now    time.Time
}

func newRig(t *testing.T, provisioning string) *rig {
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	sealer, err := tokens.LoadKEK("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{store: store, now: time.Now(), sealer: sealer, idp: &provider{challenges: map[string]string{}, codes: map[string]string{},
		identity: redirect.Identity{Subject: "https://idp.example#42", Username: "carol", Email: "carol@example.com",
			EmailVerified: true, Roles: []string{"staff", "missing-role"}, Provisioning: provisioning}, refresh: "upstream-refresh-secret"}}
	r.svc = oauthflow.New(oauthflow.Options{Store: store, Backends: map[string]redirect.Authenticator{"corp": r.idp},
		Key: bytes.Repeat([]byte{7}, 32), Sealer: sealer, ReturnOrigins: []string{"https://app.example"},
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return r.now }})
	return r
}

// signIn starts a flow and plays the provider: it returns the callback's
// query and the browser secret.
func (r *rig) signIn(t *testing.T, returnTo string) (url.Values, string) {
	t.Helper()
	st, err := r.svc.Start(context.Background(), "corp", returnTo, "")
	if err != nil {
		t.Fatal(err)
	}
	return r.signInFrom(t, st)
}

// signInFrom plays the provider for a flow started.
func (r *rig) signInFrom(t *testing.T, st oauthflow.Started) (url.Values, string) {
	t.Helper()
	u, _ := url.Parse(st.URL)
	state := u.Query().Get("state")
	return url.Values{"state": {state}, "code": {r.idp.authorize(state)}}, st.Browser
}

func TestFlowStateIsSingleUseAndBoundToItsBrowser(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redirect.ProvisionCreate)
	q, browser := r.signIn(t, "/welcome")
	forged := url.Values{"state": {"forged"}, "code": q["code"]}
	for name, c := range map[string]struct {
		q       url.Values
		browser string
	}{"forged state": {forged, browser}, "another browser": {q, "another-browser"}, "no browser": {q, ""}} {
		if _, err := r.svc.Callback(ctx, "corp", c.q, c.browser); !errors.Is(err, oauthflow.ErrBadState) {
			t.Errorf("%s: %v; want ErrBadState", name, err)
		}
	}
	got, err := r.svc.Callback(ctx, "corp", q, browser)
	if err != nil || got.ReturnTo != "/welcome" || got.Identity.Username != "carol" {
		t.Fatalf("callback = %+v, %v", got, err)
	}
	if _, err := r.svc.Callback(ctx, "corp", q, browser); !errors.Is(err, oauthflow.ErrBadState) {
		t.Fatalf("a replayed state: %v; want ErrBadState", err)
	}
	q2, b2 := r.signIn(t, "")
	r.now = r.now.Add(11 * time.Minute)
	if _, err := r.svc.Callback(ctx, "corp", q2, b2); !errors.Is(err, oauthflow.ErrBadState) {
		t.Fatalf("an expired state: %v; want ErrBadState", err)
	}
}

func TestReturnToGoesOnlyWhereConfigured(t *testing.T) {
	r := newRig(t, redirect.ProvisionCreate)
	for _, ok := range []string{"", "/", "/app?x=1", "https://app.example/after"} {
		if _, err := r.svc.Start(context.Background(), "corp", ok, ""); err != nil {
			t.Errorf("return_to %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "https://app.example.evil.example/", "https://user@app.example/"} {
		if _, err := r.svc.Start(context.Background(), "corp", bad, ""); !errors.Is(err, oauthflow.ErrBadReturn) {
			t.Errorf("return_to %q: %v; want ErrBadReturn", bad, err)
		}
	}
	if _, err := r.svc.Start(context.Background(), "nope", "", ""); !errors.Is(err, oauthflow.ErrUnknownBackend) {
		t.Errorf("an unknown backend: %v", err)
	}
	// Tokens are answered as JSON, never put in a redirect.
	for _, bad := range []struct{ returnTo, grant string }{{"/welcome", storage.OAuth2GrantTokens}, {"", "cookies"}} {
		if _, err := r.svc.Start(context.Background(), "corp", bad.returnTo, bad.grant); !errors.Is(err, oauthflow.ErrBadGrant) {
			t.Errorf("return_to %q with grant %q: %v; want ErrBadGrant", bad.returnTo, bad.grant, err)
		}
	}
}

func TestProviderRefusalsAndFailures(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redirect.ProvisionCreate)
	q, b := r.signIn(t, "")
	q.Del("code")
	q.Set("error", "access_denied")
	var pe *oauthflow.ProviderError
	if _, err := r.svc.Callback(ctx, "corp", q, b); !errors.As(err, &pe) || pe.Type != "access_denied" || pe.Upstream {
		t.Fatalf("access_denied: %v", err)
	}
	q, b = r.signIn(t, "")
	q.Set("code", "a-code-the-provider-never-issued")
	if _, err := r.svc.Callback(ctx, "corp", q, b); !errors.As(err, &pe) || pe.Type != redirect.FailureInvalidGrant {
		t.Fatalf("a wrong code: %v", err)
	}
	r.idp.failure = "http_error_502"
	q, b = r.signIn(t, "")
	if _, err := r.svc.Callback(ctx, "corp", q, b); !errors.As(err, &pe) || !pe.Upstream {
		t.Fatalf("a provider's 502: %v; want an upstream error", err)
	}
}

func TestProvisioning(t *testing.T) {
	ctx := context.Background()
	t.Run("deny", func(t *testing.T) {
		r := newRig(t, redirect.ProvisionDeny)
		q, b := r.signIn(t, "")
		if _, err := r.svc.Callback(ctx, "corp", q, b); !errors.Is(err, oauthflow.ErrNotProvisioned) {
			t.Fatalf("deny: %v", err)
		}
	})
	t.Run("link", func(t *testing.T) {
		r := newRig(t, redirect.ProvisionLink)
		q, b := r.signIn(t, "")
		if _, err := r.svc.Callback(ctx, "corp", q, b); !errors.Is(err, oauthflow.ErrNotProvisioned) {
			t.Fatalf("link without a local user of that email: %v", err)
		}
		dave, _ := r.store.CreateUser(ctx, "dave", "h")
		if err := r.store.SetUserEmail(ctx, "dave", "Carol@example.com"); err != nil {
			t.Fatal(err)
		}
		r.idp.identity.EmailVerified = false
		q, b = r.signIn(t, "")
		if _, err := r.svc.Callback(ctx, "corp", q, b); !errors.Is(err, oauthflow.ErrNotProvisioned) {
			t.Fatalf("link by an unverified email: %v", err)
		}
		r.idp.identity.EmailVerified = true
		q, b = r.signIn(t, "")
		got, err := r.svc.Callback(ctx, "corp", q, b)
		if err != nil || got.Identity.Subject != dave.ID {
			t.Fatalf("link: %+v, %v; want dave", got, err)
		}
		// Linked now: the email no longer matters.
		r.idp.identity.Email, r.idp.identity.EmailVerified = "", false
		q, b = r.signIn(t, "")
		if got, err := r.svc.Callback(ctx, "corp", q, b); err != nil || got.Identity.Subject != dave.ID {
			t.Fatalf("a linked identity: %+v, %v", got, err)
		}
	})
	t.Run("create", func(t *testing.T) {
		r := newRig(t, redirect.ProvisionCreate)
		if _, err := r.store.CreateRole(ctx, "staff"); err != nil {
			t.Fatal(err)
		}
		q, b := r.signIn(t, "")
		got, err := r.svc.Callback(ctx, "corp", q, b)
		if err != nil {
			t.Fatal(err)
		}
		u, err := r.store.UserByUsername(ctx, "carol")
		if err != nil || u.ID != got.Identity.Subject || u.PasswordHash != "" || u.Email != "carol@example.com" {
			t.Fatalf("created %+v, %v", u, err)
		}
		if link, err := r.store.ExternalIdentityOf(ctx, "corp", "https://idp.example#42"); err != nil || link.UserID != u.ID {
			t.Fatalf("the link = %+v, %v; want it to name carol", link, err)
		}
		authz, err := r.store.UserAuthz(ctx, u.ID)
		if err != nil || strings.Join(authz.Roles, ",") != "staff" {
			t.Fatalf("roles %v, %v; want the mapped role that exists", authz.Roles, err)
		}
		// Another provider's user of the same name does not take it over.
		r.idp.identity.Subject = "https://idp.example#43"
		q, b = r.signIn(t, "")
		if _, err := r.svc.Callback(ctx, "corp", q, b); !errors.Is(err, oauthflow.ErrNotProvisioned) {
			t.Fatalf("create over an existing name: %v", err)
		}
	})
}
