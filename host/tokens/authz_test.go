package tokens_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

func TestSetAuthzBounds(t *testing.T) {
	long := make([]string, 40)
	for i := range long {
		long[i] = fmt.Sprintf("%03d", i) + strings.Repeat("p", 125) // 40 × 128 bytes: more than 4 KiB of JSON
	}
	tests := []struct {
		name     string
		in       storage.Authz
		overflow bool
	}{
		{"none", storage.Authz{}, false},
		{"at the bounds", storage.Authz{Roles: names("r", accesstoken.MaxTokenRoles), Permissions: names("p", accesstoken.MaxTokenPermissions)[:200]}, false},
		{"too many roles", storage.Authz{Roles: names("r", accesstoken.MaxTokenRoles+1)}, true},
		{"too many permissions", storage.Authz{Permissions: names("p", accesstoken.MaxTokenPermissions+1)}, true},
		{"too many bytes", storage.Authz{Permissions: long}, true},
		{"escaped bytes count", storage.Authz{Permissions: []string{strings.Repeat("<", 128), strings.Repeat(">", 128), strings.Repeat("&", 128), strings.Repeat("<&", 64), strings.Repeat("&<", 64), strings.Repeat("<>", 64)}}, true},
		{"superuser overflowing", storage.Authz{Superuser: true, Permissions: names("p", accesstoken.MaxTokenPermissions+1)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &accesstoken.Claims{Roles: []string{"stale"}, Permissions: []string{"stale"}}
			tokens.SetAuthz(c, tt.in)
			if c.PermissionsOverflow != tt.overflow || c.Superuser != tt.in.Superuser {
				t.Fatalf("overflow %v superuser %v, want %v %v", c.PermissionsOverflow, c.Superuser, tt.overflow, tt.in.Superuser)
			}
			if tt.overflow && (c.Roles != nil || c.Permissions != nil) {
				t.Errorf("an overflowing token carries roles %v and permissions %v", c.Roles, c.Permissions)
			}
			if !tt.overflow && (c.Roles == nil || c.Permissions == nil || len(c.Roles) != len(tt.in.Roles) || len(c.Permissions) != len(tt.in.Permissions)) {
				t.Errorf("roles %v permissions %v, want %v %v as non-nil lists", c.Roles, c.Permissions, tt.in.Roles, tt.in.Permissions)
			}
		})
	}
}

// TestTokensCarryAuthorization: each token minted, at a login and at every
// refresh, carries the user's roles and permissions as they are then; a
// user whose authorization does not fit gets a token that says so, and a
// warning is logged without the token.
func TestTokensCarryAuthorization(t *testing.T) {
	ctx := context.Background()
	var log bytes.Buffer
	store, issuer := newTestIssuer(t, func(o *tokens.Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	alice, err := store.CreateUser(ctx, "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateRole(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GrantPermissions(ctx, "billing", "orders.read", "invoices.write"); err != nil {
		t.Fatal(err)
	}
	claimsOf := func(p tokens.Pair) *accesstoken.Claims {
		t.Helper()
		c, err := issuer.Verify(ctx, p.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	pair, err := issuer.Issue(ctx, sdk.Identity{Subject: alice.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(pair); c.Roles == nil || len(c.Roles) != 0 || c.Permissions == nil || len(c.Permissions) != 0 || c.Superuser || c.PermissionsOverflow {
		t.Fatalf("a user without roles: %+v", c)
	}
	if _, err := store.AddUserRole(ctx, "alice", "billing"); err != nil {
		t.Fatal(err)
	}
	if err := store.SetSuperuser(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	pair, err = issuer.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(pair)
	if !reflect.DeepEqual(c.Roles, []string{"billing"}) || !reflect.DeepEqual(c.Permissions, []string{"invoices.write", "orders.read"}) || !c.Superuser {
		t.Fatalf("after a role and superuser were given, the refreshed token carries %+v", c)
	}

	if _, err := store.GrantPermissions(ctx, "billing", names("p", accesstoken.MaxTokenPermissions)...); err != nil {
		t.Fatal(err)
	}
	pair, err = issuer.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	c = claimsOf(pair)
	if !c.PermissionsOverflow || c.Roles != nil || c.Permissions != nil || !c.Superuser {
		t.Fatalf("a user with %d permissions: %+v", accesstoken.MaxTokenPermissions+2, c)
	}
	if !strings.Contains(log.String(), "do not fit in an access token") || !strings.Contains(log.String(), "token_id="+c.ID) {
		t.Errorf("no warning logged for the overflow:\n%s", log.String())
	}
	for _, secret := range []string{pair.AccessToken, pair.RefreshToken, strings.Split(pair.AccessToken, ".")[2]} {
		if strings.Contains(log.String(), secret) {
			t.Fatalf("the log holds a token:\n%s", log.String())
		}
	}

	// Within the bounds, but too long a token with this username: the
	// token is made without them rather than one no verifier parses.
	if err := store.SetSuperuser(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RevokePermissions(ctx, "billing", names("p", accesstoken.MaxTokenPermissions)...); err != nil {
		t.Fatal(err)
	}
	big := make([]string, 30)
	for i := range big {
		big[i] = fmt.Sprintf("%03d", i) + strings.Repeat("q", 125)
	}
	if _, err := store.GrantPermissions(ctx, "billing", big...); err != nil {
		t.Fatal(err)
	}
	pair, err = issuer.Issue(ctx, sdk.Identity{Subject: alice.ID, Username: strings.Repeat("a", 3000)})
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(pair); !c.PermissionsOverflow || c.Permissions != nil || len(pair.AccessToken) > accesstoken.MaxLength {
		t.Fatalf("a token too long with its permissions: %d bytes, overflow %v", len(pair.AccessToken), c.PermissionsOverflow)
	}

	// A subject that is not a user of the users table (another backend's
	// identity) gets empty lists.
	pair, err = issuer.Issue(ctx, sdk.Identity{Subject: "ldap:carol", Username: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(pair); c.Roles == nil || len(c.Roles) != 0 || len(c.Permissions) != 0 || c.Superuser || c.PermissionsOverflow {
		t.Fatalf("another backend's identity: %+v", c)
	}
}
