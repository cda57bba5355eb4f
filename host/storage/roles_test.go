package storage_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// TestRoleDeletesRaceAdds: a role deleted, or a user removed, while
// another host adds a membership or a grant leaves no row behind that
// refers to what was deleted: the tables have no foreign keys, so the
// order of the statements and the locks are what keeps them clean.
func TestRoleDeletesRaceAdds(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := t.Context()
		s, other := d.store, d.open(t)
		const rounds = 20
		for i := range rounds {
			role, user := fmt.Sprintf("role-%d", i), fmt.Sprintf("user%d", i)
			if _, err := s.CreateRole(ctx, role); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateUser(ctx, user, "h"); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 4)
			start := make(chan struct{})
			wg.Go(func() { <-start; _, errs[0] = other.AddUserRole(ctx, user, role) })
			wg.Go(func() { <-start; _, errs[1] = other.GrantPermissions(ctx, role, "p.read", "p.write") })
			if i%2 == 0 {
				wg.Go(func() { <-start; errs[2] = s.DeleteRole(ctx, role) })
			} else {
				wg.Go(func() { <-start; _, errs[2] = s.RemoveUser(ctx, user) })
			}
			close(start)
			wg.Wait()
			for j, err := range errs {
				if err != nil && !errors.Is(err, sdk.ErrNotFound) {
					t.Fatalf("round %d, call %d: %v", i, j, err)
				}
			}
		}
		for what, q := range map[string]string{
			"memberships of a deleted role": `SELECT COUNT(*) FROM user_roles ur WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = ur.role_id)`,
			"memberships of a removed user": `SELECT COUNT(*) FROM user_roles ur WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = ur.user_id)`,
			"grants of a deleted role":      `SELECT COUNT(*) FROM role_permissions rp WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = rp.role_id)`,
		} {
			n, err := storage.Count(ctx, s, q)
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d %s left behind", n, what)
			}
		}
	})
}
