package tokens_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// fakeUpstream plays the provider behind an OAuth2 sign-in: it answers
// each Refresh as told and records what it was asked.
type fakeUpstream struct {
	mu     sync.Mutex
	calls  []storage.Session
	sealed []byte
	expiry time.Time
	err    error
}

func (f *fakeUpstream) Refresh(_ context.Context, sess storage.Session) ([]byte, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, sess)
	return f.sealed, f.expiry, f.err
}

func (f *fakeUpstream) answer(sealed []byte, expiry time.Time, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sealed, f.expiry, f.err = sealed, expiry, err
}

func (f *fakeUpstream) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

type upstreamFixture struct {
	store    *storage.Store
	issuer   *tokens.Issuer
	upstream *fakeUpstream
	carol    storage.User
}

func newUpstreamFixture(t *testing.T, withUpstream bool) upstreamFixture {
	t.Helper()
	f := upstreamFixture{upstream: &fakeUpstream{}}
	f.store, f.issuer = newTestIssuer(t, func(o *tokens.Options) {
		if withUpstream {
			o.Upstream = f.upstream
		}
	})
	var err error
	if f.carol, err = f.store.CreateUser(context.Background(), "carol", ""); err != nil {
		t.Fatal(err)
	}
	return f
}

// signIn issues tokens as an OAuth2 sign-in of carol would, with up as
// the provider's.
func (f upstreamFixture) signIn(t *testing.T, up storage.Upstream) tokens.Pair {
	t.Helper()
	ctx := tokens.WithUpstream(context.Background(), up)
	p, err := f.issuer.Issue(ctx, sdk.Identity{Subject: f.carol.ID, Username: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f upstreamFixture) session(t *testing.T, id string) storage.Session {
	t.Helper()
	s, err := f.store.SessionByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRefreshAsksTheProviderOnlyOnceItsTokenExpired: a session an OAuth2
// sign-in started keeps the provider's sealed token; its refreshes do not
// ask the provider while the provider's access token is valid, ask it
// once it has expired and store what it answered (a rotated token
// replacing the old, the new expiry), and then do not ask again until
// that expires. A password login's session never asks.
func TestRefreshAsksTheProviderOnlyOnceItsTokenExpired(t *testing.T) {
	ctx := context.Background()
	f := newUpstreamFixture(t, true)
	p := f.signIn(t, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-1"), Expiry: time.Now().Add(time.Hour)})
	if got := f.session(t, p.Session.ID).Upstream; got.Backend != "corp" || string(got.RefreshToken) != "sealed-1" {
		t.Fatalf("the session keeps %+v", got)
	}
	p, err := f.issuer.Refresh(ctx, p.RefreshToken)
	if err != nil || f.upstream.asked() != 0 {
		t.Fatalf("a refresh while the provider's token is valid: %v, the provider asked %d times; want none", err, f.upstream.asked())
	}

	// Expired: asked once; the provider rotated its token.
	f2 := f.signIn(t, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-2"), Expiry: time.Now().Add(-time.Second)})
	next := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	f.upstream.answer([]byte("sealed-3"), next, nil)
	p2, err := f.issuer.Refresh(ctx, f2.RefreshToken)
	if err != nil || f.upstream.asked() != 1 || string(f.upstream.calls[0].Upstream.RefreshToken) != "sealed-2" || f.upstream.calls[0].ID != f2.Session.ID {
		t.Fatalf("a refresh once the provider's token expired: %v; asked %d times", err, f.upstream.asked())
	}
	if got := f.session(t, f2.Session.ID).Upstream; string(got.RefreshToken) != "sealed-3" || !got.Expiry.Equal(next) {
		t.Fatalf("after the provider's refresh the session keeps %+v; want the rotated token and new expiry", got)
	}
	if _, err := f.issuer.Refresh(ctx, p2.RefreshToken); err != nil || f.upstream.asked() != 1 {
		t.Fatalf("a refresh right after: %v; the provider asked %d times, want still 1", err, f.upstream.asked())
	}
	// The other session of the same user kept its own token.
	if got := f.session(t, p.Session.ID).Upstream; string(got.RefreshToken) != "sealed-1" {
		t.Fatalf("the user's other session keeps %+v", got)
	}

	// Not rotated: the stored token stays.
	f3 := f.signIn(t, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-4"), Expiry: time.Now().Add(-time.Second)})
	f.upstream.answer(nil, next, nil)
	if _, err := f.issuer.Refresh(ctx, f3.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if got := f.session(t, f3.Session.ID).Upstream; string(got.RefreshToken) != "sealed-4" || !got.Expiry.Equal(next) {
		t.Fatalf("after a refresh without rotation the session keeps %+v", got)
	}

	// A password login: no upstream, never asked.
	asked := f.upstream.asked()
	pw, err := f.issuer.Issue(ctx, sdk.Identity{Subject: f.carol.ID, Username: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.session(t, pw.Session.ID).Upstream; got.Backend != "" {
		t.Fatalf("a password login's session has the upstream %+v", got)
	}
	if _, err := f.issuer.Refresh(ctx, pw.RefreshToken); err != nil || f.upstream.asked() != asked {
		t.Fatalf("a password session's refresh: %v; the provider was asked", err)
	}
}

// TestProviderRefusalEndsTheSession: a provider that refuses ends the
// session, as a revocation does: the refresh is an invalid token, the
// session and its tokens are revoked, and its access token introspects
// inactive.
func TestProviderRefusalEndsTheSession(t *testing.T) {
	ctx := context.Background()
	f := newUpstreamFixture(t, true)
	p := f.signIn(t, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-1"), Expiry: time.Now().Add(-time.Second)})
	f.upstream.answer(nil, time.Time{}, fmt.Errorf("%w: invalid_grant", tokens.ErrUpstreamRefused))
	_, err := f.issuer.Refresh(ctx, p.RefreshToken)
	var ended *tokens.UpstreamEndedError
	if !errors.As(err, &ended) || !errors.Is(err, tokens.ErrInvalidToken) || ended.Reason != tokens.ReasonUpstreamRefused || !ended.Revoked ||
		ended.Session.ID != p.Session.ID || ended.Session.Subject != f.carol.ID {
		t.Fatalf("a refusal: %v (%+v); want the session ended as an invalid token", err, ended)
	}
	if s := f.session(t, p.Session.ID); s.RevokedAt.IsZero() {
		t.Fatal("the session was not revoked")
	}
	if in, err := f.issuer.Introspect(ctx, p.AccessToken); err != nil || in.Active {
		t.Fatalf("introspection after the refusal: %+v, %v; want inactive", in, err)
	}
	// Presented again, the revoked token is refused as any token of a
	// revoked session is.
	if _, err := f.issuer.Refresh(ctx, p.RefreshToken); !errors.Is(err, tokens.ErrTokenReused) {
		t.Fatalf("the refresh token after the refusal: %v", err)
	}
	if f.upstream.asked() != 1 {
		t.Fatalf("the provider was asked %d times, want once", f.upstream.asked())
	}
}

// TestProviderDownFailsClosed: a provider (or backend) that cannot be
// asked fails the refresh without ending anything: the session stands,
// and the same refresh token works once the provider answers again.
func TestProviderDownFailsClosed(t *testing.T) {
	ctx := context.Background()
	f := newUpstreamFixture(t, true)
	p := f.signIn(t, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-1"), Expiry: time.Now().Add(-time.Second)})
	f.upstream.answer(nil, time.Time{}, errors.New("the provider could not be reached"))
	for range 2 {
		if _, err := f.issuer.Refresh(ctx, p.RefreshToken); !errors.Is(err, tokens.ErrUpstreamUnavailable) || errors.Is(err, tokens.ErrInvalidToken) {
			t.Fatalf("a provider that is down: %v; want ErrUpstreamUnavailable", err)
		}
	}
	if s := f.session(t, p.Session.ID); !s.Active(time.Now()) {
		t.Fatal("the session ended while the provider was down")
	}
	if in, err := f.issuer.Introspect(ctx, p.AccessToken); err != nil || !in.Active {
		t.Fatalf("introspection while the provider is down: %+v, %v; want active", in, err)
	}
	f.upstream.answer(nil, time.Now().Add(time.Hour), nil)
	if _, err := f.issuer.Refresh(ctx, p.RefreshToken); err != nil {
		t.Fatalf("the same refresh token once the provider is back: %v", err)
	}
	if f.upstream.asked() != 3 {
		t.Fatalf("the provider was asked %d times, want 3", f.upstream.asked())
	}
}

// TestUpstreamWithoutAWayToAsk: a session whose provider gave no refresh
// token ends when the provider's access token expires, and is never asked
// when the provider gave no expiry either; one with a refresh token but
// no expiry is asked at every refresh; and a host with no OAuth2 backend
// running fails closed, ending nothing.
func TestUpstreamWithoutAWayToAsk(t *testing.T) {
	ctx := context.Background()
	f := newUpstreamFixture(t, true)
	p := f.signIn(t, storage.Upstream{Backend: "corp", Expiry: time.Now().Add(-time.Second)})
	var ended *tokens.UpstreamEndedError
	if _, err := f.issuer.Refresh(ctx, p.RefreshToken); !errors.As(err, &ended) || ended.Reason != tokens.ReasonUpstreamExpired {
		t.Fatalf("no provider refresh token, its access token expired: %v; want the session ended", err)
	}
	if s := f.session(t, p.Session.ID); s.RevokedAt.IsZero() {
		t.Fatal("the session was not revoked")
	}
	p = f.signIn(t, storage.Upstream{Backend: "corp"})
	if _, err := f.issuer.Refresh(ctx, p.RefreshToken); err != nil || f.upstream.asked() != 0 {
		t.Fatalf("a provider that gave neither a refresh token nor an expiry: %v, asked %d", err, f.upstream.asked())
	}
	// A refresh token but no expiry: nothing says the provider's word
	// still holds, so it is asked at every refresh.
	p = f.signIn(t, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-1")})
	f.upstream.answer(nil, time.Time{}, nil)
	for range 2 {
		r, err := f.issuer.Refresh(ctx, p.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		p = r
	}
	if f.upstream.asked() != 2 {
		t.Fatalf("a provider that gave no expiry was asked %d times in 2 refreshes, want 2", f.upstream.asked())
	}

	g := newUpstreamFixture(t, false)
	p = g.signIn(t, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-1"), Expiry: time.Now().Add(-time.Second)})
	if _, err := g.issuer.Refresh(ctx, p.RefreshToken); !errors.Is(err, tokens.ErrUpstreamUnavailable) {
		t.Fatalf("no OAuth2 backend running: %v; want ErrUpstreamUnavailable", err)
	}
	if _, err := g.issuer.Refresh(ctx, p.RefreshToken); !errors.Is(err, tokens.ErrUpstreamUnavailable) {
		t.Fatalf("the same refresh token again: %v; want it still unused", err)
	}
}

// TestCookieSessionKeepsNoProviderToken: a cookie session an OAuth2
// sign-in started names its backend, and keeps no provider token: it
// never asks the provider.
func TestCookieSessionKeepsNoProviderToken(t *testing.T) {
	f := newUpstreamFixture(t, true)
	ctx := tokens.WithUpstream(context.Background(), storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-1"), Expiry: time.Now().Add(-time.Second)})
	sess, secret, err := f.issuer.StartCookieSession(ctx, sdk.Identity{Subject: f.carol.ID, Username: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	got := f.session(t, sess.ID).Upstream
	if got.Backend != "corp" || got.RefreshToken != nil || !got.Expiry.IsZero() {
		t.Fatalf("a cookie session keeps %+v; want the backend's name only", got)
	}
	if _, err := f.issuer.CookieSession(context.Background(), secret); err != nil || f.upstream.asked() != 0 {
		t.Fatalf("using the cookie session: %v, the provider asked %d times", err, f.upstream.asked())
	}
}
