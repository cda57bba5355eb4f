package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// adminLogin logs an admin in at POST /v1/admin/login and returns the
// admin cookie and the session's CSRF token.
func adminLogin(t testing.TB, h *host, name, password string) (*http.Cookie, string) {
	t.Helper()
	r := send(t, http.MethodPost, h.url+"/v1/admin/login", credentials(name, password), nil)
	if r.status != 200 {
		t.Fatalf("admin login of %s: %d %s", name, r.status, r.raw)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "portcullis_admin" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("admin login set no HttpOnly SameSite=Strict portcullis_admin cookie: %v", r.header.Values("Set-Cookie"))
	}
	csrf, _ := r.body["csrf_token"].(string)
	if csrf == "" {
		t.Fatalf("admin login answered no csrf_token: %s", r.raw)
	}
	return cookie, csrf
}

// cookieHeader is a request header carrying cookie, and the CSRF token
// when csrf is not empty.
func cookieHeader(cookie *http.Cookie, csrf string) http.Header {
	h := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
	if csrf != "" {
		h.Set("X-CSRF-Token", csrf)
	}
	return h
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// lastLine is the last non-empty line of a command's output.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// TestAdminEndpointsRefuseWhatIsNotAnAdmin: the admin API refuses no
// credentials, an ordinary user's access token, refresh token and session
// cookie, an app key, a cookie write without the CSRF proof or from
// another site; it takes an admin session (reads, and writes with the
// proof) and an admin token until the token is revoked.
func TestAdminEndpointsRefuseWhatIsNotAnAdmin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	mustRun(t, cfg, "root-password-123\n", "admin", "create", "root", "--password-stdin")
	appKey := createApp(t, cfg, nil, "web")
	user := mustLogin(t, h, "alice", "alice-password-1")
	_, userCookie := sessionLogin(t, h, "alice", "alice-password-1")

	usersURL := h.url + "/v1/admin/users"
	createBody := `{"username":"carol","password":"carol-password-1"}`
	refused := map[string]http.Header{
		"no credentials":           nil,
		"a user's access token":    bearer(user.access),
		"a user's refresh token":   bearer(user.refresh),
		"an app key":               bearer(appKey),
		"a made-up admin token":    bearer("pcat_" + strings.Repeat("A", 43)),
		"a user's session cookie":  {"Cookie": {userCookie.Name + "=" + userCookie.Value}},
		"a user's cookie as admin": {"Cookie": {"portcullis_admin=" + userCookie.Value}},
	}
	for what, hdr := range refused {
		if r := send(t, http.MethodGet, usersURL, "", hdr); r.status != 401 || r.body["error"] != "admin_required" {
			t.Errorf("GET with %s: %d %s, want 401 admin_required", what, r.status, r.raw)
		}
		if r := send(t, http.MethodPost, usersURL, createBody, hdr); r.status != 401 {
			t.Errorf("POST with %s: %d %s, want 401", what, r.status, r.raw)
		}
	}

	cookie, csrf := adminLogin(t, h, "root", "root-password-123")
	if r := send(t, http.MethodGet, usersURL, "", cookieHeader(cookie, "")); r.status != 200 {
		t.Fatalf("GET with the admin session: %d %s", r.status, r.raw)
	}
	if r := send(t, http.MethodPost, usersURL, createBody, cookieHeader(cookie, "")); r.status != 403 || r.body["error"] != "csrf_failed" {
		t.Errorf("a cookie write without X-CSRF-Token: %d %s, want 403 csrf_failed", r.status, r.raw)
	}
	// One character changed: the token's first is random, and may be
	// the "x" a fixed replacement would put back.
	wrong := "x" + csrf[1:]
	if csrf[0] == 'x' {
		wrong = "y" + csrf[1:]
	}
	if r := send(t, http.MethodPost, usersURL, createBody, cookieHeader(cookie, wrong)); r.status != 403 {
		t.Errorf("a cookie write with a wrong X-CSRF-Token: %d %s, want 403", r.status, r.raw)
	}
	crossSite := cookieHeader(cookie, csrf)
	crossSite.Set("Origin", "https://evil.example")
	if r := send(t, http.MethodPost, usersURL, createBody, crossSite); r.status != 403 {
		t.Errorf("a cookie write from another site: %d %s, want 403", r.status, r.raw)
	}
	if r := send(t, http.MethodGet, usersURL+"?q=carol", "", cookieHeader(cookie, "")); r.status != 200 || r.body["total"] != float64(0) {
		t.Fatalf("a refused write created the user: %d %s", r.status, r.raw)
	}
	if r := send(t, http.MethodPost, usersURL, createBody, cookieHeader(cookie, csrf)); r.status != 201 {
		t.Fatalf("a cookie write with the proof: %d %s", r.status, r.raw)
	}
	if r := h.login("carol", "carol-password-1"); r.status != 200 {
		t.Errorf("the user the admin created cannot log in: %d %s", r.status, r.raw)
	}

	out := mustRun(t, cfg, "", "admin", "token", "create", "ci")
	token := lastLine(out)
	if !strings.HasPrefix(token, "pcat_") {
		t.Fatalf("admin token create printed %q", out)
	}
	if r := send(t, http.MethodGet, usersURL, "", bearer(token)); r.status != 200 || r.body["total"] != float64(2) {
		t.Fatalf("GET with the admin token: %d %s", r.status, r.raw)
	}
	// A token needs no CSRF proof: it is not sent by a browser on its own.
	if r := send(t, http.MethodPost, h.url+"/v1/admin/roles", `{"name":"billing","permissions":["invoices:read"]}`, bearer(token)); r.status != 201 {
		t.Fatalf("a write with the admin token: %d %s", r.status, r.raw)
	}
	mustRun(t, cfg, "", "admin", "token", "revoke", "ci")
	if r := send(t, http.MethodGet, usersURL, "", bearer(token)); r.status != 401 {
		t.Errorf("GET with a revoked admin token: %d %s, want 401", r.status, r.raw)
	}

	// Logging out ends the session.
	if r := send(t, http.MethodPost, h.url+"/v1/admin/logout", "", cookieHeader(cookie, csrf)); r.status != 200 {
		t.Fatalf("admin logout: %d %s", r.status, r.raw)
	}
	if r := send(t, http.MethodGet, usersURL, "", cookieHeader(cookie, "")); r.status != 401 {
		t.Errorf("GET after logout: %d %s, want 401", r.status, r.raw)
	}
}

