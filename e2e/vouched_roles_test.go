package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/client"
)

// TestVouchedRolesReachTokensAndSessions: a backend plugin (the scripted
// one, as a directory would) vouches for roles; the login's access token
// carries them with the permissions the host's roles grant, beside the
// roles its users table gives the same subject; a refresh keeps them and
// reads their permissions again; forward-auth sees them from a bearer
// token and from a cookie session. A role name outside the rules makes
// the login fail closed with 503, for tokens and sessions alike.
func TestVouchedRolesReachTokensAndSessions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	out := mustRun(t, cfg, "s3cret\n", "users", "add", "alice", "--password-stdin")
	m := regexp.MustCompile(`\(id ([^)]+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("users add printed no id:\n%s", out)
	}
	aliceID := m[1]
	for _, step := range []string{
		"roles create billing", "roles grant billing orders.read invoices.write",
		"roles create support", "roles grant support tickets.read",
		"users roles add alice support",
	} {
		mustRun(t, cfg, "", strings.Fields(step)...)
	}
	sum := strings.Fields(mustRun(t, cfg, "", "plugins", "checksum", scriptedBin))[0]
	// "ops" is a role the host does not define (yet).
	cfg = writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: directory
    plugin: %s
    sha256: %s
    config:
      answers: {carol: "identity:ops,billing,ops", alice: "identity:billing", dave: identity, mallory: "identity:ops,bad role", "*": abstain}
      subjects: {alice: %q}
  - name: local
    plugin: password
`, scriptedBin, sum, aliceID))
	h := startHost(t, cfg)
	appKey := createApp(t, cfg, nil, "shop")
	c, err := client.New(client.Options{HostURL: h.url, Audience: "portcullis", Issuer: issuerOf(t, h)})
	if err != nil {
		t.Fatal(err)
	}
	p := &permissionsHarness{h: h, appKey: appKey, client: c}
	wantClaims := func(what, token, roles, perms string) {
		t.Helper()
		if _, claims := jwtSegments(t, token); fmt.Sprint(claims["roles"]) != roles || fmt.Sprint(claims["permissions"]) != perms ||
			claims["permissions_overflow"] != nil || claims["superuser"] != nil {
			t.Errorf("%s: claims %v; want roles %s, permissions %s", what, claims, roles, perms)
		}
	}
	wantHeader := func(what string, r response, roles string) {
		t.Helper()
		if r.status != 200 || r.header.Get("X-Portcullis-Roles") != roles {
			t.Errorf("forward-auth %s: %d, X-Portcullis-Roles %q; want 200 with %q", what, r.status, r.header.Get("X-Portcullis-Roles"), roles)
		}
	}

	carol := mustLogin(t, h, "carol", "anything")
	wantClaims("carol's token", carol.access, "[billing ops]", "[invoices.write orders.read]")
	p.check(t, permissionCase{"a vouched role's permission", carol.access, "all", []string{"orders.read"}, true, []string{}, ""})
	p.check(t, permissionCase{"no vouched role grants it", carol.access, "all", []string{"tickets.read"}, false, []string{"tickets.read"}, "missing_permissions"})
	wantHeader("with carol's token", forwardAuth(t, h, carol.access), "billing,ops")

	// The refresh keeps the session's roles, and reads their permissions
	// again: ops, now defined, brings its own.
	mustRun(t, cfg, "", "roles", "create", "ops")
	mustRun(t, cfg, "", "roles", "grant", "ops", "deploy")
	next := tokensOf(t, refresh(t, h, carol.refresh))
	wantClaims("carol's refreshed token", next.access, "[billing ops]", "[deploy invoices.write orders.read]")
	p.check(t, permissionCase{"the refreshed token", next.access, "all", []string{"deploy", "orders.read"}, true, []string{}, ""})
	next = tokensOf(t, refresh(t, h, next.refresh))
	wantClaims("carol's token refreshed twice", next.access, "[billing ops]", "[deploy invoices.write orders.read]")

	// A user of the users table: its roles and the vouched ones.
	alice := mustLogin(t, h, "alice", "anything")
	wantClaims("alice's token", alice.access, "[billing support]", "[invoices.write orders.read tickets.read]")
	if _, claims := jwtSegments(t, alice.access); claims["sub"] != aliceID {
		t.Errorf("alice's token is for %v, want %s", claims["sub"], aliceID)
	}
	dave := mustLogin(t, h, "dave", "anything")
	wantClaims("dave's token (no roles vouched)", dave.access, "[]", "[]")

	// Cookie sessions: forward-auth reads the session's roles.
	for _, tc := range []struct{ user, roles string }{{"carol", "billing,ops"}, {"alice", "billing,support"}, {"dave", ""}} {
		r, cookie := sessionLogin(t, h, tc.user, "anything")
		if r.status != 200 || cookie == nil {
			t.Fatalf("session login of %s: %d %s", tc.user, r.status, r.raw)
		}
		wantHeader("with "+tc.user+"'s session", forwardAuthCookie(t, h, cookie), tc.roles)
	}

	// A role name outside the rules: no token, no session, 503.
	if r := h.login("mallory", "anything"); r.status != 503 || r.body["error"] != "backend_unavailable" || r.body["access_token"] != nil {
		t.Errorf("a login vouched a malformed role: %d %s; want 503 backend_unavailable", r.status, r.raw)
	}
	if r, cookie := sessionLogin(t, h, "mallory", "anything"); r.status != 503 || cookie != nil {
		t.Errorf("a session login vouched a malformed role: %d %s (cookie %v); want 503 without a cookie", r.status, r.raw, cookie)
	}
	if !strings.Contains(h.output(), "role name") {
		t.Errorf("the host's log does not say why mallory's login failed:\n%s", h.output())
	}
}
