package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// TestSessionsEnd: `sessions end` ends every session of a subject that
// is not a user of the users table (a directory's), and no other.
func TestSessionsEnd(t *testing.T) {
	f := newUsersFixture(t)
	ctx := context.Background()
	store, err := storage.Open(ctx, storage.SQLite, f.db)
	if err != nil {
		t.Fatal(err)
	}
	for i, subject := range []string{"ldap:abc", "ldap:abc", "ldap:other"} {
		id := []string{"s1", "s2", "s3"}[i]
		tok := storage.Token{ID: "t" + id, Hash: "h" + id, Kind: "refresh", Subject: subject, FamilyID: id, ExpiresAt: time.Now().Add(time.Hour)}
		if _, err := store.CreateSession(ctx, storage.Session{ID: id, Subject: subject, Username: "u", ExpiresAt: time.Now().Add(time.Hour)}, tok); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()

	out, err := f.run(t, "sessions", "end", "ldap:abc")
	if err != nil || !strings.Contains(out, `Subject "ldap:abc": 2 sessions ended.`) {
		t.Fatalf("sessions end: %v\n%s", err, out)
	}
	if out, err := f.run(t, "sessions", "end", "ldap:abc"); err != nil || !strings.Contains(out, "no live session") {
		t.Fatalf("sessions end again: %v\n%s", err, out)
	}
	store, err = storage.Open(ctx, storage.SQLite, f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for id, live := range map[string]bool{"s1": false, "s2": false, "s3": true} {
		sess, err := store.SessionByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if sess.Active(time.Now()) != live {
			t.Errorf("session %s active %v, want %v", id, sess.Active(time.Now()), live)
		}
	}
	if _, err := f.run(t, "sessions", "end", ""); err == nil {
		t.Error("an empty subject was accepted")
	}
}
