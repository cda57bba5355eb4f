package tokens_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// vouchedFixture is an issuer on a fresh SQLite store with two roles:
// billing (invoices.write, orders.read) and support (tickets.read), and
// alice, a user of the users table who holds support.
type vouchedFixture struct {
	store  *storage.Store
	issuer *tokens.Issuer
	alice  storage.User
}

func newVouchedFixture(t *testing.T) vouchedFixture {
	t.Helper()
	ctx := context.Background()
	store, issuer := newTestIssuer(t, nil)
	alice, err := store.CreateUser(ctx, "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	for role, perms := range map[string][]string{"billing": {"orders.read", "invoices.write"}, "support": {"tickets.read"}} {
		if _, err := store.CreateRole(ctx, role); err != nil {
			t.Fatal(err)
		}
		if _, err := store.GrantPermissions(ctx, role, perms...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.AddUserRole(ctx, "alice", "support"); err != nil {
		t.Fatal(err)
	}
	return vouchedFixture{store: store, issuer: issuer, alice: alice}
}

func (f vouchedFixture) claims(t *testing.T, p tokens.Pair) *accesstoken.Claims {
	t.Helper()
	c, err := f.issuer.Verify(context.Background(), p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantAuthz(t *testing.T, what string, c *accesstoken.Claims, roles, perms []string) {
	t.Helper()
	if !reflect.DeepEqual(c.Roles, roles) || !reflect.DeepEqual(c.Permissions, perms) || c.PermissionsOverflow || c.Superuser {
		t.Errorf("%s: roles %q permissions %q (overflow %v, superuser %v); want roles %q permissions %q",
			what, c.Roles, c.Permissions, c.PermissionsOverflow, c.Superuser, roles, perms)
	}
}

// TestVouchedRolesReachTokens: the roles a backend vouched for reach the
// login's access token with the permissions the roles table grants them,
// beside those the users table gives the subject; a name no role defines
// is carried without permissions; a refresh keeps the session's roles and
// reads their permissions again.
func TestVouchedRolesReachTokens(t *testing.T) {
	ctx := context.Background()
	f := newVouchedFixture(t)

	// Another backend's user: the vouched roles alone. Repeats and order
	// do not matter; "ops" is defined by no role.
	pair, err := f.issuer.Issue(ctx, sdk.Identity{Subject: "ldap:carol", Username: "carol", Roles: []string{"ops", "billing", "billing"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pair.Session.Roles, []string{"billing", "ops"}) {
		t.Errorf("the session keeps the roles %q, want [billing ops]", pair.Session.Roles)
	}
	wantAuthz(t, "an identity of another backend", f.claims(t, pair), []string{"billing", "ops"}, []string{"invoices.write", "orders.read"})

	// The role gains a definition and a permission: the next token, a
	// refresh, carries it; the roles are the session's, not asked again.
	if _, err := f.store.CreateRole(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GrantPermissions(ctx, "ops", "deploy"); err != nil {
		t.Fatal(err)
	}
	pair, err = f.issuer.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	wantAuthz(t, "the refreshed token", f.claims(t, pair), []string{"billing", "ops"}, []string{"deploy", "invoices.write", "orders.read"})
	pair, err = f.issuer.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	wantAuthz(t, "the token refreshed twice", f.claims(t, pair), []string{"billing", "ops"}, []string{"deploy", "invoices.write", "orders.read"})

	// A user of the users table: the union of both.
	pair, err = f.issuer.Issue(ctx, sdk.Identity{Subject: f.alice.ID, Username: "alice", Roles: []string{"billing"}})
	if err != nil {
		t.Fatal(err)
	}
	wantAuthz(t, "a local user with vouched roles", f.claims(t, pair), []string{"billing", "support"}, []string{"invoices.write", "orders.read", "tickets.read"})

	// A vouched role that the user also holds counts once.
	pair, err = f.issuer.Issue(ctx, sdk.Identity{Subject: f.alice.ID, Username: "alice", Roles: []string{"support"}})
	if err != nil {
		t.Fatal(err)
	}
	wantAuthz(t, "a vouched role the user holds", f.claims(t, pair), []string{"support"}, []string{"tickets.read"})

	// A login without vouched roles gets the users table's alone.
	pair, err = f.issuer.Issue(ctx, sdk.Identity{Subject: f.alice.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	wantAuthz(t, "a login without vouched roles", f.claims(t, pair), []string{"support"}, []string{"tickets.read"})
}

// TestVouchedRolesReachCookieSessions: a cookie session's authorization,
// as forward-auth reads it at each request, holds the roles its login
// was vouched, with the users table's for a local user.
func TestVouchedRolesReachCookieSessions(t *testing.T) {
	ctx := context.Background()
	f := newVouchedFixture(t)
	authzOf := func(id sdk.Identity) *accesstoken.Claims {
		t.Helper()
		_, secret, err := f.issuer.StartCookieSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := f.issuer.CookieSession(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.issuer.CurrentAuthz(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	wantAuthz(t, "another backend's user", authzOf(sdk.Identity{Subject: "ldap:carol", Username: "carol", Roles: []string{"billing", "ops"}}),
		[]string{"billing", "ops"}, []string{"invoices.write", "orders.read"})
	wantAuthz(t, "a local user", authzOf(sdk.Identity{Subject: f.alice.ID, Username: "alice", Roles: []string{"billing"}}),
		[]string{"billing", "support"}, []string{"invoices.write", "orders.read", "tickets.read"})
	wantAuthz(t, "another backend's user without vouched roles", authzOf(sdk.Identity{Subject: "ldap:dave", Username: "dave"}),
		[]string{}, []string{})
}

// TestInvalidVouchedRolesIssueNothing: roles outside the rules (a name
// that is not a role name, more than storage.MaxVouchedRoles) are an
// error, never a token or a session with fewer roles.
func TestInvalidVouchedRolesIssueNothing(t *testing.T) {
	ctx := context.Background()
	f := newVouchedFixture(t)
	tooMany := names("r", storage.MaxVouchedRoles+1)
	for name, roles := range map[string][]string{
		"a space":   {"billing", "bad role"},
		"empty":     {""},
		"a comma":   {"a,b"},
		"too long":  {strings.Repeat("r", 65)},
		"too many":  tooMany,
		"non-ASCII": {"r\u00f4le"},
	} {
		id := sdk.Identity{Subject: "ldap:carol", Username: "carol", Roles: roles}
		if pair, err := f.issuer.Issue(ctx, id); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("Issue with %s: %+v, %v; want sdk.ErrInvalidArgument", name, pair.Session, err)
		}
		if sess, _, err := f.issuer.StartCookieSession(ctx, id); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("StartCookieSession with %s: %+v, %v; want sdk.ErrInvalidArgument", name, sess, err)
		}
	}
	// At the bound, it passes (repeats count once).
	if _, err := f.issuer.Issue(ctx, sdk.Identity{Subject: "ldap:carol", Username: "carol", Roles: append(tooMany[:storage.MaxVouchedRoles], tooMany[0])}); err != nil {
		t.Errorf("Issue with %d roles: %v", storage.MaxVouchedRoles, err)
	}
}

// TestVouchedRolesOverflowFailsClosed: the users table's roles and the
// vouched ones together may not fit in a token; the token then carries
// permissions_overflow, as for a user of the table alone.
func TestVouchedRolesOverflowFailsClosed(t *testing.T) {
	ctx := context.Background()
	f := newVouchedFixture(t)
	for _, r := range names("local", 10) {
		if _, err := f.store.CreateRole(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.AddUserRole(ctx, "alice", r); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := f.issuer.Issue(ctx, sdk.Identity{Subject: f.alice.ID, Username: "alice", Roles: names("vouched", storage.MaxVouchedRoles)})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.claims(t, pair); !c.PermissionsOverflow || c.Roles != nil || c.Permissions != nil {
		t.Fatalf("%d roles together: %+v; want permissions_overflow", storage.MaxVouchedRoles+11, c)
	}
}
