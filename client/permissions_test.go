package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

func TestRequirePermissions(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	c, _ := newTestClient(t, h, nil)
	holder := ed.mint(t, func(c *accesstoken.Claims) {
		c.Roles, c.Permissions = []string{"billing"}, []string{"orders.read", "invoices.write"}
	})
	none := ed.mint(t, func(c *accesstoken.Claims) { c.Roles, c.Permissions = []string{}, []string{} })
	super := ed.mint(t, func(c *accesstoken.Claims) { c.Roles, c.Permissions, c.Superuser = []string{}, []string{}, true })
	overflow := ed.mint(t, func(c *accesstoken.Claims) { c.PermissionsOverflow = true })
	forged := other(t).mint(t, func(c *accesstoken.Claims) { c.Superuser = true })

	type guard func(perms ...string) func(http.Handler) http.Handler
	tests := []struct {
		name    string
		guard   guard
		perms   []string
		token   string
		status  int
		missing []string
		reason  string
	}{
		{"all held", c.RequirePermissions, []string{"orders.read", "invoices.write"}, holder, 200, nil, ""},
		{"one missing", c.RequirePermissions, []string{"orders.read", "refunds.issue"}, holder, 403, []string{"refunds.issue"}, "missing_permissions"},
		{"any, one held", c.RequireAnyPermission, []string{"refunds.issue", "orders.read"}, holder, 200, nil, ""},
		{"any, none held", c.RequireAnyPermission, []string{"refunds.issue", "reports.read"}, holder, 403, []string{"refunds.issue", "reports.read"}, "missing_permissions"},
		{"no permissions", c.RequirePermissions, []string{"orders.read"}, none, 403, []string{"orders.read"}, "missing_permissions"},
		{"superuser", c.RequirePermissions, []string{"anything"}, super, 200, nil, ""},
		{"overflow", c.RequireAnyPermission, []string{"orders.read"}, overflow, 403, []string{"orders.read"}, "permissions_overflow"},
		{"no token", c.RequirePermissions, []string{"orders.read"}, "", 401, nil, ""},
		{"forged superuser", c.RequirePermissions, []string{"orders.read"}, forged, 401, nil, ""},
	}
	for _, tt := range tests {
		for _, chained := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, after Middleware %v", tt.name, chained), func(t *testing.T) {
				called := false
				var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					called = true
					if _, ok := ClaimsFrom(r.Context()); !ok {
						t.Error("the handler has no claims")
					}
				})
				h = tt.guard(tt.perms...)(h)
				if chained {
					h = c.Middleware(h)
				}
				var w *httptest.ResponseRecorder
				if tt.token == "" {
					w = get(h)
				} else {
					w = get(h, "Bearer "+tt.token)
				}
				if w.Code != tt.status || called != (tt.status == 200) {
					t.Fatalf("status %d, handler called %v (%s); want %d", w.Code, called, w.Body, tt.status)
				}
				switch tt.status {
				case 401:
					checkRefused(t, w, tt.token)
				case 403:
					var body struct {
						Error       string   `json:"error"`
						Description string   `json:"error_description"`
						Missing     []string `json:"missing"`
						Reason      string   `json:"reason"`
					}
					if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
						t.Fatal(err)
					}
					if body.Error != "permission_denied" || body.Description == "" || !reflect.DeepEqual(body.Missing, tt.missing) || body.Reason != tt.reason {
						t.Errorf("403 body %s; want permission_denied, missing %q, reason %s", w.Body, tt.missing, tt.reason)
					}
					if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
						t.Errorf("headers %v", w.Header())
					}
				}
			})
		}
	}
}

// other is a signer the test host does not publish.
func other(t *testing.T) signer { return newSigner(t, accesstoken.EdDSA) }

func TestRequirePermissionsPanicsOnNothingToCheck(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	c, _ := newTestClient(t, newTestHost(t, ed.key), nil)
	for name, f := range map[string]func(){
		"no permission":       func() { c.RequirePermissions() },
		"no permission (any)": func() { c.RequireAnyPermission() },
		"empty permission":    func() { c.RequirePermissions("") },
		"invalid permission":  func() { c.RequireAnyPermission("orders read") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "RequirePermissions") {
					t.Errorf("recovered %v; want a panic naming RequirePermissions", r)
				}
			}()
			f()
		})
	}
}
