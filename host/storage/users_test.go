package storage_test

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// TestUsersStoredBeforeKeys: users that an older host stored, without a
// username key and with names as typed, are keyed when a host opens the
// database: a name that only needs normalizing is rewritten to its
// canonical form (same user, same id), the older of two names that differ
// only in case claims the key, and a name that breaks today's rules is
// left as it was.
func TestUsersStoredBeforeKeys(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := t.Context()
		legacy := []struct{ id, name string }{
			{"u-jose", "Jose\u0301"},         // decomposed
			{"u-wide", "\uff42\uff4f\uff42"}, // full-width "bob"
			{"u-space", "carol "},            // a space: not a username any more
			{"u-mixed", "\u0430lice"},        // Cyrillic а with Latin
			{"u-alice-upper", "Alice"},       // older of two case variants
			{"u-alice-lower", "alice"},       // newer
			{"u-dave-nfc", "D\u00e1ve"},      // canonical ...
			{"u-dave-nfd", "Da\u0301ve"},     // ... and its decomposed twin
		}
		at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, u := range legacy {
			err := storage.Exec(ctx, d.store,
				"INSERT INTO users (id, username, password_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
				u.id, u.name, "hash-"+u.id, false, at.Add(time.Duration(i)*time.Minute), at)
			if err != nil {
				t.Fatal(err)
			}
		}
		s := d.open(t) // a host starts on the database

		wantUser := func(name, id string) {
			t.Helper()
			u, err := s.UserByUsername(ctx, name)
			if err != nil || u.ID != id {
				t.Errorf("UserByUsername(%+q) = %+v, %v; want user %s", name, u, err, id)
			}
		}
		wantUser("Jos\u00e9", "u-jose")
		wantUser("bob", "u-wide")
		wantUser("carol ", "u-space")
		wantUser("\u0430lice", "u-mixed")
		wantUser("Alice", "u-alice-upper")
		wantUser("alice", "u-alice-lower")
		wantUser("D\u00e1ve", "u-dave-nfc")
		wantUser("Da\u0301ve", "u-dave-nfd") // its canonical name is taken

		for _, name := range []string{"JOS\u00c9", "Bob", "ALICE", "d\u00e1ve"} {
			if _, err := s.CreateUser(ctx, name, "h"); !errors.Is(err, sdk.ErrConflict) {
				t.Errorf("CreateUser(%+q) beside the keyed legacy users: %v, want ErrConflict", name, err)
			}
		}
		if _, err := s.CreateUser(ctx, "carol", "h"); err != nil {
			t.Errorf("CreateUser(carol) beside the unkeyed %+q: %v", "carol ", err)
		}
		// Opening again changes nothing more.
		d.open(t)
		users, err := s.ListUsers(ctx)
		if err != nil || len(users) != len(legacy)+1 {
			t.Fatalf("ListUsers = %+v, %v", users, err)
		}
	})
}

// TestDisableAndEnableUser: disabling a user ends its live sessions in the
// same step, and no one else's; both calls say whether they changed the
// user, and refuse an unknown one.
func TestDisableAndEnableUser(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := t.Context()
		s := d.store
		alice, err := s.CreateUser(ctx, "alice", "h")
		if err != nil {
			t.Fatal(err)
		}
		future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
		tokens := []storage.Token{
			{Hash: "a1", Kind: "access", Subject: alice.ID, Username: "alice", FamilyID: "fam-1", ExpiresAt: future},
			{Hash: "r1", Kind: "refresh", Subject: alice.ID, Username: "alice", FamilyID: "fam-1", ExpiresAt: future},
			{Hash: "r2", Kind: "refresh", Subject: alice.ID, Username: "alice", FamilyID: "fam-2", ExpiresAt: future},
			{Hash: "old", Kind: "refresh", Subject: alice.ID, Username: "alice", FamilyID: "fam-0", ExpiresAt: past},
			{Hash: "b1", Kind: "refresh", Subject: "someone-else", Username: "bob", FamilyID: "fam-b", ExpiresAt: future},
		}
		for i := range tokens {
			tokens[i].ID = tokens[i].Hash
		}
		if err := s.SaveTokens(ctx, tokens...); err != nil {
			t.Fatal(err)
		}

		wasEnabled, sessions, err := s.DisableUser(ctx, alice.ID)
		if err != nil || !wasEnabled || len(sessions) != 2 || sessions[0] != "fam-1" || sessions[1] != "fam-2" {
			t.Fatalf("DisableUser = %v, %v, %v; want true, [fam-1 fam-2]", wasEnabled, sessions, err)
		}
		if u, _ := s.UserByUsername(ctx, "alice"); !u.Disabled {
			t.Fatalf("alice is not disabled: %+v", u)
		}
		for _, tt := range []struct {
			hash    string
			revoked bool
		}{{"a1", true}, {"r1", true}, {"r2", true}, {"b1", false}} {
			tok, err := s.TokenByHash(ctx, tt.hash)
			if err != nil || tok.RevokedAt.IsZero() == tt.revoked {
				t.Errorf("token %s: revoked at %v, %v; want revoked %v", tt.hash, tok.RevokedAt, err, tt.revoked)
			}
		}
		if wasEnabled, sessions, err := s.DisableUser(ctx, alice.ID); err != nil || wasEnabled || len(sessions) != 0 {
			t.Errorf("DisableUser again = %v, %v, %v; want false, none", wasEnabled, sessions, err)
		}
		if wasDisabled, err := s.EnableUser(ctx, alice.ID); err != nil || !wasDisabled {
			t.Errorf("EnableUser = %v, %v; want true", wasDisabled, err)
		}
		if u, _ := s.UserByUsername(ctx, "alice"); u.Disabled {
			t.Errorf("alice is still disabled: %+v", u)
		}
		if wasDisabled, err := s.EnableUser(ctx, alice.ID); err != nil || wasDisabled {
			t.Errorf("EnableUser again = %v, %v; want false", wasDisabled, err)
		}
		if _, _, err := s.DisableUser(ctx, "no-such-id"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("DisableUser of an unknown id: %v", err)
		}
		if _, err := s.EnableUser(ctx, "no-such-id"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("EnableUser of an unknown id: %v", err)
		}
	})
}
