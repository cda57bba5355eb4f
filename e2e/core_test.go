package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLoginAnswers(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHost(t, cfg)
	mustRun(t, cfg, "s3cret\n", "users", "add", "alice", "--password-stdin")

	ok := h.login("alice", "s3cret")
	if ok.status != 200 || ok.body["access_token"] == nil || ok.body["refresh_token"] == nil || ok.body["token_type"] != "Bearer" {
		t.Fatalf("right password: %d %s", ok.status, ok.raw)
	}
	if ok.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response is cacheable: Cache-Control %q", ok.header.Get("Cache-Control"))
	}
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"wrong password", `{"username":"alice","password":"wrong"}`, 401, "invalid_credentials"},
		{"unknown user", `{"username":"bob","password":"s3cret"}`, 401, "invalid_credentials"},
		{"malformed JSON", `{"username":`, 400, "invalid_request"},
		{"not an object", `["alice","s3cret"]`, 400, "invalid_request"},
		{"missing password", `{"username":"alice"}`, 400, "invalid_request"},
		{"unknown field", `{"username":"alice","password":"s3cret","admin":true}`, 400, "invalid_request"},
		{"two values", `{"username":"alice","password":"s3cret"}{}`, 400, "invalid_request"},
		{"control character", `{"username":"al\u0000ice","password":"s3cret"}`, 400, "invalid_request"},
		{"oversized body", `{"username":"alice","password":"` + strings.Repeat("x", 70_000) + `"}`, 413, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post("/v1/login", tt.body)
			if r.status != tt.status || r.body["error"] != tt.code || r.body["error_description"] == "" {
				t.Fatalf("got %d %s, want %d with error %q and a description", r.status, r.raw, tt.status, tt.code)
			}
			if strings.Contains(r.raw, "s3cret") {
				t.Fatalf("the answer repeats the password: %s", r.raw)
			}
		})
	}
	if strings.Contains(h.output(), "s3cret") {
		t.Fatal("the host logged a password")
	}
}

// TestChainOrdering runs three backends: two external scripted plugins in
// front of the first-party password backend.
func TestChainOrdering(t *testing.T) {
	dir := t.TempDir()
	sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", scriptedBin))[0]
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: gate
    plugin: %[1]s
    sha256: %[2]s
    config: {answers: {mallory: "deny:banned", eve: "deny:banned", "*": abstain}}
  - name: sso
    plugin: %[1]s
    sha256: %[2]s
    config: {answers: {carol: identity, eve: identity, "*": abstain}}
  - name: local
    plugin: password
`, scriptedBin, sum))
	h := startHost(t, cfg)
	for _, u := range []string{"alice", "mallory", "carol"} {
		mustRun(t, cfg, "pw-"+u+"\n", "users", "add", u, "--password-stdin")
	}
	tests := []struct {
		user, password string
		status         int
		want           string
	}{
		{"alice", "pw-alice", 200, "gate and sso abstain, local grants"},
		{"alice", "nope", 401, "every backend abstains"},
		{"mallory", "pw-mallory", 403, "gate denies before local could grant"},
		{"eve", "anything", 403, "gate denies before sso could grant"},
		{"carol", "wrong-for-local", 200, "sso grants before local is asked"},
		{"nobody", "x", 401, "end of chain"},
	}
	for _, tt := range tests {
		r := h.login(tt.user, tt.password)
		if r.status != tt.status {
			t.Errorf("%s (%s): got %d %s, want %d", tt.user, tt.want, r.status, r.raw, tt.status)
		}
		if tt.status == 403 && (r.body["error"] != "permission_denied" || r.body["reason"] != "banned") {
			t.Errorf("%s: deny body %s, want permission_denied with reason banned", tt.user, r.raw)
		}
	}
}

// TestPluginCrashFailsClosedThenRecovers runs the built-in chain
// [lockout (limit 5), password] and kills the password plugin.
func TestPluginCrashFailsClosedThenRecovers(t *testing.T) {
	dir := t.TempDir()
	// The back-off keeps the plugin down for 3s: the logins below take
	// milliseconds, so all of them meet it down.
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\nplugins: {restart_backoff: 3s}\n")
	h := startHost(t, cfg)
	mustRun(t, cfg, "s3cret\n", "users", "add", "alice", "--password-stdin")
	if r := h.login("alice", "s3cret"); r.status != 200 {
		t.Fatalf("before the crash: %d %s", r.status, r.raw)
	}
	// One wrong password while the plugin is up: the lockout counts it,
	// which shows it is in the chain and that `lockout list` sees its count.
	if r := h.login("alice", "wrong"); r.status != 401 {
		t.Fatalf("a wrong password before the crash: %d %s", r.status, r.raw)
	}
	if n := lockoutFailures(t, cfg, "alice"); n != 1 {
		t.Fatalf("failures counted before the crash: %d, want 1\n%s", n, mustRun(t, cfg, "", "lockout", "list"))
	}
	if err := syscall.Kill(pluginPID(t, h.cmd.Process.Pid, "password"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readyz to report the plugin down", 10*time.Second, func() bool { return h.get("/readyz").status == 503 })
	// While the plugin is down every login fails closed: never 200, never
	// 401 (that would count as a wrong password). Six of each, more than
	// the limit: had the lockout counted them, it would refuse with 429.
	for i := 0; i < 6; i++ {
		for _, pw := range []string{"s3cret", "wrong"} {
			if r := h.login("alice", pw); r.status != 503 || r.body["error"] != "backend_unavailable" {
				t.Fatalf("password %q while the plugin is down (attempt %d): got %d %s, want 503 backend_unavailable", pw, i+1, r.status, r.raw)
			}
		}
	}
	if r := h.get("/readyz"); r.status != 503 {
		t.Fatalf("readyz after the refused logins: %d, want 503 (the plugin should still be down)", r.status)
	}
	// The refused logins were not wrong passwords: the lockout gave each
	// back, and the count is still the one failure from before the crash.
	if n := lockoutFailures(t, cfg, "alice"); n != 1 {
		t.Fatalf("failures counted after 12 logins refused with 503: %d, want still 1\n%s", n, mustRun(t, cfg, "", "lockout", "list"))
	}
	waitFor(t, "the plugin to restart", 30*time.Second, func() bool { return h.login("alice", "s3cret").status == 200 })
	if r := h.get("/readyz"); r.status != 200 {
		t.Fatalf("readyz after restart: %d %s", r.status, r.raw)
	}
	if !strings.Contains(h.output(), `"restart":1`) {
		t.Errorf("the log does not record the restart:\n%s", h.output())
	}
}

func TestReadyzWhilePluginDown(t *testing.T) {
	dir := t.TempDir()
	// A long back-off keeps the plugin down while we look.
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\nplugins: {restart_backoff: 5s}\n")
	h := startHost(t, cfg)
	if r := h.get("/readyz"); r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.raw)
	}
	for _, pid := range childPIDs(t, h.cmd.Process.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, "readyz to report the plugin down", 10*time.Second, func() bool { return h.get("/readyz").status == 503 })
	if r := h.get("/healthz"); r.status != 200 {
		t.Fatalf("healthz must stay 200 while a plugin is down: %d", r.status)
	}
}

func TestHostSIGKILLLeavesNoPlugin(t *testing.T) {
	dir := t.TempDir()
	sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", scriptedBin))[0]
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - {name: one, plugin: %[1]s, sha256: %[2]s}
  - {name: two, plugin: password}
  - {name: three, plugin: %[1]s, sha256: %[2]s}
`, scriptedBin, sum))
	h := startHost(t, cfg)
	plugins := childPIDs(t, h.cmd.Process.Pid)
	if len(plugins) != 3 {
		t.Fatalf("want 3 plugin processes, found %v", plugins)
	}
	h.kill(syscall.SIGKILL)
	waitFor(t, "every plugin to die with the host", 10*time.Second, func() bool {
		for _, pid := range plugins {
			if alive(pid) {
				return false
			}
		}
		return true
	})
}

