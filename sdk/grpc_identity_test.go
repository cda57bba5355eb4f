package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

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
	resp.Grant(sdk.Identity{Subject: "dir:" + req.Username, Username: req.Username, Attributes: map[string]string{"k": "v"}, Roles: roles})
	return nil
}

func vouch(t *testing.T, auth sdk.Authenticator, roles []string) (sdk.AuthenticateResponse, error) {
	t.Helper()
	raw, _ := json.Marshal(roles)
	var resp sdk.AuthenticateResponse
	err := auth.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "carol", Credentials: map[string]string{"roles": string(raw)}}, &resp)
	return resp, err
}

func roleNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("role-%02d", i)
	}
	return out
}

// The roles an identity vouches for cross the gRPC hop as a set: sorted,
// without repeats, none as nil.
func TestIdentityRolesCrossTheHop(t *testing.T) {
	auth := sdktest.Start(t, vouchingPlugin{}, nil, nil).Authenticator()
	many := roleNames(64)
	for _, tt := range []struct {
		name      string
		sent, got []string
	}{
		{"none", nil, nil},
		{"empty list", []string{}, nil},
		{"a set", []string{"ops", "billing", "ops", "Billing"}, []string{"Billing", "billing", "ops"}},
		{"the most, of the longest names", []string{strings.Repeat("r", 64), "a.b_c-D9"}, []string{"a.b_c-D9", strings.Repeat("r", 64)}},
		{"64 roles", many, many},
		// Repeats are dropped before the bound counts them.
		{"64 roles and repeats", append(append([]string{}, many...), many[:10]...), many},
	} {
		resp, err := vouch(t, auth, tt.sent)
		if err != nil || resp.Decision != sdk.DecisionIdentity || !reflect.DeepEqual(resp.Identity.Roles, tt.got) || resp.Identity.Attributes["k"] != "v" {
			t.Errorf("%s: the plugin vouched for %q, the host got %+v, %v; want the roles %q", tt.name, tt.sent, resp.Identity, err, tt.got)
		}
	}
}

// An identity whose roles break the host's rules is no decision: the
// host refuses the whole answer rather than drop or alter a role.
func TestIdentityRolesOutsideTheRulesAreNoDecision(t *testing.T) {
	auth := sdktest.Start(t, vouchingPlugin{}, nil, nil).Authenticator()
	for name, roles := range map[string][]string{
		"65 roles":     roleNames(65),
		"an empty one": {"ops", ""},
		"a space":      {"bad role"},
		"a comma":      {"a,b"},
		"too long":     {strings.Repeat("r", 65)},
		"not ASCII":    {"r\u00f4le"},
		"a control":    {"ops\n"},
	} {
		resp, err := vouch(t, auth, roles)
		if !errors.Is(err, hostside.ErrNoDecision) {
			t.Errorf("%s: %+v, %v; want hostside.ErrNoDecision", name, resp, err)
		}
	}
}
