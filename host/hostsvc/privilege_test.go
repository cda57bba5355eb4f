package hostsvc_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/host/hostsvc"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// Least privilege, as a plugin meets it over the wire: users only for
// Authenticators, password hashes only with a grant, storage only the
// instance's own. (Signals: signals_test.go.)

// passwordBackend is the role of the first-party password plugin: an
// Authenticator with both password grants built in.
var passwordBackend = role{authenticator: true, grants: []string{hostsvc.GrantReadPasswordHashes, hostsvc.GrantWritePasswordHashes}}

// seedAlice creates the user alice with the hash "hash-a".
func seedAlice(t testing.TB, h *testHost) storage.User {
	t.Helper()
	alice, err := h.store.CreateUser(context.Background(), "alice", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	return alice
}

// storedHash is username's hash as the host's database holds it.
func storedHash(t testing.TB, h *testHost, username string) string {
	t.Helper()
	u, err := h.store.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

// A plugin that is not an Authenticator (a signal receiver, a lockout) gets
// no users at all, whatever its entry grants: it cannot look one up, learn
// whether one exists, or change a hash.
func testUsersOnlyForAuthenticators(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	alice := seedAlice(t, h)
	for _, tt := range []struct {
		instance string
		grants   []string
	}{
		{"receiver", nil},
		{"receiver-with-every-grant", hostsvc.Grants},
	} {
		users := h.plugin(t, tt.instance, role{grants: tt.grants}).Users()
		for _, name := range []string{"alice", "nobody"} {
			u, err := users.LookupUser(ctx, name)
			wantErr(t, tt.instance+": LookupUser("+name+")", err, sdk.ErrPermissionDenied)
			if u != (sdk.User{}) {
				t.Errorf("%s: a refused LookupUser(%s) returned %+v", tt.instance, name, u)
			}
		}
		err := users.SetPasswordHash(ctx, alice.ID, "hash-a", "hash-mallory")
		wantErr(t, tt.instance+": SetPasswordHash", err, sdk.ErrPermissionDenied)
	}
	if got := storedHash(t, h, "alice"); got != "hash-a" {
		t.Errorf("alice's hash is %q after refused calls, want hash-a", got)
	}
}

// An Authenticator looks users up, but sees a password hash only with
// password_hashes:read; write alone does not show it.
func testHashesOnlyWithGrants(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	alice := seedAlice(t, h)
	for _, tt := range []struct {
		instance string
		grants   []string
		wantHash string
	}{
		{"no-grants", nil, ""},
		{"write-only", []string{hostsvc.GrantWritePasswordHashes}, ""},
		{"read", []string{hostsvc.GrantReadPasswordHashes}, "hash-a"},
		{"read-and-write", []string{hostsvc.GrantWritePasswordHashes, hostsvc.GrantReadPasswordHashes}, "hash-a"},
	} {
		users := h.plugin(t, tt.instance, role{authenticator: true, grants: tt.grants}).Users()
		got, err := users.LookupUser(ctx, "alice")
		want := sdk.User{ID: alice.ID, Username: "alice", PasswordHash: tt.wantHash}
		if err != nil || got != want {
			t.Errorf("%s: LookupUser(alice) = %+v, %v; want %+v", tt.instance, got, err, want)
		}
		_, err = users.LookupUser(ctx, "nobody")
		wantErr(t, tt.instance+": LookupUser(nobody)", err, sdk.ErrNotFound)
	}
}

// SetPasswordHash needs password_hashes:write. Without it nothing changes,
// even for a backend that read the hash and so names the right old one.
func testSetPasswordHashNeedsWriteGrant(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	alice := seedAlice(t, h)
	for _, tt := range []struct {
		instance string
		grants   []string
	}{
		{"no-grants", nil},
		{"read-only", []string{hostsvc.GrantReadPasswordHashes}},
	} {
		users := h.plugin(t, tt.instance, role{authenticator: true, grants: tt.grants}).Users()
		err := users.SetPasswordHash(ctx, alice.ID, "hash-a", "hash-mallory")
		wantErr(t, tt.instance+": SetPasswordHash of alice's hash", err, sdk.ErrPermissionDenied)
		// The refusal comes first: it says nothing about users or hashes.
		err = users.SetPasswordHash(ctx, "no-such-id", "hash-a", "hash-mallory")
		wantErr(t, tt.instance+": SetPasswordHash of a missing user", err, sdk.ErrPermissionDenied)
		err = users.SetPasswordHash(ctx, alice.ID, "stale", "hash-mallory")
		wantErr(t, tt.instance+": SetPasswordHash from a wrong hash", err, sdk.ErrPermissionDenied)
		if got := storedHash(t, h, "alice"); got != "hash-a" {
			t.Fatalf("%s: alice's hash is %q after a refused SetPasswordHash, want hash-a", tt.instance, got)
		}
	}
	// The same call with the grant replaces it: the grant is what differs.
	users := h.plugin(t, "write", role{authenticator: true, grants: []string{hostsvc.GrantWritePasswordHashes}}).Users()
	if err := users.SetPasswordHash(ctx, alice.ID, "hash-a", "hash-b"); err != nil {
		t.Fatalf("SetPasswordHash with password_hashes:write: %v", err)
	}
	if got := storedHash(t, h, "alice"); got != "hash-b" {
		t.Errorf("alice's hash is %q after a granted SetPasswordHash, want hash-b", got)
	}
}

// ListUsers gives every user's hash at once, so it needs what reading one
// hash needs, password_hashes:read, and an Authenticator; a refusal says
// nothing about the users.
func testListUsersNeedsReadGrant(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	seedAlice(t, h)
	for _, tt := range []struct {
		instance string
		role     role
		allowed  bool
	}{
		{"receiver-with-every-grant", role{grants: hostsvc.Grants}, false},
		{"no-grants", role{authenticator: true}, false},
		{"write-only", role{authenticator: true, grants: []string{hostsvc.GrantWritePasswordHashes}}, false},
		{"read", role{authenticator: true, grants: []string{hostsvc.GrantReadPasswordHashes}}, true},
	} {
		users, err := h.plugin(t, tt.instance, tt.role).Users().ListUsers(ctx, "", 10)
		if tt.allowed {
			if err != nil || len(users) != 1 || users[0].PasswordHash != "hash-a" {
				t.Errorf("%s: ListUsers = %+v, %v; want alice with her hash", tt.instance, users, err)
			}
			continue
		}
		wantErr(t, tt.instance+": ListUsers", err, sdk.ErrPermissionDenied)
		if len(users) != 0 {
			t.Errorf("%s: a refused ListUsers returned %+v", tt.instance, users)
		}
	}
}

// Until the host has read a plugin's metadata (Declare), the plugin gets
// no users and sends no signal, whatever it is granted.
func testNothingBeforeDeclare(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	seedAlice(t, h)
	keeper := &hostKeeper{emits: []string{"acme.thing_done"}, configured: make(chan sdk.Host, 1)}
	svc := hostsvc.New(h.store, "undeclared", h.signals, hostsvc.Grants)
	remote := sdktest.StartUnconfigured(t, &authKeeper{keeper}, svc)
	if err := remote.Configure(ctx, "undeclared", json.RawMessage("{}")); err != nil {
		t.Fatal(err)
	}
	host := <-keeper.configured
	_, err := host.Users().LookupUser(ctx, "alice")
	wantErr(t, "LookupUser before Declare", err, sdk.ErrPermissionDenied)
	_, err = host.Signals().Emit(ctx, "acme.thing_done", map[string]any{})
	wantErr(t, "Emit before Declare", err, sdk.ErrPermissionDenied)
	if got := h.received.all(); len(got) != 0 {
		t.Errorf("a signal sent before Declare was delivered: %+v", got)
	}
	// Its own storage it has from the start.
	put(t, host.Storage(), "k", "v")
}

// A plugin's storage is its instance's, whatever the plugin is and is
// granted: a key that names another instance is just a key of its own.
func testStorageIsTheInstances(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	a := h.plugin(t, "a", passwordBackend).Storage()
	b := h.plugin(t, "b", role{}).Storage()
	put(t, a, "k", "a's")
	put(t, b, "k", "b's")
	if got := value(t, a, "k"); got != "a's" {
		t.Errorf("a reads its k = %q", got)
	}

	probes := []string{"b/k", "b:k", "b.k", "../b/k", "/b/k", `b\k`, "b k", "plugin_kv/b/k"}
	for _, key := range probes {
		_, err := a.Get(ctx, key)
		wantErr(t, "a reading "+key, err, sdk.ErrNotFound)
		if ok, err := a.Delete(ctx, key); err != nil || ok {
			t.Errorf("a deleting %s = %v, %v; want false", key, ok, err)
		}
		put(t, a, key, "a's")
	}
	if got := keys(t, b, ""); got != "k" {
		t.Errorf("b lists %s after a wrote keys naming it, want k", got)
	}
	if got := value(t, b, "k"); got != "b's" {
		t.Errorf("b's k = %q after a's writes, want b's", got)
	}
	own := append(slices.Clone(probes), "k")
	slices.Sort(own)
	if got, want := keys(t, a, ""), strings.Join(own, ","); got != want {
		t.Errorf("a lists %s, want its own keys %s", got, want)
	}
}

// Only a backend granted password_hashes:read is sent the user of each
// login with the Authenticate call (hostside.UserPrefetcher): anyone else
// learns no more than its own LookupUser would tell it.
func TestPrefetchOnlyWithTheReadGrant(t *testing.T) {
	var _ hostside.UserPrefetcher = (*hostsvc.Services)(nil)
	for _, tt := range []struct {
		grants []string
		want   bool
	}{
		{nil, false},
		{[]string{hostsvc.GrantWritePasswordHashes}, false},
		{[]string{hostsvc.GrantReadPasswordHashes}, true},
		{[]string{hostsvc.GrantReadPasswordHashes, hostsvc.GrantWritePasswordHashes}, true},
	} {
		if got := hostsvc.New(nil, "b", nil, tt.grants).PrefetchesUsers(); got != tt.want {
			t.Errorf("grants %q: PrefetchesUsers() = %v; want %v", tt.grants, got, tt.want)
		}
	}
}
