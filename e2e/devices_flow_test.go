package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeviceLongPollAcrossHosts (acceptance 2): a device waiting on one
// host is answered within a second when the request is created on
// another host sharing PostgreSQL.
func TestDeviceLongPollAcrossHosts(t *testing.T) {
	dsn, ok := postgresDSN(t)
	if !ok {
		t.Skip("skipping: it needs PostgreSQL")
	}
	box := newPushBox(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, deviceConfig(box, fmt.Sprintf("storage: {driver: postgres, dsn: %q}", dsn), ""))
	a, b := startHost(t, cfg), startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	app := authApp{t: t, key: createApp(t, cfg, nil, "bank")}
	id, token := registerDevice(t, a, app.key, "alice", "alice's phone")

	for round := range 3 {
		done := pollAsync(a.url, basic(id, token))
		// The poll is waiting on host a when nothing came back at once.
		select {
		case p := <-done:
			t.Fatalf("round %d: the poll answered before any request: %d %s", round, p.r.status, p.r.raw)
		case <-time.After(700 * time.Millisecond):
		}
		created := time.Now()
		req := app.create(b)
		select {
		case p := <-done:
			if p.r.status != 200 || !strings.Contains(p.r.raw, req) {
				t.Fatalf("round %d: the poll answered %d %s; want the request made on the other host", round, p.r.status, p.r.raw)
			}
			d := p.at.Sub(created)
			if d > time.Second {
				t.Errorf("round %d: the poll on host a answered %s after the request was made on host b; want within 1s", round, d)
			}
			t.Logf("round %d: answered %s after the request was made", round, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the poll on host a did not answer a request made on host b", round)
		}
		if r := send(t, "POST", b.url+"/v1/device/authorization-requests/"+req+"/deny", "", basic(id, token)); r.status != 200 {
			t.Fatalf("deny: %d %s", r.status, r.raw)
		}
	}
}

// TestTerminalDeviceCompletesTwoFactorLogin (acceptance 5): with a
// mobile device as the second factor, the password step answers 202 with
// a login key; `portcullis device` registers a device from a terminal,
// sees the login's request and approves it; the login then completes
// with tokens, once.
func TestTerminalDeviceCompletesTwoFactorLogin(t *testing.T) {
	t.Parallel()
	h, cfg, dir, box := deviceHost(t, "two_factor: {required: all, backend: phone}\n")
	app := createApp(t, cfg, nil, "bank")
	creds := filepath.Join(dir, "device.json")
	out := mustRun(t, cfg, "", "device", "register", "--url", h.url, "--user", "alice", "--name", "terminal",
		"--app-key", app, "--file", creds)
	st, err := os.Stat(creds)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the credentials file: %v, mode %v; want 0600", err, st.Mode())
	}
	raw, _ := os.ReadFile(creds)
	var token string
	for _, f := range strings.Split(string(raw), `"`) {
		if len(f) == 64 {
			token = f
		}
	}
	if token == "" || strings.Contains(out, token) {
		t.Fatalf("register printed the token, or the file holds none:\n%s", out)
	}

	r := h.login("alice", "alice-password-1")
	if r.status != 202 || r.body["access_token"] != nil || r.body["login_key"] == nil || !strings.Contains(r.raw, `"device"`) {
		t.Fatalf("password step: %d %s; want 202 with a login key and the device method", r.status, r.raw)
	}
	id, key := r.body["authorization_request"].(string), r.body["login_key"].(string)
	poll := func() response {
		return h.post("/v1/login/2fa", fmt.Sprintf(`{"authorization_request":%q,"login_key":%q}`, id, key))
	}
	if p := poll(); p.status != 202 || p.body["state"] != "waiting" {
		t.Fatalf("polling before the device decided: %d %s, want 202 waiting", p.status, p.raw)
	}
	pending := mustRun(t, cfg, "", "device", "pending", "--file", creds)
	if !strings.Contains(pending, id) || !strings.Contains(pending, "2FA") {
		t.Fatalf("device pending shows:\n%s\nwant the login's request %s", pending, id)
	}
	mustRun(t, cfg, "", "device", "approve", id, "--file", creds)
	done := poll()
	if done.status != 200 || done.body["access_token"] == nil {
		t.Fatalf("polling after the approval: %d %s, want tokens", done.status, done.raw)
	}
	if again := poll(); again.status != 401 {
		t.Errorf("completing the login twice: %d %s, want 401", again.status, again.raw)
	}
	if r := h.post("/v1/login/2fa", fmt.Sprintf(`{"authorization_request":%q,"login_key":"pcl_wrong"}`, id)); r.status != 401 {
		t.Errorf("a wrong login key: %d %s, want 401", r.status, r.raw)
	}
	if box.notified(id) == "" {
		t.Error("the push service was not told of the login's request")
	}
	var audit []byte
	waitFor(t, "the login in the audit file", 20*time.Second, func() bool {
		audit, _ = os.ReadFile(filepath.Join(dir, "audit.jsonl"))
		return strings.Contains(string(audit), `"user_logged_in"`)
	})
	h.kill(15)
	for where, text := range map[string]string{"the host's output": h.output(), "the audit file": string(audit)} {
		for name, secret := range map[string]string{"device token": token, "login key": key} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the %s", where, name)
			}
		}
	}
}
