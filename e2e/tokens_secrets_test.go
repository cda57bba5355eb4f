package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// planted returns a fresh random value with a recognisable prefix.
func planted(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// secretForms are the strings that give a secret away: the secret, and
// the part after its prefix (pcr_, pcs_, pck_), or a JWT's signature.
func secretForms(s string) []string {
	forms := []string{s}
	for _, p := range []string{"pcr_", "pcs_", "pck_"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			forms = append(forms, rest)
		}
	}
	if parts := strings.Split(s, "."); len(parts) == 3 {
		forms = append(forms, parts[2])
	}
	return forms
}

// TestNoSecretInTheLogTheAuditFileOrTheDatabase: after logins (right and
// wrong passwords), refreshes (and a reuse), revocations, introspections,
// forward-auth calls, cookie sessions (status, refused and accepted
// logouts) and `apps create`, no access token, refresh token, cookie
// value, CSRF token, app key or password appears in the host's stdout or
// stderr, in the audit file of every signal, or in the SQLite files (main,
// -wal, -shm, which hold the outbox of an async subscriber), while the
// host runs or after it stopped.
func TestNoSecretInTheLogTheAuditFileOrTheDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	db := filepath.Join(dir, "portcullis.db")
	cfg := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {name: audit, audit_file: ./audit.jsonl, signals: ["*"], mode: sync}
    - {name: queued, audit_file: ./queued.jsonl, signals: ["*"]}
`)
	h := startHostEnv(t, cfg) // its stdout and stderr, at debug level
	var secrets []string
	keep := func(s ...string) {
		for _, v := range s {
			if v == "" {
				t.Fatal("an empty secret")
			}
		}
		secrets = append(secrets, s...)
	}
	alicePW, bobPW, wrongPW := planted("pw-alice-"), planted("pw-bob-"), planted("pw-wrong-")
	keep(alicePW, bobPW, wrongPW)
	addUser(t, cfg, nil, "alice", alicePW)
	addUser(t, cfg, nil, "bob", bobPW)
	appKey, revokedKey := createApp(t, cfg, nil, "web"), createApp(t, cfg, nil, "old")
	bogusKey := "pck_" + strings.Repeat("Q", 43)
	keep(appKey, revokedKey, bogusKey)
	mustRun(t, cfg, "", "apps", "revoke", "old")

	if r := h.login("alice", wrongPW); r.status != 401 {
		t.Fatalf("wrong password: %d", r.status)
	}
	p1 := mustLogin(t, h, "alice", alicePW)
	p2 := tokensOf(t, refresh(t, h, p1.refresh))
	p3 := tokensOf(t, refresh(t, h, p2.refresh))
	keep(p1.access, p1.refresh, p2.access, p2.refresh, p3.access, p3.refresh)
	if !active(t, h, appKey, p3.access) {
		t.Fatal("introspection of a live token: inactive")
	}
	for _, k := range []string{revokedKey, bogusKey} {
		r := send(t, http.MethodPost, h.url+"/v1/token/introspect", fmt.Sprintf(`{"token":%q}`, p3.access), http.Header{"Authorization": {"Bearer " + k}})
		if r.status != 401 {
			t.Errorf("introspection with a revoked or made-up app key: %d %s", r.status, r.raw)
		}
	}
	if r := forwardAuth(t, h, p3.access); r.status != 200 {
		t.Fatalf("forward-auth: %d", r.status)
	}
	// Tokens in the wrong places.
	if r := forwardAuth(t, h, p3.refresh); r.status != 401 {
		t.Errorf("forward-auth with a refresh token: %d", r.status)
	}
	if r := refresh(t, h, p3.access); r.status != 401 {
		t.Errorf("refresh with an access token: %d", r.status)
	}
	if r := refresh(t, h, p1.refresh); r.status != 401 { // reuse: the family is revoked
		t.Errorf("reusing a refresh token: %d", r.status)
	}
	q := mustLogin(t, h, "bob", bobPW)
	keep(q.access, q.refresh)
	if r := send(t, http.MethodPost, h.url+"/v1/token/revoke", fmt.Sprintf(`{"token":%q}`, q.access), nil); r.status != 200 {
		t.Errorf("revoke: %d", r.status)
	}
	if active(t, h, appKey, q.access) {
		t.Error("a revoked token is active")
	}

	// Cookie sessions.
	s1, c1 := sessionLogin(t, h, "alice", alicePW)
	s2, c2 := sessionLogin(t, h, "bob", bobPW)
	if c1 == nil || c2 == nil {
		t.Fatalf("session logins: %d %s; %d %s", s1.status, s1.raw, s2.status, s2.raw)
	}
	csrf1, csrf2 := s1.body["csrf_token"].(string), s2.body["csrf_token"].(string)
	keep(c1.Value, c2.Value, csrf1, csrf2)
	if r := sessionStatus(t, h, c1); r.status != 200 {
		t.Errorf("GET /v1/session: %d", r.status)
	}
	if r := forwardAuthCookie(t, h, c2); r.status != 200 {
		t.Errorf("forward-auth with a cookie: %d", r.status)
	}
	if r := endSession(t, h, c1, http.Header{"X-Csrf-Token": {csrf2}}); r.status != 403 {
		t.Errorf("logout with another session's CSRF token: %d", r.status)
	}
	if r := endSession(t, h, c1, http.Header{"X-Csrf-Token": {csrf1}}); r.status != 200 {
		t.Errorf("logout: %d", r.status)
	}
	if r := sessionStatus(t, h, c1); r.status != 401 {
		t.Errorf("GET /v1/session after logout: %d", r.status)
	}
	if r, _ := sessionLogin(t, h, "bob", wrongPW); r.status != 401 {
		t.Errorf("session login with a wrong password: %d", r.status)
	}

	running := sqliteFiles(t, db)
	h.kill(syscall.SIGTERM)
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the host exited %d after SIGTERM", code)
	}
	stopped := sqliteFiles(t, db)
	log := h.output()
	auditRaw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}

	// The places searched are the right ones: they hold what they should.
	_, claims := jwtSegments(t, p1.access)
	jti, _ := claims["jti"].(string)
	for what, ok := range map[string]bool{
		"the log records the reused refresh token": strings.Contains(log, "refresh token reused"),
		"the log records a request":                strings.Contains(log, "portcullis is serving") && strings.Contains(log, `"msg":"stopped"`),
		"the audit file names the first token":     jti != "" && strings.Contains(string(auditRaw), jti),
		"the audit file has logouts":               strings.Count(string(auditRaw), `"user_logged_out"`) >= 2,
		"the database holds the users":             bytes.Contains(stopped["portcullis.db"], []byte("alice")),
		"the database holds the queued signals":    bytes.Contains(stopped["portcullis.db"], []byte(jti)),
	} {
		if !ok {
			t.Errorf("control failed: %s", what)
		}
	}

	queued, err := os.ReadFile(filepath.Join(dir, "queued.jsonl")) // the async subscriber's
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	places := map[string][]byte{"the host's log": []byte(log), "the audit file": auditRaw, "the async audit file": queued}
	for name, content := range running {
		places[name+" (host running)"] = content
	}
	for name, content := range stopped {
		places[name+" (host stopped)"] = content
	}
	for where, content := range places {
		for i, s := range secrets {
			for _, form := range secretForms(s) {
				if bytes.Contains(content, []byte(form)) {
					t.Errorf("%s holds secret %d (%.12s…)", where, i, form)
				}
			}
		}
	}
}
