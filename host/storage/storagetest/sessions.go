package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func testSessions(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	now := time.Now()
	alice, err := s.CreateUser(ctx, "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(hash, family string) storage.Token {
		return storage.Token{ID: hash, Hash: hash, Kind: "refresh", Subject: alice.ID, Username: "alice", FamilyID: family, ExpiresAt: now.Add(time.Hour)}
	}
	local, err := s.CreateSession(ctx, storage.Session{ID: "s-local", Subject: alice.ID, Username: "alice", ExpiresAt: now.Add(time.Hour)}, refresh("r1", "s-local"))
	if err != nil || !local.Local {
		t.Fatalf("CreateSession = %+v, %v; want a local session", local, err)
	}
	external, err := s.CreateSession(ctx, storage.Session{ID: "s-ext", Subject: "ldap:bob", Username: "bob", ExpiresAt: now.Add(time.Hour)})
	if err != nil || external.Local {
		t.Fatalf("CreateSession = %+v, %v; want a session of a user the table does not hold", external, err)
	}
	for _, id := range []string{"s-local", "s-ext"} {
		got, err := s.SessionByID(ctx, id)
		if err != nil || !got.Active(now) || got.ExpiresAt.Sub(now.Add(time.Hour)).Abs() > time.Second {
			t.Fatalf("SessionByID(%s) = %+v, %v; want it active", id, got, err)
		}
	}
	if _, err := s.SessionByID(ctx, "nope"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if got, _ := s.SessionByID(ctx, "s-ext"); got.Active(now.Add(2 * time.Hour)) {
		t.Error("a session is active past its end")
	}

	// A password change ends the user's sessions and tokens, and only
	// the user's.
	ended, err := s.SetPassword(ctx, "alice", "h2")
	if err != nil || len(ended) != 1 || ended[0] != "s-local" {
		t.Fatalf("SetPassword ended %v, %v; want [s-local]", ended, err)
	}
	if got, _ := s.SessionByID(ctx, "s-local"); got.Active(now) {
		t.Error("the session survived a password change")
	}
	if tok, _ := s.TokenByHash(ctx, "r1"); tok.RevokedAt.IsZero() {
		t.Error("the refresh token survived a password change")
	}
	if got, _ := s.SessionByID(ctx, "s-ext"); !got.Active(now) {
		t.Error("another user's session ended")
	}

	// A removed user's surviving session row is not active either.
	if _, err := s.CreateSession(ctx, storage.Session{ID: "s-2", Subject: alice.ID, Username: "alice", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ended, err := s.RemoveUser(ctx, "alice"); err != nil || len(ended) != 1 {
		t.Fatalf("RemoveUser ended %v, %v", ended, err)
	}
	if got, _ := s.SessionByID(ctx, "s-2"); got.Active(now) || got.UserLive {
		t.Errorf("the session of a removed user = %+v", got)
	}

	if n, err := s.RevokeFamily(ctx, "s-ext"); err != nil || n != 1 {
		t.Fatalf("RevokeFamily = %d, %v", n, err)
	}
	if n, err := s.PurgeSessions(ctx, now.Add(time.Minute), 100); err != nil || n != 3 {
		t.Errorf("PurgeSessions = %d, %v; want the 3 ended sessions", n, err)
	}
}

func testSigningKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t), open(t) // two hosts
	if err := a.AddSigningKey(ctx, storage.SigningKey{ID: "k1", Algorithm: "EdDSA", Public: []byte{1}, Sealed: []byte{2}}, false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	if err := b.AddSigningKey(ctx, storage.SigningKey{ID: "k2", Algorithm: "ES256", Public: []byte{3}, Sealed: []byte{4}}, true, until); err != nil {
		t.Fatal(err)
	}
	keys, err := a.SigningKeys(ctx, time.Now())
	if err != nil || len(keys) != 2 || keys[0].ID != "k2" || !keys[0].SignsUntil.IsZero() || keys[1].SignsUntil.IsZero() {
		t.Fatalf("SigningKeys = %+v, %v; want k2 signing, then k1 retiring", keys, err)
	}
	if keys[1].VerifiesUntil.Sub(until).Abs() > time.Second || string(keys[1].Sealed) != "\x02" {
		t.Errorf("k1 = %+v", keys[1])
	}
	if keys, _ := a.SigningKeys(ctx, until.Add(time.Second)); len(keys) != 1 {
		t.Errorf("a retired key is still listed: %+v", keys)
	}
	if n, err := b.PurgeSigningKeys(ctx, until.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("PurgeSigningKeys = %d, %v", n, err)
	}
}
