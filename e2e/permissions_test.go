package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/client"
)

// permissionCase is one permission check, asked of the host's
// POST /v1/permissions/check and of the Go middleware alike.
type permissionCase struct {
	name    string
	token   string
	mode    string // "all" (RequirePermissions) or "any" (RequireAnyPermission)
	perms   []string
	allowed bool
	missing []string
	reason  string
}

// permissionsHarness asks a running host and a Go app the same checks.
type permissionsHarness struct {
	h      *host
	appKey string
	client *client.Client
}

// viaHTTP asks the host; the answer must be 200.
func (p *permissionsHarness) viaHTTP(t *testing.T, c permissionCase) (allowed bool, missing []string, reason string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"token": c.token, "permissions": c.perms, "mode": c.mode})
	r := send(t, http.MethodPost, p.h.url+"/v1/permissions/check", string(body), http.Header{"Authorization": {"Bearer " + p.appKey}})
	var got struct {
		Allowed *bool    `json:"allowed"`
		Missing []string `json:"missing"`
		Reason  string   `json:"reason"`
	}
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil || r.status != 200 || got.Allowed == nil || got.Missing == nil {
		t.Fatalf("POST /v1/permissions/check: %d %s", r.status, r.raw)
	}
	return *got.Allowed, got.Missing, got.Reason
}

