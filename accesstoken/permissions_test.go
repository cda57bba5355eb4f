package accesstoken_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

func TestCheckPermissions(t *testing.T) {
	holder := &accesstoken.Claims{Permissions: []string{"orders.read", "orders.write", "reports.read"}}
	none := &accesstoken.Claims{Permissions: []string{}}
	super := &accesstoken.Claims{Superuser: true, Permissions: []string{}}
	overflow := &accesstoken.Claims{PermissionsOverflow: true}
	superOverflow := &accesstoken.Claims{PermissionsOverflow: true, Superuser: true}
	old := &accesstoken.Claims{} // a token from before permissions were carried
	tests := []struct {
		name        string
		claims      *accesstoken.Claims
		mode        string
		perms       []string
		allowed     bool
		missing     []string
		reason      string
		description string
	}{
		{"all held", holder, "all", []string{"orders.read", "orders.write"}, true, []string{}, "", ""},
		{"default mode is all", holder, "", []string{"orders.read", "invoices.read"}, false, []string{"invoices.read"}, "missing_permissions", ""},
		{"one missing", holder, "all", []string{"orders.read", "invoices.read", "refunds.issue"}, false, []string{"invoices.read", "refunds.issue"}, "missing_permissions", ""},
		{"repeats are asked once", holder, "all", []string{"x", "orders.read", "x"}, false, []string{"x"}, "missing_permissions", ""},
		{"exact bytes", holder, "all", []string{"Orders.Read"}, false, []string{"Orders.Read"}, "missing_permissions", ""},
		{"any: one held", holder, "any", []string{"invoices.read", "reports.read"}, true, []string{}, "", ""},
		{"any: none held lists all", holder, "any", []string{"invoices.read", "refunds.issue"}, false, []string{"invoices.read", "refunds.issue"}, "missing_permissions", ""},
		{"no permissions", none, "all", []string{"orders.read"}, false, []string{"orders.read"}, "missing_permissions", ""},
		{"token without the claim", old, "any", []string{"orders.read"}, false, []string{"orders.read"}, "missing_permissions", ""},
		{"superuser", super, "all", []string{"anything", "at.all"}, true, []string{}, "", ""},
		{"superuser, any", super, "any", []string{"anything"}, true, []string{}, "", ""},
		{"overflow", overflow, "any", []string{"orders.read", "x"}, false, []string{"orders.read", "x"}, "permissions_overflow", ""},
		{"superuser with overflow", superOverflow, "all", []string{"orders.read"}, true, []string{}, "", ""},
		{"no token", nil, "all", []string{"orders.read", "orders.read"}, false, []string{"orders.read"}, "user_not_authenticated", ""},
		{"empty list", super, "all", []string{}, false, []string{}, "invalid_request", "never a vacuous pass, not even for a superuser"},
		{"nil list", holder, "any", nil, false, []string{}, "invalid_request", ""},
		{"invalid permission", super, "all", []string{"orders read"}, false, []string{}, "invalid_request", ""},
		{"unknown mode", super, "most", []string{"orders.read"}, false, []string{}, "invalid_request", ""},
		{"mode in another case", super, "ALL", []string{"orders.read"}, false, []string{}, "invalid_request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allowed, missing, reason := accesstoken.CheckPermissions(tt.claims, tt.mode, tt.perms)
			if allowed != tt.allowed || !reflect.DeepEqual(missing, tt.missing) || reason != tt.reason {
				t.Errorf("CheckPermissions = %v, %#v, %q; want %v, %#v, %q %s", allowed, missing, reason, tt.allowed, tt.missing, tt.reason, tt.description)
			}
		})
	}
}

func TestValidatePermission(t *testing.T) {
	for _, p := range []string{"a", "orders.read", "orders:read", "https://api.example/orders#read", "!~", strings.Repeat("p", accesstoken.MaxPermissionLength)} {
		if err := accesstoken.ValidatePermission(p); err != nil {
			t.Errorf("ValidatePermission(%q) = %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"":             "must not be empty",
		"orders read":  `permission "orders read" holds a space`,
		"orders\nread": "holds the byte 0x0A",
		"caf\u00e9":    "holds the byte 0xC3",
		"del\x7f":      "holds the byte 0x7F",
		strings.Repeat("p", accesstoken.MaxPermissionLength+1): "longer than 128 bytes",
	} {
		err := accesstoken.ValidatePermission(p)
		if !errors.Is(err, accesstoken.ErrInvalidCheck) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePermission(%+q) = %v; want ErrInvalidCheck saying %q", p, err, want)
		}
	}
	if err := accesstoken.ValidatePermissionCheck("all", make([]string, accesstoken.MaxCheckPermissions+1)); !errors.Is(err, accesstoken.ErrInvalidCheck) {
		t.Errorf("a check of %d permissions: %v", accesstoken.MaxCheckPermissions+1, err)
	}
	if err := accesstoken.ValidatePermissionCheck("sometimes", []string{"a"}); err == nil || !strings.Contains(err.Error(), `mode "sometimes" is not "all" or "any"`) {
		t.Errorf("unknown mode: %v", err)
	}
}

// TestAuthorizationClaims: roles and permissions travel in the signed
// token, as empty lists when the user has none, and are absent when they
// overflowed; superuser and permissions_overflow only when set.
func TestAuthorizationClaims(t *testing.T) {
	s := newSigner(t, accesstoken.EdDSA)
	tests := []struct {
		name string
		edit func(c *accesstoken.Claims)
		want map[string]any // claims that must be present, nil for absent
	}{
		{"none", func(c *accesstoken.Claims) { c.Roles, c.Permissions = []string{}, []string{} },
			map[string]any{"roles": []any{}, "permissions": []any{}, "superuser": nil, "permissions_overflow": nil}},
		{"some", func(c *accesstoken.Claims) { c.Roles, c.Permissions = []string{"billing"}, []string{"a", "b"} },
			map[string]any{"roles": []any{"billing"}, "permissions": []any{"a", "b"}}},
		{"superuser", func(c *accesstoken.Claims) { c.Roles, c.Permissions, c.Superuser = []string{}, []string{}, true },
			map[string]any{"superuser": true}},
		{"overflow", func(c *accesstoken.Claims) { c.PermissionsOverflow = true },
			map[string]any{"roles": nil, "permissions": nil, "permissions_overflow": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claims()
			tt.edit(c)
			tok := sign(t, s, c)
			raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				got, present := m[k]
				if want == nil && present {
					t.Errorf("claim %s = %v, want it absent", k, got)
				}
				if want != nil && !reflect.DeepEqual(got, want) {
					t.Errorf("claim %s = %#v, want %#v", k, got, want)
				}
			}
			back, err := verifier(keyMap{s.key.ID: s.key}).Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Roles, c.Roles) || !reflect.DeepEqual(back.Permissions, c.Permissions) ||
				back.Superuser != c.Superuser || back.PermissionsOverflow != c.PermissionsOverflow {
				t.Errorf("verified claims %+v, signed %+v", back, c)
			}
		})
	}
}
