package storagetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// testSessionUpstream: a session an external provider signed in keeps
// the provider's backend, sealed refresh token and access-token expiry,
// read back by another host; a refresh at the provider updates them for
// that session only, keeping the token when the provider did not rotate
// it; a session without an upstream, or revoked, is not updated.
func testSessionUpstream(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	alice, err := s.CreateUser(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(time.Hour)
	expiry := time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second)
	up := storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-1\x00\xff"), Expiry: expiry}
	for _, id := range []string{"s-up-1", "s-up-2"} {
		if _, err := s.CreateSession(ctx, storage.Session{ID: id, Subject: alice.ID, Username: "alice", ExpiresAt: end, Upstream: up}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateSession(ctx, storage.Session{ID: "s-plain", Subject: alice.ID, Username: "alice", ExpiresAt: end}); err != nil {
		t.Fatal(err)
	}
	read := func(id string) storage.Upstream {
		t.Helper()
		got, err := other.SessionByID(ctx, id)
		if err != nil {
			t.Fatalf("SessionByID(%s): %v", id, err)
		}
		return got.Upstream
	}
	same := func(a, b storage.Upstream) bool {
		return a.Backend == b.Backend && bytes.Equal(a.RefreshToken, b.RefreshToken) && a.Expiry.Equal(b.Expiry)
	}
	if got := read("s-up-1"); !same(got, up) {
		t.Fatalf("the upstream read back by another host = %+v, want %+v", got, up)
	}
	if got := read("s-plain"); !same(got, storage.Upstream{}) {
		t.Fatalf("a session without an upstream reads %+v", got)
	}

	// Not rotated: the token stays, the expiry moves.
	later := expiry.Add(time.Hour)
	if err := other.SetSessionUpstream(ctx, "s-up-1", nil, later); err != nil {
		t.Fatal(err)
	}
	if got := read("s-up-1"); !same(got, storage.Upstream{Backend: "corp", RefreshToken: up.RefreshToken, Expiry: later}) {
		t.Fatalf("after a refresh without rotation: %+v", got)
	}
	// Rotated, and a provider that gives no expiry.
	if err := s.SetSessionUpstream(ctx, "s-up-1", []byte("sealed-2"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := read("s-up-1"); !same(got, storage.Upstream{Backend: "corp", RefreshToken: []byte("sealed-2")}) {
		t.Fatalf("after a rotation: %+v", got)
	}
	// The other session of the same user keeps its own token.
	if got := read("s-up-2"); !same(got, up) {
		t.Fatalf("another session of the user changed: %+v", got)
	}
	if err := s.SetSessionUpstream(ctx, "s-plain", []byte("x"), later); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("SetSessionUpstream of a session without an upstream: %v, want ErrNotFound", err)
	}
	if got := read("s-plain"); !same(got, storage.Upstream{}) {
		t.Fatalf("a session without an upstream gained one: %+v", got)
	}
	if _, err := s.RevokeFamily(ctx, "s-up-2"); err != nil {
		t.Fatal(err)
	}
	if err := other.SetSessionUpstream(ctx, "s-up-2", []byte("sealed-3"), later); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("SetSessionUpstream of a revoked session: %v, want ErrNotFound", err)
	}
	if err := s.SetSessionUpstream(ctx, "nope", nil, later); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("SetSessionUpstream of an unknown session: %v, want ErrNotFound", err)
	}

	// A cookie session keeps its upstream too.
	if _, err := s.CreateSession(ctx, storage.Session{ID: "s-cookie", Kind: storage.SessionCookie, Subject: alice.ID, Username: "alice",
		SecretHash: "feed", ExpiresAt: end, IdleExpiresAt: end, Upstream: storage.Upstream{Backend: "corp"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := other.SessionBySecret(ctx, "feed"); err != nil || !same(got.Upstream, storage.Upstream{Backend: "corp"}) {
		t.Fatalf("SessionBySecret = %+v, %v", got.Upstream, err)
	}
}
