package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// testVouchedRoles: the roles a login's backend vouched for are kept with
// its session, sorted and without repeats, and read back by another host;
// roles outside the rules store nothing; RolesAuthz gives the permissions
// the roles table grants them, and keeps a name no role defines without
// any.
func testVouchedRoles(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	end := time.Now().Add(time.Hour)

	sess, err := s.CreateSession(ctx, storage.Session{ID: "s-roles", Subject: "ldap:carol", Username: "carol", ExpiresAt: end,
		Roles: []string{"ops", "billing", "ops"}})
	if err != nil || !reflect.DeepEqual(sess.Roles, []string{"billing", "ops"}) {
		t.Fatalf("CreateSession = %+v, %v; want the roles [billing ops]", sess, err)
	}
	if got, err := other.SessionByID(ctx, "s-roles"); err != nil || !reflect.DeepEqual(got.Roles, []string{"billing", "ops"}) {
		t.Fatalf("SessionByID from another host = %+v, %v; want the roles [billing ops]", got, err)
	}
	if _, err := s.CreateSession(ctx, storage.Session{ID: "s-cookie", Kind: storage.SessionCookie, Subject: "ldap:carol", Username: "carol",
		SecretHash: "c0ffee", ExpiresAt: end, IdleExpiresAt: end, Roles: []string{"support"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := other.SessionBySecret(ctx, "c0ffee"); err != nil || !reflect.DeepEqual(got.Roles, []string{"support"}) {
		t.Fatalf("SessionBySecret = %+v, %v; want the roles [support]", got, err)
	}
	if _, err := s.CreateSession(ctx, storage.Session{ID: "s-none", Subject: "ldap:dave", Username: "dave", ExpiresAt: end}); err != nil {
		t.Fatal(err)
	}
	if got, err := other.SessionByID(ctx, "s-none"); err != nil || got.Roles != nil {
		t.Fatalf("a session without vouched roles = %+v, %v; want none", got, err)
	}

	// The most a session holds: as many roles as a token carries, each
	// of the longest name (more than 4 KiB together).
	most := make([]string, storage.MaxVouchedRoles)
	for i := range most {
		most[i] = fmt.Sprintf("%02d", i) + strings.Repeat("r", 62)
	}
	if _, err := s.CreateSession(ctx, storage.Session{ID: "s-most", Subject: "ldap:erin", Username: "erin", ExpiresAt: end, Roles: most}); err != nil {
		t.Fatal(err)
	}
	if got, err := other.SessionByID(ctx, "s-most"); err != nil || !reflect.DeepEqual(got.Roles, most) {
		t.Fatalf("a session with %d roles of 64 characters read back %d roles, %v", len(most), len(got.Roles), err)
	}

	t.Run("invalid roles store nothing", func(t *testing.T) {
		for name, roles := range map[string][]string{
			"empty name": {""}, "space": {"bill ing"}, "comma": {"a,b"}, "not ASCII": {"caf\u00e9"}, "not UTF-8": {"\xff"},
			"too long": {strings.Repeat("r", 65)}, "too many": append(most, "one-more"),
		} {
			_, err := s.CreateSession(ctx, storage.Session{ID: "s-bad", Subject: "ldap:mallory", Username: "mallory", ExpiresAt: end, Roles: roles})
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("CreateSession with roles of a %s = %v, want ErrInvalidArgument", name, err)
			}
			if _, err := s.SessionByID(ctx, "s-bad"); !errors.Is(err, sdk.ErrNotFound) {
				t.Fatalf("CreateSession with roles of a %s stored a session (%v)", name, err)
			}
		}
	})

	t.Run("RolesAuthz", func(t *testing.T) {
		if _, err := s.CreateRole(ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GrantPermissions(ctx, "billing", "orders.read", "invoices.write"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRole(ctx, "support"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GrantPermissions(ctx, "support", "orders.read", "tickets.read"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRole(ctx, "empty"); err != nil {
			t.Fatal(err)
		}
		a, err := other.RolesAuthz(ctx, []string{"support", "ops", "billing", "empty", "ops"})
		want := storage.Authz{Roles: []string{"billing", "empty", "ops", "support"}, Permissions: []string{"invoices.write", "orders.read", "tickets.read"}}
		if err != nil || !reflect.DeepEqual(a, want) {
			t.Fatalf("RolesAuthz = %+v, %v; want %+v", a, err, want)
		}
		if a, err := other.RolesAuthz(ctx, []string{"ops"}); err != nil || !reflect.DeepEqual(a.Roles, []string{"ops"}) || a.Permissions == nil || len(a.Permissions) != 0 {
			t.Fatalf("RolesAuthz of a role no row defines = %+v, %v; want the name without permissions", a, err)
		}
		if _, err := other.RolesAuthz(ctx, []string{"billing", "bad role"}); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("RolesAuthz of an invalid name: %v, want ErrInvalidArgument", err)
		}
		if err := s.DeleteRole(ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		if a, err := other.RolesAuthz(ctx, []string{"billing"}); err != nil || !reflect.DeepEqual(a.Roles, []string{"billing"}) || len(a.Permissions) != 0 {
			t.Fatalf("RolesAuthz of a deleted role = %+v, %v; want the name without permissions", a, err)
		}
	})
}
