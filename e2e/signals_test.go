package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
)

// The webhook secrets of the tests: most use a plain one, one the Standard
// Webhooks form.
const (
	hookSecret         = "an-e2e-webhook-secret-of-some-length"
	hookSecretStandard = "whsec_ZTJlLXN0YW5kYXJkLXdlYmhvb2tzLWtleS0zMmI="
)

// fastDelivery makes async delivery retry quickly in tests.
const fastDelivery = `  delivery: {backoff: 50ms, backoff_max: 300ms, poll: 100ms, lease: 10s, max_attempts: 1000}
`

func TestWebhookReceivesLoginSignals(t *testing.T) {
	dir := t.TempDir()
	wh := newHook(t, hookSecretStandard)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {webhook: %q, secret: %q, signals: [user_login_failed, user_logged_in], mode: async}
`+fastDelivery, wh.url(), hookSecretStandard))
	h := startHost(t, cfg)
	mustRun(t, cfg, "hunter2-alice\n", "users", "add", "alice", "--password-stdin")

	if r := h.login("alice", "wrong-guess-1"); r.status != 401 {
		t.Fatalf("wrong password: %d", r.status)
	}
	ok := h.login("alice", "hunter2-alice")
	if ok.status != 200 {
		t.Fatalf("right password: %d %s", ok.status, ok.raw)
	}
	waitFor(t, "two signals at the webhook", 10*time.Second, func() bool { return len(wh.received()) >= 2 })
	got := wh.received()
	byName := map[string]delivered{}
	for _, d := range got {
		byName[d.Name] = d
	}
	var failed struct {
		Username, ClientIP, Backend, Reason string
	}
	fd, ok1 := byName["user_login_failed"]
	if !ok1 {
		t.Fatalf("no user_login_failed among %+v", got)
	}
	if err := json.Unmarshal(fd.Args, &struct {
		Username *string `json:"username"`
		ClientIP *string `json:"client_ip"`
		Backend  *string `json:"backend"`
		Reason   *string `json:"reason"`
	}{&failed.Username, &failed.ClientIP, &failed.Backend, &failed.Reason}); err != nil {
		t.Fatal(err)
	}
	if failed.Username != "alice" || failed.ClientIP != "127.0.0.1" || failed.Backend != "local" || failed.Reason != "invalid_credentials" {
		t.Errorf("user_login_failed args = %s", fd.Args)
	}
	li, ok2 := byName["user_logged_in"]
	if !ok2 || !strings.Contains(string(li.Args), `"username":"alice"`) || li.Sender != "local" || li.ID == "" || li.Time.IsZero() {
		t.Errorf("user_logged_in = %+v", li)
	}
	for _, b := range wh.rawBodies() {
		for _, secret := range []string{"hunter2-alice", "wrong-guess-1", ok.body["access_token"].(string), ok.body["refresh_token"].(string)} {
			if strings.Contains(b, secret) {
				t.Errorf("a webhook body carries a secret: %s", b)
			}
		}
	}
	if wh.badSigs != 0 {
		t.Errorf("%d deliveries had a bad signature", wh.badSigs)
	}
}

func TestQueuedSignalsSurviveHostSIGKILL(t *testing.T) {
	dir := t.TempDir()
	wh := newHook(t, hookSecret)
	wh.stop() // the receiver is down
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {webhook: %q, secret: %q, signals: [user_login_failed], mode: async}
`+fastDelivery, wh.url(), hookSecret))
	h := startHost(t, cfg)
	const failures = 15 // under the default lockout's 20 per address
	for i := 0; i < failures; i++ {
		if r := h.login(fmt.Sprintf("user%d", i), "nope"); r.status != 401 {
			t.Fatalf("login %d: %d", i, r.status)
		}
	}
	// Let a few delivery attempts fail against the dead receiver.
	time.Sleep(300 * time.Millisecond)
	out := mustRun(t, cfg, "", "signals", "list")
	if !strings.Contains(out, "pending") || !strings.Contains(out, "connection refused") {
		t.Errorf("signals list does not show failing pending deliveries:\n%s", out)
	}
	h.kill(syscall.SIGKILL)

	wh.start()
	startHost(t, cfg)
	waitFor(t, "every queued signal after the restart", 30*time.Second, func() bool {
		n, _ := wh.stats()
		return n == failures
	})
	users := map[string]bool{}
	for _, d := range wh.received() {
		var a struct {
			Username string `json:"username"`
		}
		_ = json.Unmarshal(d.Args, &a)
		users[a.Username] = true
	}
	for i := 0; i < failures; i++ {
		if !users[fmt.Sprintf("user%d", i)] {
			t.Errorf("the signal for user%d was lost", i)
		}
	}
}

