package oauthflow_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/oauthflow"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// signedIn finishes a sign-in of carol and returns it as the session it
// starts would hold it.
func (r *rig) signedIn(t *testing.T) (oauthflow.Finished, storage.Session) {
	t.Helper()
	q, b := r.signIn(t, "")
	got, err := r.svc.Callback(context.Background(), "corp", q, b)
	if err != nil {
		t.Fatal(err)
	}
	return got, storage.Session{ID: "s-1", Subject: got.Identity.Subject, Username: got.Identity.Username, Upstream: got.Upstream}
}

// TestCallbackHandsTheProviderTokenToTheSession: a finished sign-in
// carries the provider's refresh token sealed (never in the clear) for
// its backend and local user, with its access token's expiry, and says
// what the sign-in answers with.
func TestCallbackHandsTheProviderTokenToTheSession(t *testing.T) {
	r := newRig(t, redirect.ProvisionCreate)
	got, _ := r.signedIn(t)
	up := got.Upstream
	if got.Grant != storage.OAuth2GrantSession || up.Backend != "corp" || up.Expiry.IsZero() || len(up.RefreshToken) == 0 {
		t.Fatalf("finished = %+v; want a session grant with the provider's token", got)
	}
	if bytes.Contains(up.RefreshToken, []byte("upstream-refresh-secret")) {
		t.Fatal("the provider's refresh token is handed on in the clear")
	}
	st, err := r.svc.Start(context.Background(), "corp", "", storage.OAuth2GrantTokens)
	if err != nil {
		t.Fatal(err)
	}
	q, b := r.signInFrom(t, st)
	if got, err := r.svc.Callback(context.Background(), "corp", q, b); err != nil || got.Grant != storage.OAuth2GrantTokens {
		t.Fatalf("a sign-in started for tokens finished as %+v, %v", got, err)
	}
	// A provider that gives no refresh token: nothing sealed.
	r.idp.refresh = ""
	if got, _ := r.signedIn(t); got.Upstream.RefreshToken != nil || got.Upstream.Backend != "corp" {
		t.Fatalf("without a provider refresh token: %+v", got.Upstream)
	}
}

// TestRefreshAtTheProvider: Refresh hands the backend the session's
// token in the clear and returns the provider's rotated one sealed; only
// invalid_grant is a refusal; a backend or provider that fails is
// unavailable; a token sealed for another user or backend does not open,
// and the provider is not asked with it.
func TestRefreshAtTheProvider(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, redirect.ProvisionCreate)
	_, sess := r.signedIn(t)
	expiry := time.Now().Add(time.Hour).Truncate(time.Second)

	r.idp.refreshed = redirect.RefreshResponse{Expiry: expiry}
	sealed, exp, err := r.svc.Refresh(ctx, sess)
	if err != nil || sealed != nil || !exp.Equal(expiry) {
		t.Fatalf("a refresh without rotation = %q, %v, %v; want no new token and the expiry", sealed, exp, err)
	}
	if r.idp.refreshedFor[0] != "upstream-refresh-secret" {
		t.Fatalf("the backend was given %q", r.idp.refreshedFor[0])
	}

	r.idp.refreshed = redirect.RefreshResponse{RefreshToken: "rotated-secret", Expiry: expiry}
	sealed, _, err = r.svc.Refresh(ctx, sess)
	if err != nil || len(sealed) == 0 || bytes.Contains(sealed, []byte("rotated-secret")) {
		t.Fatalf("a rotation = %q, %v; want the new token sealed", sealed, err)
	}
	sess.Upstream.RefreshToken = sealed
	if _, _, err := r.svc.Refresh(ctx, sess); err != nil || r.idp.refreshedFor[2] != "rotated-secret" {
		t.Fatalf("the next refresh gave the backend %q (%v); want the rotated token", r.idp.refreshedFor[2], err)
	}

	r.idp.refreshed = redirect.RefreshResponse{Failure: redirect.FailureInvalidGrant, Description: "revoked"}
	if _, _, err := r.svc.Refresh(ctx, sess); !errors.Is(err, tokens.ErrUpstreamRefused) {
		t.Fatalf("invalid_grant: %v; want ErrUpstreamRefused", err)
	}
	for _, failure := range []string{"http_error_503", "http_error_401", redirect.FailureTimeout, redirect.FailureUnreachable, "request_error"} {
		r.idp.refreshed = redirect.RefreshResponse{Failure: failure}
		if _, _, err := r.svc.Refresh(ctx, sess); !errors.Is(err, oauthflow.ErrUnavailable) || errors.Is(err, tokens.ErrUpstreamRefused) {
			t.Errorf("failure %s: %v; want ErrUnavailable, not a refusal", failure, err)
		}
	}
	r.idp.refreshErr = errors.New("the plugin crashed")
	if _, _, err := r.svc.Refresh(ctx, sess); !errors.Is(err, oauthflow.ErrUnavailable) || errors.Is(err, tokens.ErrUpstreamRefused) {
		t.Errorf("a backend error: %v; want ErrUnavailable", err)
	}
	r.idp.refreshErr = nil

	asked := len(r.idp.refreshedFor)
	moved := sess
	moved.Subject = "another-user"
	if _, _, err := r.svc.Refresh(ctx, moved); !errors.Is(err, tokens.ErrUpstreamRefused) {
		t.Errorf("a token moved to another user's session: %v; want a refusal", err)
	}
	other := sess
	other.Upstream.Backend = "partner"
	if _, _, err := r.svc.Refresh(ctx, other); !errors.Is(err, oauthflow.ErrUnavailable) {
		t.Errorf("a backend that is not running: %v; want ErrUnavailable", err)
	}
	if len(r.idp.refreshedFor) != asked {
		t.Error("the provider was asked with a token that does not open")
	}
}
