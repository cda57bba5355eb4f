package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
)

// TestDisabledUserAnswersAsAWrongPassword: the right password of a
// disabled account gets, byte for byte, the answer of a wrong password
// (status, every header but the request id, body), so that the answer
// says nothing about the password or the account; disabling ends the
// user's sessions, and enabling lets the user in again. Through a real
// host with the lockout in front, as the built-in chain has it.
func TestDisabledUserAnswersAsAWrongPassword(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: lockout
    plugin: lockout
    config: {failure_limit: 100, cooloff: 30m, lockout_parameters: [[username, ip_address]], reset_on_success: true}
  - name: local
    plugin: password
`)
	h := startHost(t, cfg)
	mustRun(t, cfg, "s3cret\n", "users", "add", "alice", "--password-stdin")
	before := h.login("alice", "s3cret")
	if before.status != 200 {
		t.Fatalf("login before disabling: %d %s", before.status, before.raw)
	}

	if out := mustRun(t, cfg, "", "users", "disable", "alice"); !strings.Contains(out, "User \"alice\" disabled; 1 session ended.\n") {
		t.Fatalf("users disable:\n%s", out)
	}
	if out := mustRun(t, cfg, "", "users", "list"); !strings.Contains(out, "disabled") {
		t.Errorf("users list does not show alice disabled:\n%s", out)
	}
	if r := h.post("/v1/token/refresh", fmt.Sprintf(`{"refresh_token":%q}`, before.body["refresh_token"])); r.status != 401 {
		t.Errorf("refreshing a session of the disabled user: %d %s; want 401", r.status, r.raw)
	}

	right, wrong := samePair(t, h, func() (response, response) {
		return h.login("alice", "s3cret"), h.login("alice", "wrong")
	})
	if right.status != http.StatusUnauthorized || right.body["error"] != "invalid_credentials" {
		t.Errorf("disabled user with the right password: %d %s; want 401 invalid_credentials", right.status, right.raw)
	}
	if d := diff(right, wrong); d != "" {
		t.Errorf("the right password of a disabled user is answered unlike a wrong one:\n%s", d)
	}
	unknown, wrong := samePair(t, h, func() (response, response) {
		return h.login("nobody", "s3cret"), h.login("alice", "wrong")
	})
	if d := diff(unknown, wrong); d != "" {
		t.Errorf("an unknown user is answered unlike a disabled one:\n%s", d)
	}

	for _, args := range [][]string{{"users", "disable", "bob"}, {"users", "enable", "bob"}} {
		out, err := run(t, cfg, "", args...)
		if err == nil || !strings.Contains(out, `portcullis: no user "bob"`) {
			t.Errorf("portcullis %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out := mustRun(t, cfg, "", "users", "enable", "alice"); !strings.Contains(out, "User \"alice\" enabled.\n") {
		t.Fatalf("users enable:\n%s", out)
	}
	if r := h.login("alice", "s3cret"); r.status != 200 {
		t.Errorf("login after enabling: %d %s", r.status, r.raw)
	}
	if strings.Contains(h.output(), "s3cret") {
		t.Error("the host logged a password")
	}
}

// samePair runs pair until both answers carry the same Date (the clock's
// second, which may tick between two requests), at most five times.
func samePair(t *testing.T, h *host, pair func() (response, response)) (response, response) {
	t.Helper()
	for range 5 {
		a, b := pair()
		if a.header.Get("Date") == b.header.Get("Date") {
			return a, b
		}
	}
	t.Fatal("five pairs of requests each straddled a second")
	return response{}, response{}
}

// diff describes how two answers differ in status, headers (but
// X-Request-Id) and body bytes; "" if they do not.
func diff(a, b response) string {
	var out []string
	if a.status != b.status {
		out = append(out, fmt.Sprintf("status %d against %d", a.status, b.status))
	}
	ha, hb := a.header.Clone(), b.header.Clone()
	ha.Del("X-Request-Id")
	hb.Del("X-Request-Id")
	if !maps.EqualFunc(ha, hb, func(x, y []string) bool { return strings.Join(x, "\x00") == strings.Join(y, "\x00") }) {
		out = append(out, fmt.Sprintf("headers %v against %v", ha, hb))
	}
	if a.raw != b.raw {
		out = append(out, fmt.Sprintf("body %q against %q", a.raw, b.raw))
	}
	return strings.Join(out, "\n")
}
