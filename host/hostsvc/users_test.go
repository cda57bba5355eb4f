package hostsvc_test

import (
	"fmt"
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
	// A name protobuf cannot carry is refused on the plugin's side.
	_, err = users.LookupUser(ctx, "alice\xff")
	wantErr(t, "LookupUser of a name that is not UTF-8", err, sdk.ErrInvalidArgument)

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

// testListUsers: a backend granted password_hashes:read reads every user,
// hash included, a page at a time, each user once, until an empty page.
func testListUsers(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	want := map[string]sdk.User{}
	for i := range 5 {
		u, err := h.store.CreateUser(ctx, fmt.Sprintf("user%d", i), fmt.Sprintf("hash-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		want[u.ID] = sdk.User{ID: u.ID, Username: u.Username, PasswordHash: u.PasswordHash}
	}
	if _, _, err := h.store.DisableUser(ctx, mustID(t, h, "user3")); err != nil {
		t.Fatal(err)
	}
	for id, u := range want {
		if u.Username == "user3" {
			u.Disabled = true
			want[id] = u
		}
	}
	users := h.plugin(t, "users", passwordBackend).Users()
	got := map[string]sdk.User{}
	after, pages := "", 0
	for {
		page, err := users.ListUsers(ctx, after, 2)
		if err != nil {
			t.Fatalf("ListUsers(%q, 2): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		if pages++; len(page) > 2 || pages > 5 {
			t.Fatalf("page %d has %d users; limit 2, 5 users", pages, len(page))
		}
		for _, u := range page {
			if _, dup := got[u.ID]; dup || u.ID <= after {
				t.Fatalf("user %s listed twice or out of order (after %q)", u.ID, after)
			}
			got[u.ID] = u
			after = u.ID
		}
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d users, want %d: %+v", len(got), len(want), got)
	}
	for id, u := range want {
		if got[id] != u {
			t.Errorf("listed %+v, want %+v", got[id], u)
		}
	}
	_, err := users.ListUsers(ctx, "", 0)
	wantErr(t, "ListUsers with limit 0", err, sdk.ErrInvalidArgument)
}

func mustID(t *testing.T, h *testHost, username string) string {
	t.Helper()
	u, err := h.store.UserByUsername(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