// TestAdminLoginIsCountedApart: wrong admin passwords lock the admin login
// of that name and address (429) without touching users' logins from the
// same address, and a user's wrong passwords do not lock an admin out.
func TestAdminLoginIsCountedApart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - {name: lockout, plugin: lockout, config: {failure_limit: 3, cooloff: 1h, lockout_parameters: [ip_address]}}
  - {name: local, plugin: password}
`)
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	mustRun(t, cfg, "root-password-123\n", "admin", "create", "root", "--password-stdin")
	for i := range 3 {
		if r := send(t, http.MethodPost, h.url+"/v1/admin/login", credentials("root", "wrong-password"), nil); r.status != 401 {
			t.Fatalf("wrong admin password %d: %d %s", i+1, r.status, r.raw)
		}
	}
	if r := send(t, http.MethodPost, h.url+"/v1/admin/login", credentials("root", "root-password-123"), nil); r.status != 429 {
		t.Fatalf("admin login after 3 failures: %d %s, want 429", r.status, r.raw)
	}
	if r := h.login("alice", "alice-password-1"); r.status != 200 {
		t.Fatalf("a user's login from the address whose admin login is locked: %d %s", r.status, r.raw)
	}
	out := mustRun(t, cfg, "", "lockout", "reset", "--all")
	if !strings.Contains(out, "removed") {
		t.Fatalf("lockout reset --all: %s", out)
	}
	for range 3 {
		h.login("alice", "wrong")
	}
	if r := h.login("alice", "alice-password-1"); r.status != 429 {
		t.Fatalf("user login after 3 failures: %d, want 429", r.status)
	}
	adminLogin(t, h, "root", "root-password-123")
}

// TestAdminWritesAreAudited: each write through the admin API sends a
// signal naming the admin (admin_action, lockout_reset,
// admin_registration_successful), and no password, token or cookie value
// appears in any signal, in the host's output or in the database.
func TestAdminWritesAreAudited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	cfg := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {name: audit, audit_file: ./audit.jsonl, signals: ["*"], mode: sync}
`)
	h := startHost(t, cfg)
	rootPW, bobPW, newPW, adminPW := planted("pw-root-"), planted("pw-bob-"), planted("pw-new-"), planted("pw-admin2-")
	mustRun(t, cfg, rootPW+"\n", "admin", "create", "root", "--password-stdin")
	cookie, csrf := adminLogin(t, h, "root", rootPW)
	hdr := cookieHeader(cookie, csrf)
	writes := []struct {
		method, path, body string
		status             int
		signal, action     string
	}{
		{"POST", "/v1/admin/roles", `{"name":"billing"}`, 201, "admin_action", "role_created"},
		{"POST", "/v1/admin/roles/billing/grant", `{"permissions":["invoices:read","invoices:write"]}`, 200, "admin_action", "role_permissions_granted"},
		{"POST", "/v1/admin/roles/billing/revoke", `{"permissions":["invoices:write"]}`, 200, "admin_action", "role_permissions_revoked"},
		{"POST", "/v1/admin/users", `{"username":"bob","password":"` + bobPW + `","roles":["billing"]}`, 201, "admin_action", "user_created"},
		{"POST", "/v1/admin/users/bob/password", `{"password":"` + newPW + `"}`, 200, "admin_action", "user_password_set"},
		{"POST", "/v1/admin/users/bob/superuser", `{"superuser":true}`, 200, "admin_action", "user_superuser_set"},
		{"DELETE", "/v1/admin/users/bob/roles/billing", "", 200, "admin_action", "user_role_removed"},
		{"POST", "/v1/admin/users/bob/roles/billing", "", 200, "admin_action", "user_role_added"},
		{"POST", "/v1/admin/users/bob/disable", "", 200, "admin_action", "user_disabled"},
		{"POST", "/v1/admin/users/bob/enable", "", 200, "admin_action", "user_enabled"},
		{"POST", "/v1/admin/lockouts/reset", `{"all":true}`, 200, "admin_action", "lockout_reset"},
		{"POST", "/v1/admin/register", `{"username":"ops","password":"` + adminPW + `"}`, 201, "admin_registration_successful", ""},
		{"POST", "/v1/admin/tokens", `{"name":"deploy"}`, 201, "admin_action", "admin_token_created"},
		{"DELETE", "/v1/admin/tokens/deploy", "", 200, "admin_action", "admin_token_revoked"},
		{"DELETE", "/v1/admin/roles/billing", "", 200, "admin_action", "role_deleted"},
	}
	var secrets = []string{rootPW, bobPW, newPW, adminPW, cookie.Value, csrf}
	for _, w := range writes {
		before := auditLines(t, audit)
		r := send(t, w.method, h.url+w.path, w.body, hdr)
		if r.status != w.status {
			t.Fatalf("%s %s: %d %s, want %d", w.method, w.path, r.status, r.raw, w.status)
		}
		if tok, _ := r.body["token"].(string); tok != "" {
			secrets = append(secrets, tok)
		}
		var found bool
		for _, sig := range auditLines(t, audit)[len(before):] {
			args := sig.Args
			if sig.Name != w.signal || args["admin"] != "root" || (w.action != "" && args["action"] != w.action) {
				continue
			}
			found = true
		}
		if !found {
			t.Errorf("%s %s sent no %s %s naming the admin", w.method, w.path, w.signal, w.action)
		}
	}
	// A lockout reset that removed records also sends lockout_reset.
	for range 5 {
		h.login("bob", "wrong")
	}
	if r := send(t, "POST", h.url+"/v1/admin/lockouts/reset", `{"username":"bob"}`, hdr); r.status != 200 || r.body["removed"] == float64(0) {
		t.Fatalf("reset bob: %d %s", r.status, r.raw)
	}
	var reset bool
	for _, sig := range auditLines(t, audit) {
		if sig.Name == "lockout_reset" && sig.Args["admin"] == "root" && sig.Args["username"] == "bob" {
			reset = true
		}
	}
	if !reset {
		t.Error("no lockout_reset signal naming the admin")
	}
	h.kill(15)
	places := map[string]string{"the host's output": h.output()}
	for _, f := range []string{audit, filepath.Join(dir, "portcullis.db"), filepath.Join(dir, "portcullis.db-wal")} {
		b, _ := os.ReadFile(f)
		places[filepath.Base(f)] = string(b)
	}
	for where, text := range places {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%.12s...)", where, s)
			}
		}
	}
}