func TestHostSIGTERMStopsGracefully(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHost(t, cfg)
	plugins := childPIDs(t, h.cmd.Process.Pid)
	h.kill(syscall.SIGTERM)
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status after SIGTERM: %d\n%s", code, h.output())
	}
	for _, pid := range plugins {
		if alive(pid) {
			t.Errorf("plugin %d still runs after the host stopped", pid)
		}
	}
	if !strings.Contains(h.output(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", h.output())
	}
}

// TestWrongChecksumRefusesToStart starts [local, tampered]: the password
// plugin starts first, then the tampered plugin's checksum does not match.
func TestWrongChecksumRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	// A copy of its own, so that any process running this file was started
	// by this test's host.
	tampered := filepath.Join(dir, "portcullis-tampered")
	bin, err := os.ReadFile(scriptedBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tampered, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := strings.Repeat("0", 64)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - {name: local, plugin: password}
  - {name: tampered, plugin: %s, sha256: %s}
`, tampered, bad))
	h, err := launch(t, cfg)
	if err == nil {
		t.Fatal("the host started with a plugin whose checksum does not match")
	}
	<-h.done
	out := h.output()
	for _, want := range []string{`tampered`, "checksum does not match", bad, tampered} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not mention %q:\n%s", want, out)
		}
	}
	if code := h.cmd.ProcessState.ExitCode(); code == 0 {
		t.Error("the host exited 0 after refusing to start")
	}
	// The password plugin had started (the host starts backends in order);
	// the failed start stopped it before the host exited. The tampered
	// plugin never started, and no process runs its file.
	started := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		var e struct {
			Msg     string `json:"msg"`
			Backend string `json:"backend"`
			PID     int    `json:"pid"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "plugin started" {
			started[e.Backend] = e.PID
		}
	}
	if len(started) != 1 || started["local"] == 0 {
		t.Fatalf("plugins started: %v, want only local (with its pid)\n%s", started, out)
	}
	if alive(started["local"]) {
		t.Errorf("the password plugin (pid %d) outlived the host that failed to start", started["local"])
	}
	if pids := processesOf(t, tampered); len(pids) != 0 {
		t.Errorf("the plugin with the wrong checksum runs: pids %v", pids)
	}
	if _, err := os.Stat(cfg); err != nil {
		t.Fatal(err)
	}
}
