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
