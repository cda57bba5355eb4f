package storage_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// TestSessionsStoredBeforeVouchedRoles: a database of a host from before
// sessions kept vouched roles (no roles column) gains the column when a
// host opens it; its sessions stay, active, without roles, and refresh
// as before; new sessions keep their roles.
func TestSessionsStoredBeforeVouchedRoles(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := t.Context()
		// The schema of an older host: the column it did not have.
		if err := storage.Exec(ctx, d.store, "ALTER TABLE sessions DROP COLUMN roles"); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Second)
		err := storage.Exec(ctx, d.store,
			"INSERT INTO sessions (id, kind, subject, username, local, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			"s-old", storage.SessionTokens, "ldap:carol", "carol", false, now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}

		s := d.open(t) // a host of this version starts on the database
		got, err := s.SessionByID(ctx, "s-old")
		if err != nil || !got.Active(time.Now()) || got.Roles != nil || got.Subject != "ldap:carol" {
			t.Fatalf("a session stored before the roles column = %+v, %v; want it active, without roles", got, err)
		}
		if _, err := s.CreateSession(ctx, storage.Session{ID: "s-new", Subject: "ldap:carol", Username: "carol",
			ExpiresAt: now.Add(time.Hour), Roles: []string{"ops"}}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SessionByID(ctx, "s-new"); err != nil || !reflect.DeepEqual(got.Roles, []string{"ops"}) {
			t.Fatalf("a new session = %+v, %v; want the roles [ops]", got, err)
		}
		// Opening again changes nothing more.
		d.open(t)
		if n, err := storage.Count(ctx, s, "SELECT COUNT(*) FROM sessions"); err != nil || n != 2 {
			t.Fatalf("%d sessions after opening again (%v), want 2", n, err)
		}
	})
}

// TestUnreadableSessionRolesFailClosed: roles a session row holds that do
// not read back as a list make reading the session an error, never a
// session without them.
func TestUnreadableSessionRolesFailClosed(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := t.Context()
		now := time.Now().UTC()
		if _, err := d.store.CreateSession(ctx, storage.Session{ID: "s-1", Subject: "ldap:carol", Username: "carol", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := storage.Exec(ctx, d.store, "UPDATE sessions SET roles = ? WHERE id = ?", "ops,billing", "s-1"); err != nil {
			t.Fatal(err)
		}
		if got, err := d.store.SessionByID(ctx, "s-1"); err == nil {
			t.Fatalf("SessionByID of a row with unreadable roles = %+v, %v; want an error", got, err)
		}
	})
}

// TestSessionsStoredBeforeUpstream: a database of a host from before
// sessions kept the provider's tokens (no upstream columns) gains them
// when a host opens it; its sessions stay, active, without an upstream;
// and the provider tokens that host kept with external identities are
// emptied, so that no copy is left outside the sessions.
func TestSessionsStoredBeforeUpstream(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := t.Context()
		for _, col := range []string{"upstream_backend", "upstream_refresh_token", "upstream_expiry"} {
			if err := storage.Exec(ctx, d.store, "ALTER TABLE sessions DROP COLUMN "+col); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC().Truncate(time.Second)
		err := storage.Exec(ctx, d.store,
			"INSERT INTO sessions (id, kind, subject, username, local, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			"s-old", storage.SessionTokens, "ldap:carol", "carol", false, now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		err = storage.Exec(ctx, d.store,
			"INSERT INTO external_identities (backend, subject, user_id, refresh_token, expiry, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			"corp", "sub-1", "u-1", []byte("sealed-by-an-older-host"), now, now, now)
		if err != nil {
			t.Fatal(err)
		}

		s := d.open(t) // a host of this version starts on the database
		got, err := s.SessionByID(ctx, "s-old")
		if err != nil || !got.Active(time.Now()) || got.Upstream.Backend != "" || got.Upstream.RefreshToken != nil {
			t.Fatalf("a session stored before the upstream columns = %+v, %v; want it active, without an upstream", got, err)
		}
		if n, err := storage.Count(ctx, s, "SELECT COUNT(*) FROM external_identities WHERE refresh_token IS NOT NULL OR expiry IS NOT NULL"); err != nil || n != 0 {
			t.Fatalf("%d external identities still hold a provider token (%v), want none", n, err)
		}
		if link, err := s.ExternalIdentityOf(ctx, "corp", "sub-1"); err != nil || link.UserID != "u-1" {
			t.Fatalf("the link itself = %+v, %v; want it kept", link, err)
		}
	})
}

// TestIndexesOfWhatIsNullWhenWritten: a session's secret hash (none for
// token sessions) and the times sessions and tokens were revoked are
// indexed only where set, so a new login writes no entry to those
// indexes. A database of an older host, with full indexes, gets the
// partial ones when a host opens it; the secret stays unique.
func TestIndexesOfWhatIsNullWhenWritten(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := t.Context()
		// The indexes of an older host.
		for _, stmt := range []string{
			"DROP INDEX sessions_by_secret", "DROP INDEX sessions_revoked", "DROP INDEX tokens_revoked",
			"CREATE UNIQUE INDEX idx_sessions_secret_hash ON sessions(secret_hash)",
			"CREATE INDEX idx_sessions_revoked_at ON sessions(revoked_at)",
			"CREATE INDEX idx_tokens_revoked_at ON tokens(revoked_at)",
		} {
			if err := storage.Exec(ctx, d.store, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		s := d.open(t)
		partial := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ? AND sql LIKE '%WHERE%IS NOT NULL%'"
		exists := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
		if s.Driver() == storage.Postgres {
			partial = "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ? AND indexdef LIKE '%WHERE%IS NOT NULL%'"
			exists = "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?"
		}
		for _, name := range []string{"sessions_by_secret", "sessions_revoked", "tokens_revoked"} {
			if n, err := storage.Count(ctx, s, partial, name); err != nil || n != 1 {
				t.Errorf("partial index %s: %d (%v), want 1", name, n, err)
			}
		}
		for _, name := range []string{"idx_sessions_secret_hash", "idx_sessions_revoked_at", "idx_tokens_revoked_at"} {
			if n, err := storage.Count(ctx, s, exists, name); err != nil || n != 0 {
				t.Errorf("replaced index %s: %d (%v), want it dropped", name, n, err)
			}
		}

		exp := time.Now().Add(time.Hour)
		for _, id := range []string{"s-1", "s-2"} { // token sessions: no secret
			if _, err := s.CreateSession(ctx, storage.Session{ID: id, Subject: "u1", Username: "alice", ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
		}
		cookie := storage.Session{ID: "c-1", Kind: storage.SessionCookie, Subject: "u1", Username: "alice", SecretHash: "ab12", ExpiresAt: exp}
		if _, err := s.CreateSession(ctx, cookie); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SessionBySecret(ctx, "ab12"); err != nil || got.ID != "c-1" {
			t.Fatalf("SessionBySecret = %+v, %v; want c-1", got, err)
		}
		cookie.ID = "c-2"
		if _, err := s.CreateSession(ctx, cookie); err == nil {
			t.Fatal("a second session with the same secret hash was stored")
		}
	})
}
