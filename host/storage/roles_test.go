package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
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

// vouchingPlugin grants every login, vouching for the roles its
// credential "roles" lists as a JSON array.
type vouchingPlugin struct{}

func (vouchingPlugin) Metadata() sdk.Metadata                                 { return sdk.Metadata{Name: "vouching"} }
func (vouchingPlugin) Configure(context.Context, *sdk.ConfigureRequest) error { return nil }

func (vouchingPlugin) Authenticate(_ context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	var roles []string
	if err := json.Unmarshal([]byte(req.Credentials["roles"]), &roles); err != nil {
		return err
	}
	resp.Grant(sdk.Identity{Subject: "dir:" + req.Username, Username: req.Username, Roles: roles})
	return nil
}

// TestVouchedRolesAgreeWithTheWire: the host's side of the plugin
// protocol (sdk/hostside, which cannot import this package) repeats the
// rules for vouched roles; it accepts from a plugin exactly the roles
// VouchedRoles accepts, so that a role a plugin could send is one the
// host can keep, and the other way round.
func TestVouchedRolesAgreeWithTheWire(t *testing.T) {
	auth := sdktest.Start(t, vouchingPlugin{}, nil, nil).Authenticator()
	most := make([]string, storage.MaxVouchedRoles+1)
	for i := range most {
		most[i] = fmt.Sprintf("r%d", i)
	}
	cases := [][]string{most[:storage.MaxVouchedRoles], most, {"ops", "ops"}, {""}, {strings.Repeat("r", 64)}, {strings.Repeat("r", 65)}}
	for c := rune(0); c < 0x80; c++ {
		cases = append(cases, []string{"a" + string(c) + "b"})
	}
	for _, name := range []string{"caf\u00e9", "\u0430dmin", "r\u200bole", "\uff41"} {
		cases = append(cases, []string{name})
	}
	for _, roles := range cases {
		_, hostErr := storage.VouchedRoles(roles)
		raw, _ := json.Marshal(roles)
		var resp sdk.AuthenticateResponse
		wireErr := auth.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "carol", Credentials: map[string]string{"roles": string(raw)}}, &resp)
		if wireErr != nil && !errors.Is(wireErr, hostside.ErrNoDecision) {
			t.Fatalf("roles %+q: %v", roles, wireErr)
		}
		if (hostErr == nil) != (wireErr == nil) {
			t.Errorf("roles %+q: VouchedRoles says %v, the plugin wire %v", roles, hostErr, wireErr)
		}
	}
}