func TestDeadLettersAndRetry(t *testing.T) {
	dir := t.TempDir()
	wh := newHook(t, hookSecret)
	wh.stop()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {name: audit-hook, webhook: %q, secret: %q, signals: [user_login_failed]}
  delivery: {backoff: 20ms, backoff_max: 40ms, poll: 50ms, max_attempts: 3}
`, wh.url(), hookSecret))
	h := startHost(t, cfg)
	h.login("ghost", "nope")
	var id string
	waitFor(t, "a dead letter", 10*time.Second, func() bool {
		out := mustRun(t, cfg, "", "signals", "list", "--dead")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "audit-hook") && strings.Contains(line, "dead") {
				id = strings.Fields(line)[0]
				return true
			}
		}
		return false
	})
	wh.start()
	if out := mustRun(t, cfg, "", "signals", "retry", id); !strings.Contains(out, "queued for retry") {
		t.Fatalf("retry said: %s", out)
	}
	waitFor(t, "the retried delivery", 10*time.Second, func() bool { return len(wh.received()) == 1 })
	if out, err := run(t, cfg, "", "signals", "retry", "999999"); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("retry of an unknown id: %v %s", err, out)
	}
	if out, err := run(t, cfg, "", "signals", "retry", "abc"); err == nil || !strings.Contains(out, "delivery id") {
		t.Errorf("retry of a malformed id: %v %s", err, out)
	}
}

// twoHostConfig is two hosts on one PostgreSQL schema, a fast fake backend
// that refuses everyone (so each login is one user_login_failed), and a
// webhook.
func twoHostConfig(t *testing.T, wh *hook, dsn string) string {
	dir := t.TempDir()
	sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", scriptedBin))[0]
	return writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: postgres, dsn: %q}
backends:
  - {name: nobody, plugin: %s, sha256: %s, config: {answers: {"*": "abstain:invalid_credentials"}}}
signals:
  subscribers:
    - {name: hook, webhook: %q, secret: %q, signals: [user_login_failed], timeout: 500ms}
  delivery: {backoff: 50ms, backoff_max: 300ms, poll: 100ms, lease: 2s, batch_size: 20, max_attempts: 1000}
`, dsn, scriptedBin, sum, wh.url(), hookSecret))
}

