package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// testRoles: roles hold permissions and users; a user's authorization is
// the union of its roles' permissions and its superuser flag; every
// refused input changes nothing; a second handle on the database (another
// host) sees what the first did.
func testRoles(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	alice, err := s.CreateUser(ctx, "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, "bob", "h")
	if err != nil {
		t.Fatal(err)
	}

	billing, err := s.CreateRole(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if billing.ID == "" || billing.Name != "billing" || billing.CreatedAt.IsZero() || len(billing.Permissions) != 0 || billing.Users != 0 {
		t.Fatalf("created role = %+v", billing)
	}
	if _, err := other.CreateRole(ctx, "billing"); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("a second role named billing: got %v, want ErrConflict", err)
	}
	if _, err := s.CreateRole(ctx, "support"); err != nil {
		t.Fatal(err)
	}

	t.Run("invalid input changes nothing", func(t *testing.T) {
		for _, name := range []string{"", "bill ing", "a/b", "caf\u00e9", "x\x00", strings.Repeat("r", 65), "\xff"} {
			if _, err := s.CreateRole(ctx, name); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("CreateRole(%+q) = %v, want ErrInvalidArgument", name, err)
			}
			if _, err := s.GrantPermissions(ctx, name, "p"); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("GrantPermissions to role %+q = %v, want ErrInvalidArgument", name, err)
			}
			if _, err := s.AddUserRole(ctx, "alice", name); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("AddUserRole(alice, %+q) = %v, want ErrInvalidArgument", name, err)
			}
			if err := s.DeleteRole(ctx, name); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("DeleteRole(%+q) = %v, want ErrInvalidArgument", name, err)
			}
		}
		if _, err := s.CreateRole(ctx, strings.Repeat("r", 64)); err != nil {
			t.Errorf("a role name of 64 characters: %v", err)
		}
		badPerms := []string{"", "orders read", "orders\tread", "caf\u00e9", "x\x7f", strings.Repeat("p", 129)}
		for _, p := range badPerms {
			if err := storage.ValidatePermission(p); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("ValidatePermission(%+q) = %v, want ErrInvalidArgument", p, err)
			}
			// One bad permission among good ones: nothing is granted.
			if _, err := s.GrantPermissions(ctx, "billing", "orders.read", p); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("GrantPermissions(billing, orders.read, %+q) = %v, want ErrInvalidArgument", p, err)
			}
			if _, err := s.RevokePermissions(ctx, "billing", p); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("RevokePermissions(billing, %+q) = %v, want ErrInvalidArgument", p, err)
			}
		}
		for _, p := range []string{"a", "orders:read", "https://api.example/orders#read", strings.Repeat("p", 128), "!~"} {
			if err := storage.ValidatePermission(p); err != nil {
				t.Errorf("ValidatePermission(%q) = %v, want nil", p, err)
			}
		}
		if _, err := s.GrantPermissions(ctx, "billing"); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("GrantPermissions with no permission = %v, want ErrInvalidArgument", err)
		}
		if _, err := s.RevokePermissions(ctx, "billing"); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("RevokePermissions with no permission = %v, want ErrInvalidArgument", err)
		}
		if r, err := other.RoleByName(ctx, "billing"); err != nil || len(r.Permissions) != 0 {
			t.Fatalf("after refused grants, billing = %+v, %v; want no permission", r, err)
		}
		if err := s.DeleteRole(ctx, strings.Repeat("r", 64)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown names", func(t *testing.T) {
		if _, err := s.RoleByName(ctx, "nobody"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("RoleByName(nobody) = %v, want ErrNotFound", err)
		}
		if _, err := s.RoleByName(ctx, "Billing"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("names match exactly: RoleByName(Billing) = %v, want ErrNotFound", err)
		}
		if _, err := s.GrantPermissions(ctx, "nobody", "p"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("GrantPermissions(nobody) = %v, want ErrNotFound", err)
		}
		if _, err := s.RevokePermissions(ctx, "nobody", "p"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("RevokePermissions(nobody) = %v, want ErrNotFound", err)
		}
		if err := s.DeleteRole(ctx, "nobody"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("DeleteRole(nobody) = %v, want ErrNotFound", err)
		}
		for _, c := range [][2]string{{"nobody", "billing"}, {"alice", "nobody"}, {"Alice", "billing"}} {
			if _, err := s.AddUserRole(ctx, c[0], c[1]); !errors.Is(err, sdk.ErrNotFound) {
				t.Errorf("AddUserRole(%s, %s) = %v, want ErrNotFound", c[0], c[1], err)
			}
			if _, err := s.RemoveUserRole(ctx, c[0], c[1]); !errors.Is(err, sdk.ErrNotFound) {
				t.Errorf("RemoveUserRole(%s, %s) = %v, want ErrNotFound", c[0], c[1], err)
			}
		}
		if err := s.SetSuperuser(ctx, "nobody", true); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("SetSuperuser(nobody) = %v, want ErrNotFound", err)
		}
		if a, err := s.UserAuthz(ctx, "not-a-user-id"); err != nil || !reflect.DeepEqual(a, storage.Authz{}) {
			t.Errorf("UserAuthz of a subject that is not a user = %+v, %v; want the zero Authz", a, err)
		}
	})

	t.Run("grant and revoke", func(t *testing.T) {
		if n, err := s.GrantPermissions(ctx, "billing", "orders.read", "invoices.write", "orders.read"); err != nil || n != 2 {
			t.Fatalf("GrantPermissions = %d, %v; want 2 added", n, err)
		}
		if n, err := other.GrantPermissions(ctx, "billing", "orders.read", "Orders.Read"); err != nil || n != 1 {
			t.Fatalf("granting one held and one new permission = %d, %v; want 1 added", n, err)
		}
		if n, err := s.RevokePermissions(ctx, "billing", "Orders.Read", "never.held"); err != nil || n != 1 {
			t.Fatalf("RevokePermissions = %d, %v; want 1 removed", n, err)
		}
		if n, err := s.RevokePermissions(ctx, "billing", "Orders.Read"); err != nil || n != 0 {
			t.Fatalf("revoking again = %d, %v; want 0", n, err)
		}
		if n, err := s.GrantPermissions(ctx, "support", "tickets.read", "orders.read"); err != nil || n != 2 {
			t.Fatalf("GrantPermissions(support) = %d, %v", n, err)
		}
		r, err := other.RoleByName(ctx, "billing")
		if err != nil || r.ID != billing.ID || !reflect.DeepEqual(r.Permissions, []string{"invoices.write", "orders.read"}) {
			t.Fatalf("RoleByName(billing) = %+v, %v", r, err)
		}
	})

	t.Run("concurrent grants of one permission", func(t *testing.T) {
		const n = 8
		var wg sync.WaitGroup
		added := make([]int, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				db := s
				if i%2 == 1 {
					db = other
				}
				added[i], errs[i] = db.GrantPermissions(ctx, "support", "refunds.issue")
			})
		}
		wg.Wait()
		total := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("grant %d: %v", i, errs[i])
			}
			total += added[i]
		}
		if total != 1 {
			t.Fatalf("concurrent grants said they added %d times, want 1", total)
		}
	})

	t.Run("users and their authorization", func(t *testing.T) {
		if a, err := s.UserAuthz(ctx, alice.ID); err != nil || len(a.Roles) != 0 || len(a.Permissions) != 0 || a.Superuser {
			t.Fatalf("UserAuthz of a user without roles = %+v, %v", a, err)
		}
		if added, err := s.AddUserRole(ctx, "alice", "billing"); err != nil || !added {
			t.Fatalf("AddUserRole(alice, billing) = %v, %v", added, err)
		}
		if added, err := other.AddUserRole(ctx, "alice", "billing"); err != nil || added {
			t.Fatalf("adding billing again = %v, %v; want false", added, err)
		}
		for _, c := range [][2]string{{"alice", "support"}, {"bob", "support"}} {
			if _, err := s.AddUserRole(ctx, c[0], c[1]); err != nil {
				t.Fatal(err)
			}
		}
		want := storage.Authz{
			Roles:       []string{"billing", "support"},
			Permissions: []string{"invoices.write", "orders.read", "refunds.issue", "tickets.read"},
		}
		if a, err := other.UserAuthz(ctx, alice.ID); err != nil || !reflect.DeepEqual(a, want) {
			t.Fatalf("UserAuthz(alice) = %+v, %v; want %+v", a, err, want)
		}
		if err := s.SetSuperuser(ctx, "bob", true); err != nil {
			t.Fatal(err)
		}
		if u, err := other.UserByUsername(ctx, "bob"); err != nil || !u.Superuser {
			t.Fatalf("bob after SetSuperuser(true) = %+v, %v", u, err)
		}
		if a, err := other.UserAuthz(ctx, bob.ID); err != nil || !a.Superuser || !reflect.DeepEqual(a.Roles, []string{"support"}) {
			t.Fatalf("UserAuthz(bob) = %+v, %v", a, err)
		}
		if err := s.SetSuperuser(ctx, "bob", false); err != nil {
			t.Fatal(err)
		}
		if a, _ := other.UserAuthz(ctx, bob.ID); a.Superuser {
			t.Fatalf("bob is still a superuser after SetSuperuser(false): %+v", a)
		}
		if u, _ := other.UserByUsername(ctx, "alice"); u.Superuser {
			t.Fatalf("alice is a superuser: %+v", u)
		}

		roles, err := other.ListRoles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range roles {
			got = append(got, fmt.Sprintf("%s:%d:%s", r.Name, r.Users, strings.Join(r.Permissions, ",")))
		}
		wantList := []string{"billing:1:invoices.write,orders.read", "support:2:orders.read,refunds.issue,tickets.read"}
		if !reflect.DeepEqual(got, wantList) {
			t.Fatalf("ListRoles = %q, want %q", got, wantList)
		}

		if removed, err := s.RemoveUserRole(ctx, "alice", "support"); err != nil || !removed {
			t.Fatalf("RemoveUserRole(alice, support) = %v, %v", removed, err)
		}
		if removed, err := s.RemoveUserRole(ctx, "alice", "support"); err != nil || removed {
			t.Fatalf("removing support again = %v, %v; want false", removed, err)
		}
		if a, _ := other.UserAuthz(ctx, alice.ID); !reflect.DeepEqual(a.Permissions, []string{"invoices.write", "orders.read"}) {
			t.Fatalf("alice's permissions after losing support = %v", a.Permissions)
		}
	})

	t.Run("delete a role", func(t *testing.T) {
		if err := s.DeleteRole(ctx, "billing"); err != nil {
			t.Fatal(err)
		}
		if err := other.DeleteRole(ctx, "billing"); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("deleting twice = %v, want ErrNotFound", err)
		}
		if a, err := other.UserAuthz(ctx, alice.ID); err != nil || len(a.Roles) != 0 || len(a.Permissions) != 0 {
			t.Fatalf("alice after billing was deleted = %+v, %v", a, err)
		}
		// A new role of the same name is a new role: none of the old one's
		// grants or members.
		again, err := s.CreateRole(ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		if r, err := other.RoleByName(ctx, "billing"); err != nil || r.ID == billing.ID || len(r.Permissions) != 0 || r.Users != 0 || r.ID != again.ID {
			t.Fatalf("billing made again = %+v, %v", r, err)
		}
	})

	t.Run("removing a user removes its memberships", func(t *testing.T) {
		if _, err := s.RemoveUser(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if r, err := other.RoleByName(ctx, "support"); err != nil || r.Users != 0 {
			t.Fatalf("support after bob was removed = %+v, %v; want no user", r, err)
		}
		if a, err := s.UserAuthz(ctx, bob.ID); err != nil || !reflect.DeepEqual(a, storage.Authz{}) {
			t.Fatalf("UserAuthz of a removed user = %+v, %v; want the zero Authz", a, err)
		}
	})
}
