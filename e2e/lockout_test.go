package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loginFrom logs in as an app beside the host would: with the end user's
// address in the client field (the host trusts loopback by default).
func (h *host) loginFrom(ip, username, password string) response {
	h.t.Helper()
	return h.post("/v1/login", fmt.Sprintf(`{"username":%q,"password":%q,"client":{"ip":%q}}`, username, password, ip))
}

func TestLockoutThroughTheHost(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: lockout
    plugin: lockout
    config: {failure_limit: 3, cooloff: 15m, lockout_parameters: [[username, ip_address]]}
  - {name: local, plugin: password}
`)
	h := startHost(t, cfg)
	mustRun(t, cfg, "pw-alice\n", "users", "add", "alice", "--password-stdin")
	const ip = "203.0.113.7"
	// The 3rd wrong attempt still reaches the password backend (401); the
	// 4th is refused.
	for i := 1; i <= 3; i++ {
		if r := h.loginFrom(ip, "alice", "wrong"); r.status != 401 {
			t.Fatalf("wrong attempt %d: %d %s", i, r.status, r.raw)
		}
	}
	r := h.loginFrom(ip, "alice", "wrong")
	if r.status != 429 || r.header.Get("Retry-After") != "900" || r.body["error"] != "locked_out" {
		t.Fatalf("4th attempt: %d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	for _, field := range []string{"failure_limit", "failure_count", "username", "cooloff_time", "cooloff_seconds"} {
		if _, ok := r.body[field]; !ok {
			t.Errorf("lockout body lacks %s: %s", field, r.raw)
		}
	}
	if r.body["cooloff_time"] != "PT15M" || r.body["failure_limit"] != float64(3) {
		t.Errorf("lockout body: %s", r.raw)
	}
	if r := h.loginFrom(ip, "alice", "pw-alice"); r.status != 429 {
		t.Fatalf("right password while locked: %d %s", r.status, r.raw)
	}
	if r := h.loginFrom("203.0.113.8", "alice", "pw-alice"); r.status != 200 {
		t.Fatalf("same user from another IP: %d %s", r.status, r.raw)
	}
	out := mustRun(t, cfg, "", "lockout", "list")
	if !strings.Contains(out, ip) || !strings.Contains(out, "alice") {
		t.Fatalf("lockout list:\n%s", out)
	}
	if out := mustRun(t, cfg, "", "lockout", "reset", "--username", "alice"); !strings.Contains(out, "1 attempt removed.") {
		t.Fatalf("reset said: %s", out)
	}
	if r := h.loginFrom(ip, "alice", "pw-alice"); r.status != 200 {
		t.Fatalf("after reset: %d %s", r.status, r.raw)
	}
	if out := mustRun(t, cfg, "", "lockout", "reset", "--ip", "198.51.100.1"); !strings.Contains(out, "No attempts found.") {
		t.Fatalf("reset of nothing said: %s", out)
	}
	if out, err := run(t, cfg, "", "lockout", "reset"); err == nil || !strings.Contains(out, "name an IP address, a username, or all") {
		t.Fatalf("reset without a filter: %v %s", err, out)
	}
}

// addressLockout starts a host whose lockout counts by address alone
// (failure_limit 2) and trusts the given proxies, and returns it with
// its configuration and a function that sends four wrong logins, the i-th
// naming client.ip 198.51.100.i in its body and sending the
// X-Forwarded-For xff(i), and checks the first two are 401 and the others
// 429: whatever they claimed, the address that counts was locked.
func addressLockout(t *testing.T, trusted string) (cfg string, fourWrong func(xff func(i int) string)) {
	cfg = writeConfig(t, t.TempDir(), `
storage: {driver: sqlite, dsn: ./portcullis.db}
trusted_proxies: `+trusted+`
backends:
  - name: lockout
    plugin: lockout
    config: {failure_limit: 2, cooloff: 1m, lockout_parameters: [ip_address]}
  - {name: local, plugin: password}
`)
	h := startHost(t, cfg)
	return cfg, func(xff func(i int) string) {
		for i := 0; i < 4; i++ {
			body := fmt.Sprintf(`{"username":"u%d","password":"x","client":{"ip":"198.51.100.%d"}}`, i, i)
			req, _ := newRequest(h.url+"/v1/login", body)
			req.Header.Set("X-Forwarded-For", xff(i))
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := readResponse(t, resp)
			want := 401
			if i >= 2 {
				want = 429 // the claimed addresses did not help
			}
			if r.status != want {
				t.Fatalf("attempt %d claiming client.ip 198.51.100.%d and X-Forwarded-For %s: %d %s, want %d", i, i, xff(i), r.status, r.raw, want)
			}
		}
	}
}

func TestSpoofedForwardedForIsIgnored(t *testing.T) {
	// Nobody is a trusted proxy: the peer's own address counts.
	cfg, fourWrong := addressLockout(t, "[]")
	fourWrong(func(i int) string { return fmt.Sprintf("192.0.2.%d", i) })
	out := mustRun(t, cfg, "", "lockout", "list")
	if !strings.Contains(out, "127.0.0.1") || strings.Contains(out, "192.0.2.") || strings.Contains(out, "198.51.100.") {
		t.Fatalf("lockout counted a spoofed address:\n%s", out)
	}
}

// An end user behind a trusted reverse proxy cannot escape an address's
// lock by naming an address of their own in the login body the proxy
// passes on: the proxy's X-Forwarded-For counts.
func TestClientFieldThroughAProxyIsIgnored(t *testing.T) {
	cfg, fourWrong := addressLockout(t, "[127.0.0.1]")
	// What nginx's proxy_add_x_forwarded_for sends for this end user.
	fourWrong(func(int) string { return "203.0.113.9" })
	out := mustRun(t, cfg, "", "lockout", "list")
	if !strings.Contains(out, "203.0.113.9") || strings.Contains(out, "198.51.100.") {
		t.Fatalf("lockout did not count the proxy's address alone:\n%s", out)
	}
}

// lockoutFailures returns the FAILURES column of the username's row in
// `portcullis lockout list`, 0 if there is no such row.
func lockoutFailures(t testing.TB, cfg, username string) int64 {
	t.Helper()
	out := mustRun(t, cfg, "", "lockout", "list")
	for _, line := range strings.Split(out, "\n") {
		// BACKEND IP USERNAME USER-AGENT FAILURES LOCKED-UNTIL (which may be
		// "until reset", two fields)
		if f := strings.Fields(line); len(f) >= 6 && f[2] == username {
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				t.Fatalf("lockout list: failures %q: %v\n%s", f[4], err, out)
			}
			return n
		}
	}
	return 0
}

func TestSIGKILLMidBurstKeepsCountsAndLocks(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: lockout
    plugin: lockout
    config: {failure_limit: 5, cooloff: 30m, lockout_parameters: [[username, ip_address]]}
  - {name: local, plugin: password}
`)
	h := startHost(t, cfg)
	mustRun(t, cfg, "pw-victim\n", "users", "add", "victim", "--password-stdin")
	var answered atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := httpClient.Post(h.url+"/v1/login", "application/json",
					strings.NewReader(`{"username":"victim","password":"wrong","client":{"ip":"203.0.113.60"}}`))
				if err != nil {
					return // the host is gone
				}
				resp.Body.Close()
				if resp.StatusCode == 401 || resp.StatusCode == 429 {
					answered.Add(1)
				}
			}
		}()
	}
	waitFor(t, "the burst to get going", 20*time.Second, func() bool { return answered.Load() >= 30 })
	h.kill(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	seen := answered.Load()

	h2 := startHost(t, cfg)
	failures := lockoutFailures(t, cfg, "victim")
	// Every answered attempt was counted before it was answered.
	if failures < seen {
		t.Fatalf("after SIGKILL and restart %d failures are recorded, but %d attempts had been answered:\n%s", failures, seen, mustRun(t, cfg, "", "lockout", "list"))
	}
	if r := h2.loginFrom("203.0.113.60", "victim", "pw-victim"); r.status != 429 {
		t.Fatalf("the lock did not survive the SIGKILL: %d %s", r.status, r.raw)
	}
}
