package hostsvc_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

func testUsers(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	alice, err := h.store.CreateUser(ctx, "alice", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	// A password backend: an Authenticator granted both.
	users := h.plugin(t, "users", passwordBackend).Users()

	got, err := users.LookupUser(ctx, "alice")
	want := sdk.User{ID: alice.ID, Username: "alice", PasswordHash: "hash-a"}
	if err != nil || got != want {
		t.Fatalf("LookupUser(alice) = %+v, %v; want %+v", got, err, want)
	}
	// Only exactly this username.
	for _, name := range []string{"nobody", "Alice", "alice ", ""} {
		_, err := users.LookupUser(ctx, name)
		wantErr(t, "LookupUser("+name+")", err, sdk.ErrNotFound)
	}

	// SetPasswordHash replaces the hash only if it is still the old one.
	if err := users.SetPasswordHash(ctx, alice.ID, "hash-a", "hash-b"); err != nil {
		t.Fatalf("SetPasswordHash: %v", err)
	}
	err = users.SetPasswordHash(ctx, alice.ID, "hash-a", "hash-c")
	wantErr(t, "SetPasswordHash from a stale hash", err, sdk.ErrConflict)
	err = users.SetPasswordHash(ctx, "no-such-id", "hash-a", "hash-c")
	wantErr(t, "SetPasswordHash of a missing user", err, sdk.ErrNotFound)

	// Users are the host's, not an instance's.
	if u, err := h.plugin(t, "other", passwordBackend).Users().LookupUser(ctx, "alice"); err != nil || u.PasswordHash != "hash-b" {
		t.Errorf("another instance looking up alice = %+v, %v; want hash-b", u, err)
	}
}
