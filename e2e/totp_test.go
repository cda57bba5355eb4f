package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oathtool computes a TOTP code with Debian's oathtool, an implementation
// independent of the host's, for the time at (SHA1, 6 digits, 30 s).
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		t.Fatal("the TOTP test needs oathtool (Debian: apt-get install oathtool)")
	}
	out, err := exec.Command(path, "--totp", "-b", "--now", "@"+strconv.FormatInt(at.Unix(), 10), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestTOTPTwoFactorLogin (acceptance 4, TOTP): with two_factor.required:
// enrolled, a user without an authenticator app logs in with the password
// alone; enrolling and confirming with a code computed by oathtool makes
// the next login answer 202 with a TOTP challenge (no code is sent); a
// code within the skew completes it, the same code again is refused, and a
// recovery code works once. No secret is left in clear in the database or
// the host's output.
func TestTOTPTwoFactorLogin(t *testing.T) {
	t.Parallel()
	box := newCodeBox(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n"+otpBackends(box)+"two_factor: {required: enrolled}\n")
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")

	first := mustLogin(t, h, "alice", "alice-password-1") // not enrolled: one factor
	if r := send(t, http.MethodPost, h.url+"/v1/totp/enroll", "", nil); r.status != 401 {
		t.Errorf("enroll without credentials: %d %s", r.status, r.raw)
	}
	en := send(t, http.MethodPost, h.url+"/v1/totp/enroll", "", bearer(first.access))
	secret, _ := en.body["secret"].(string)
	uri, _ := en.body["otpauth_uri"].(string)
	png, _ := base64.StdEncoding.DecodeString(fmt.Sprint(en.body["qr_png"]))
	if en.status != 200 || secret == "" || !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) ||
		!bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("enroll: %d %.300s", en.status, en.raw)
	}
	if r := send(t, http.MethodPost, h.url+"/v1/totp/confirm", `{"code":"000000"}`, bearer(first.access)); r.status != 400 {
		t.Errorf("confirm with a wrong code: %d %s", r.status, r.raw)
	}
	now := time.Now()
	conf := send(t, http.MethodPost, h.url+"/v1/totp/confirm", fmt.Sprintf(`{"code":%q}`, oathtool(t, secret, now)), bearer(first.access))
	codes, _ := conf.body["recovery_codes"].([]any)
	if conf.status != 200 || len(codes) != 10 {
		t.Fatalf("confirm: %d %s", conf.status, conf.raw)
	}
	if r := send(t, http.MethodPost, h.url+"/v1/totp/enroll", "", bearer(first.access)); r.status != 409 {
		t.Errorf("enrolling again: %d %s, want 409", r.status, r.raw)
	}

	login := func() string {
		t.Helper()
		r := h.login("alice", "alice-password-1")
		if r.status != 202 || r.body["delivery"] != "totp" || fmt.Sprint(r.body["methods"]) != "[totp recovery_code]" {
			t.Fatalf("password step of an enrolled user: %d %s, want 202 with delivery totp", r.status, r.raw)
		}
		id := r.body["authorization_request"].(string)
		if box.code(id) != "" {
			t.Error("a code was sent to a user with an authenticator app")
		}
		return id
	}
	// The confirming code's step is used: the next step's code (within
	// the skew) completes the login.
	next := oathtool(t, secret, now.Add(30*time.Second))
	id := login()
	if r := secondFactor(t, h, id, next, nil); r.status != 200 || r.body["access_token"] == nil {
		t.Fatalf("TOTP second step: %d %s", r.status, r.raw)
	}
	id = login()
	if r := secondFactor(t, h, id, next, nil); r.status != 401 {
		t.Errorf("the same TOTP code again: %d %s, want 401", r.status, r.raw)
	}
	recovery := codes[0].(string)
	if r := secondFactor(t, h, id, recovery, nil); r.status != 200 {
		t.Fatalf("a recovery code: %d %s", r.status, r.raw)
	}
	id = login()
	if r := secondFactor(t, h, id, recovery, nil); r.status != 401 {
		t.Errorf("a used recovery code: %d %s, want 401", r.status, r.raw)
	}

	out := mustRun(t, cfg, "", "users", "totp", "reset", "alice")
	if !strings.Contains(out, "removed") {
		t.Errorf("users totp reset: %s", out)
	}
	mustLogin(t, h, "alice", "alice-password-1")

	h.kill(15)
	places := map[string]string{"the host's output": h.output(), "the CLI's output": out}
	for _, f := range []string{"portcullis.db", "portcullis.db-wal"} {
		raw, _ := os.ReadFile(filepath.Join(dir, f))
		places[f] = string(raw)
	}
	secrets := []string{secret}
	for _, c := range codes {
		secrets = append(secrets, c.(string))
	}
	for where, text := range places {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a TOTP secret or a recovery code in clear", where)
			}
		}
	}
}