// viaMiddleware sends the token to a handler behind the client's
// Middleware and RequirePermissions (RequireAnyPermission for mode any),
// and reads the decision from the answer: 200 allowed; 403 with missing
// and reason; 401 is user_not_authenticated.
func (p *permissionsHarness) viaMiddleware(t *testing.T, c permissionCase) (allowed bool, missing []string, reason string) {
	t.Helper()
	guard := p.client.RequirePermissions
	if c.mode == "any" {
		guard = p.client.RequireAnyPermission
	}
	ran := false
	h := p.client.Middleware(guard(c.perms...)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { ran = true })))
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	switch w.Code {
	case 200:
		if !ran {
			t.Fatal("200 without the handler")
		}
		return true, []string{}, ""
	case 401:
		return false, c.perms, "user_not_authenticated"
	case 403:
		var body struct {
			Error   string   `json:"error"`
			Missing []string `json:"missing"`
			Reason  string   `json:"reason"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "permission_denied" || ran {
			t.Fatalf("403 %s (handler ran: %v)", w.Body, ran)
		}
		return false, body.Missing, body.Reason
	}
	t.Fatalf("the middleware answered %d %s", w.Code, w.Body)
	return false, nil, ""
}

// check runs c both ways: they must agree with each other and with c.
func (p *permissionsHarness) check(t *testing.T, c permissionCase) {
	t.Helper()
	hAllowed, hMissing, hReason := p.viaHTTP(t, c)
	mAllowed, mMissing, mReason := p.viaMiddleware(t, c)
	if hAllowed != c.allowed || !reflect.DeepEqual(hMissing, c.missing) || hReason != c.reason {
		t.Errorf("%s: the host says %v %q %q; want %v %q %q", c.name, hAllowed, hMissing, hReason, c.allowed, c.missing, c.reason)
	}
	if mAllowed != hAllowed || !reflect.DeepEqual(mMissing, hMissing) || mReason != hReason {
		t.Errorf("%s: the middleware says %v %q %q, the host %v %q %q", c.name, mAllowed, mMissing, mReason, hAllowed, hMissing, hReason)
	}
}

// TestPermissionChecks: roles and permissions made with the command line
// reach the tokens of a real host; the host's POST /v1/permissions/check
// and the Go middleware's RequirePermissions give the same answer on the
// same cases (allowed, missing, mode any, superuser, overflow, a token
// that is not valid); a check of nothing is refused by both; a role
// taken from a user is refused at the next token (a refreshed one),
// while the token issued before keeps what it carried. No token reaches a
// signal or the log.
func TestPermissionChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {name: audit, audit_file: ./audit.jsonl, mode: sync, signals: [permission_check_started, permission_check_succeeded, permission_check_failed]}
`)
	h := startHost(t, cfg)
	for _, u := range []string{"alice", "bob", "root", "carol"} {
		addUser(t, cfg, nil, u, "s3cret-"+u)
	}
	for _, step := range []struct{ args, want string }{
		{"roles create billing", `Role "billing" created`},
		{"roles create support", `Role "support" created`},
		{"roles grant billing orders.read invoices.write", `2 permissions granted to role "billing".`},
		{"roles grant support tickets.read", `1 permission granted to role "support".`},
		{"users roles add alice billing", `Role "billing" given to user "alice".`},
		{"users roles add alice support", `Role "support" given to user "alice".`},
		{"users superuser root on", `User "root" is now a superuser`},
		{"roles create big", `Role "big" created`},
	} {
		if out := mustRun(t, cfg, "", strings.Fields(step.args)...); !strings.Contains(out, step.want) {
			t.Fatalf("portcullis %s printed %q, want %q", step.args, out, step.want)
		}
	}
	big := []string{"roles", "grant", "big"}
	for i := range 300 {
		big = append(big, fmt.Sprintf("p%03d", i))
	}
	if out, err := run(t, cfg, "", big...); err != nil || !strings.Contains(out, "300 permissions granted") || !strings.Contains(out, "Warning:") {
		t.Fatalf("granting 300 permissions: %v\n%s", err, out)
	}
	mustRun(t, cfg, "", "users", "roles", "add", "carol", "big")

	appKey := createApp(t, cfg, nil, "shop")
	c, err := client.New(client.Options{HostURL: h.url, Audience: "portcullis", Issuer: issuerOf(t, h)})
	if err != nil {
		t.Fatal(err)
	}
	p := &permissionsHarness{h: h, appKey: appKey, client: c}
	alice := mustLogin(t, h, "alice", "s3cret-alice")
	bob := mustLogin(t, h, "bob", "s3cret-bob").access
	root := mustLogin(t, h, "root", "s3cret-root").access
	carol := mustLogin(t, h, "carol", "s3cret-carol").access
	if _, claims := jwtSegments(t, alice.access); fmt.Sprint(claims["roles"]) != "[billing support]" ||
		fmt.Sprint(claims["permissions"]) != "[invoices.write orders.read tickets.read]" || claims["superuser"] != nil {
		t.Errorf("alice's token claims %v", claims)
	}
	if _, claims := jwtSegments(t, carol); claims["permissions_overflow"] != true || claims["permissions"] != nil {
		t.Errorf("carol's token claims %v; want permissions_overflow and no permissions", claims)
	}

	for _, tc := range []permissionCase{
		{"allowed", alice.access, "all", []string{"orders.read", "tickets.read"}, true, []string{}, ""},
		{"missing", alice.access, "all", []string{"orders.read", "refunds.issue"}, false, []string{"refunds.issue"}, "missing_permissions"},
		{"mode any, one held", alice.access, "any", []string{"refunds.issue", "invoices.write"}, true, []string{}, ""},
		{"mode any, none held", alice.access, "any", []string{"refunds.issue", "reports.read"}, false, []string{"refunds.issue", "reports.read"}, "missing_permissions"},
		{"no roles", bob, "all", []string{"orders.read"}, false, []string{"orders.read"}, "missing_permissions"},
		{"superuser", root, "all", []string{"orders.read", "anything.else"}, true, []string{}, ""},
		{"overflow", carol, "any", []string{"p001"}, false, []string{"p001"}, "permissions_overflow"},
		{"not a token", "garbage", "all", []string{"orders.read"}, false, []string{"orders.read"}, "user_not_authenticated"},
		{"a refresh token", alice.refresh, "all", []string{"orders.read"}, false, []string{"orders.read"}, "user_not_authenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) { p.check(t, tc) })
	}

	t.Run("empty list", func(t *testing.T) {
		r := send(t, http.MethodPost, h.url+"/v1/permissions/check", fmt.Sprintf(`{"token":%q,"permissions":[]}`, root),
			http.Header{"Authorization": {"Bearer " + appKey}})
		if r.status != 400 || r.body["error"] != "invalid_request" {
			t.Errorf("an empty list: %d %s; want 400 invalid_request", r.status, r.raw)
		}
		defer func() {
			if recover() == nil {
				t.Error("RequirePermissions() with no permission did not panic")
			}
		}()
		c.RequirePermissions()
	})

	t.Run("no app key", func(t *testing.T) {
		r := send(t, http.MethodPost, h.url+"/v1/permissions/check", fmt.Sprintf(`{"token":%q,"permissions":["a"]}`, root), nil)
		if r.status != 401 || r.body["error"] != "invalid_client" {
			t.Errorf("without an app key: %d %s", r.status, r.raw)
		}
	})

	t.Run("a role taken away is refused at the next token", func(t *testing.T) {
		mustRun(t, cfg, "", "users", "roles", "remove", "alice", "billing")
		p.check(t, permissionCase{"the token issued before", alice.access, "all", []string{"orders.read"}, true, []string{}, ""})
		next := tokensOf(t, refresh(t, h, alice.refresh))
		p.check(t, permissionCase{"the refreshed token", next.access, "all", []string{"orders.read"}, false, []string{"orders.read"}, "missing_permissions"})
		p.check(t, permissionCase{"the refreshed token, a role kept", next.access, "all", []string{"tickets.read"}, true, []string{}, ""})
		if r := forwardAuth(t, h, next.access); r.status != 200 || r.header.Get("X-Portcullis-Roles") != "support" {
			t.Errorf("forward-auth of the refreshed token: %d, X-Portcullis-Roles %q", r.status, r.header.Get("X-Portcullis-Roles"))
		}
	})

	t.Run("no token in signals or the log", func(t *testing.T) {
		lines := auditLines(t, filepath.Join(dir, "audit.jsonl"))
		counts := map[string]int{}
		for _, l := range lines {
			counts[l.Name]++
			if l.Name == "permission_check_failed" && l.Args["reason"] == nil {
				t.Errorf("permission_check_failed without a reason: %v", l.Args)
			}
		}
		if counts["permission_check_started"] == 0 || counts["permission_check_started"] != counts["permission_check_succeeded"]+counts["permission_check_failed"] {
			t.Errorf("signals %v; want one outcome for each check started", counts)
		}
		raw := auditRaw(t, filepath.Join(dir, "audit.jsonl")) + h.output()
		for _, tok := range []string{alice.access, alice.refresh, bob, root, carol, appKey} {
			if strings.Contains(raw, tok) || strings.Contains(raw, strings.Split(tok, ".")[len(strings.Split(tok, "."))-1]) {
				t.Fatal("a token or key is in a signal or the host's log")
			}
		}
		if !strings.Contains(h.output(), "do not fit in an access token") {
			t.Error("the host logged no warning for carol's overflowing permissions")
		}
	})
}

// auditRaw is the audit file's text.
func auditRaw(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