// burst sends n failed logins, split over the hosts, with some concurrency.
func burst(t *testing.T, hosts []*host, n int) {
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				h := hosts[i%len(hosts)]
				if r := h.login(fmt.Sprintf("u%04d", i), "x"); r.status != 401 {
					t.Errorf("login %d: %d %s", i, r.status, r.raw)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

func TestTwoHostsDeliverEachSignalOnce(t *testing.T) {
	dsn := storagetest.PostgresDSN(t)
	wh := newHook(t, hookSecret)
	cfg := twoHostConfig(t, wh, dsn)
	hosts := []*host{startHost(t, cfg), startHost(t, cfg)}
	const n = 1000
	burst(t, hosts, n)
	waitFor(t, "1000 signals at the webhook", 60*time.Second, func() bool {
		d, _ := wh.stats()
		return d == n
	})
	time.Sleep(500 * time.Millisecond) // room for stray duplicates to show
	distinct, dups := wh.stats()
	if distinct != n || dups != 0 {
		t.Fatalf("two hosts in normal operation: %d distinct signals, %d duplicates; want %d and 0", distinct, dups, n)
	}
	// Each host counts the deliveries its own deliverer made. Either host
	// may claim any queued signal, so how they split the work is not
	// fixed (one may even deliver everything); what is fixed is that
	// together they delivered each signal exactly once.
	const delivered = `portcullis_signal_deliveries_total{subscriber="hook",result="delivered"}`
	var split []int
	total := 0
	for _, h := range hosts {
		got := int(h.metric(delivered))
		split = append(split, got)
		total += got
	}
	if total != n {
		t.Fatalf("the hosts' metrics count %d deliveries (%v per host), want %d", total, split, n)
	}
	t.Logf("deliveries per host: %v", split)
}

func TestTwoHostsWithACrashLoseNothing(t *testing.T) {
	dsn := storagetest.PostgresDSN(t)
	wh := newHook(t, hookSecret)
	wh.delay = 3 * time.Millisecond // slow enough that a crash lands mid-delivery
	cfg := twoHostConfig(t, wh, dsn)
	a, b := startHost(t, cfg), startHost(t, cfg)
	const n = 1000
	burst(t, []*host{a, b}, n)
	waitFor(t, "deliveries under way", 30*time.Second, func() bool { d, _ := wh.stats(); return d > 100 })
	a.kill(syscall.SIGKILL)
	waitFor(t, "every signal despite the crash", 90*time.Second, func() bool {
		d, _ := wh.stats()
		return d == n
	})
	distinct, dups := wh.stats()
	// Only what the killed host had claimed and not acknowledged can come
	// twice: at most one batch per subscriber.
	if distinct != n || dups > 20 {
		t.Fatalf("after a crash: %d distinct, %d duplicates; want %d and at most one batch (20)", distinct, dups, n)
	}
	t.Logf("duplicates caused by the crash: %d", dups)
}

func TestSyncReceiverThatPanicsOrHangsChangesNoAnswer(t *testing.T) {
	for _, behaviour := range []string{"panic", "sleep", "error"} {
		t.Run(behaviour, func(t *testing.T) {
			dir := t.TempDir()
			sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", receiverBin))[0]
			record := emptyFile(t, filepath.Join(dir, "received.jsonl"))
			cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - name: bad-receiver
      plugin: %s
      sha256: %s
      mode: sync
      timeout: 200ms
      config: {behaviour: %s, sleep: 3s, record: %q}
      sandbox: {write: [%q]}
`, receiverBin, sum, behaviour, record, record))
			h := startHost(t, cfg)
			mustRun(t, cfg, "pw-alice\n", "users", "add", "alice", "--password-stdin")
			for i := 0; i < 3; i++ {
				if r := h.login("alice", "pw-alice"); r.status != 200 {
					t.Fatalf("right password with a %s receiver: %d %s", behaviour, r.status, r.raw)
				}
				if r := h.login("alice", "wrong"); r.status != 401 {
					t.Fatalf("wrong password with a %s receiver: %d %s", behaviour, r.status, r.raw)
				}
			}
			// The receiver was called (it records before misbehaving) ...
			raw, _ := os.ReadFile(record)
			if strings.Count(string(raw), "\n") < 6 {
				t.Errorf("the receiver saw %d signals, want 6:\n%s", strings.Count(string(raw), "\n"), raw)
			}
			// ... and the host reported each failure, in its log and metrics.
			if !strings.Contains(h.output(), "sync signal receiver failed") {
				t.Errorf("no report of the failing receiver in the log:\n%s", h.output())
			}
			if n := h.metric(`portcullis_signal_sync_failures_total{subscriber="bad-receiver/user_login_failed",signal="user_login_failed"}`); n != 3 {
				t.Errorf("metrics count %v failures, want 3:\n%s", n, h.get("/metrics").raw)
			}
		})
	}
}

func TestNoSecretInAnySignalOverAFullCycle(t *testing.T) {
	dir := t.TempDir()
	wh := newHook(t, hookSecret)
	sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", receiverBin))[0]
	audit := filepath.Join(dir, "audit.jsonl")
	record := emptyFile(t, filepath.Join(dir, "plugin.jsonl"))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {webhook: %q, secret: %q, signals: ["*"]}
    - {audit_file: %q, signals: ["*"], mode: sync}
    - {name: recorder, plugin: %s, sha256: %s, mode: async, config: {behaviour: ok, record: %q}, sandbox: {write: [%q]}}
`+fastDelivery, wh.url(), hookSecret, audit, receiverBin, sum, record, record))
	h := startHost(t, cfg)
	const password = "correct-horse-battery-staple"
	mustRun(t, cfg, password+"\n", "users", "add", "carol", "--password-stdin")

	secrets := []string{password, "guess-one-" + password[:6]}
	if r := h.login("carol", secrets[1]); r.status != 401 {
		t.Fatalf("wrong password: %d", r.status)
	}
	login := h.login("carol", password)
	if login.status != 200 {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}
	secrets = append(secrets, login.body["access_token"].(string), login.body["refresh_token"].(string))
	refreshed := h.post("/v1/token/refresh", fmt.Sprintf(`{"refresh_token":%q}`, login.body["refresh_token"]))
	if refreshed.status != 200 {
		t.Fatalf("refresh: %d %s", refreshed.status, refreshed.raw)
	}
	secrets = append(secrets, refreshed.body["access_token"].(string), refreshed.body["refresh_token"].(string))
	if r := h.post("/v1/token/revoke", fmt.Sprintf(`{"token":%q}`, refreshed.body["refresh_token"])); r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	// Reusing the first refresh token is refused.
	if r := h.post("/v1/token/refresh", fmt.Sprintf(`{"refresh_token":%q}`, login.body["refresh_token"])); r.status != 401 {
		t.Fatalf("reused refresh token: %d %s", r.status, r.raw)
	}

	waitFor(t, "the webhook to get every signal", 10*time.Second, func() bool {
		names := map[string]bool{}
		for _, d := range wh.received() {
			names[d.Name] = true
		}
		return names["user_login_failed"] && names["user_logged_in"] && names["user_logged_out"]
	})
	waitFor(t, "the plugin to get its signals", 10*time.Second, func() bool {
		raw, _ := os.ReadFile(record)
		return strings.Count(string(raw), "\n") >= 2
	})
	auditRaw, _ := os.ReadFile(audit)
	pluginRaw, _ := os.ReadFile(record)
	payloads := append(wh.rawBodies(), string(auditRaw), string(pluginRaw))
	for _, p := range payloads {
		for _, s := range secrets {
			if strings.Contains(p, s) {
				t.Errorf("a signal payload carries a secret %.8s…: %s", s, p)
			}
		}
	}
	if !strings.Contains(string(auditRaw), `"name":"user_logged_out"`) || !strings.Contains(string(auditRaw), `"name":"plugin_started"`) {
		t.Errorf("the audit file lacks signals:\n%s", auditRaw)
	}
	if strings.Contains(h.output(), password) {
		t.Error("the host logged the password")
	}
}
