package e2e

// End-to-end benchmarks (issues #3 and #4): real `portcullis serve`
// processes with real plugin subprocesses, measured over HTTP.
//
//	go test ./e2e -run '^$' -bench . -count 5
//
// PostgreSQL variants skip without PORTCULLIS_TEST_POSTGRES_DSN (see
// DEVELOPERS.md). docs/benchmarks.md records the figures and the exact
// commands. The hosts log at info level (the default), not at the debug
// level the tests use, so that no log line is written per login.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/plugins/password"
	"github.com/portcullis-auth/portcullis/testkit/httpload"
	"github.com/portcullis-auth/portcullis/testkit/procstat"
)

// benchStorage is one database a benchmark host can use.
type benchStorage struct {
	name string
	// line returns the storage: line of the configuration; it may skip b.
	line func(b *testing.B) string
}

var benchStorages = []benchStorage{
	{"sqlite", func(*testing.B) string { return "storage: {driver: sqlite, dsn: ./portcullis.db}" }},
	{"postgres", func(b *testing.B) string {
		return fmt.Sprintf("storage: {driver: postgres, dsn: %q}", storagetest.PostgresDSN(b))
	}},
}

// startBenchHost runs `portcullis serve` on a configuration in a fresh
// directory, logging at info level (a debug line per login would weigh on
// the figures), and waits until it serves.
func startBenchHost(b *testing.B, yaml string) *host {
	b.Helper()
	return startHost(b, writeConfigAt(b, b.TempDir(), "info", liftedLoginLimits+yaml))
}

// benchPluginSum returns an external plugin's checksum, as the configuration
// wants it.
func benchPluginSum(b *testing.B, dir, bin string) string {
	return strings.Fields(mustRun(b, writeConfigAt(b, dir, "info", ""), "", "plugins", "checksum", bin))[0]
}

// hostCPU returns the CPU time used so far by the host process and its
// plugin processes (its children).
func (h *host) hostCPU(t testing.TB) (time.Duration, bool) {
	total, ok := procstat.CPU(h.cmd.Process.Pid)
	if !ok {
		return 0, false
	}
	for _, pid := range childPIDs(t, h.cmd.Process.Pid) {
		if d, ok := procstat.CPU(pid); ok {
			total += d
		}
	}
	return total, true
}

// benchReportCPU starts measuring the CPU time used by the host with its
// plugins, and by this process (the load generator); the function it
// returns reports both per operation, as host-cpu-ns/op and
// client-cpu-ns/op. On a machine shared with other work, wall time includes
// waiting for a CPU and CPU time does not.
func benchReportCPU(b *testing.B, h *host) func() {
	hostStart, ok1 := h.hostCPU(b)
	selfStart, ok2 := procstat.CPU(os.Getpid())
	return func() {
		hostEnd, ok3 := h.hostCPU(b)
		selfEnd, ok4 := procstat.CPU(os.Getpid())
		if b.N == 0 {
			return
		}
		if ok1 && ok3 {
			b.ReportMetric(float64(hostEnd-hostStart)/float64(b.N), "host-cpu-ns/op")
		}
		if ok2 && ok4 {
			b.ReportMetric(float64(selfEnd-selfStart)/float64(b.N), "client-cpu-ns/op")
		}
	}
}

// benchLoginBody is a login as an app beside the host sends it, with the end
// user's address in the client field (the host trusts loopback).
func benchLoginBody(username, password, ip string) []byte {
	return fmt.Appendf(nil, `{"username":%q,"password":%q,"client":{"ip":%q}}`, username, password, ip)
}

// benchPostLogin sends one login and returns its status, reading the answer to
// the end so that the connection is reused.
func benchPostLogin(client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// benchSequentialLogins sends b.N logins one after the other over one kept-alive
// connection and fails b on any answer but want. ns/op is then the latency
// of one login.
func benchSequentialLogins(b *testing.B, h *host, body []byte, want int) {
	b.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	url := h.url + "/v1/login"
	// Warm the connection (and the plugins' connections to the host).
	for range 20 {
		if status, err := benchPostLogin(client, url, body); err != nil || status != want {
			b.Fatalf("warm-up login: %d %v, want %d\n%s", status, err, want, h.output())
		}
	}
	cpu := benchReportCPU(b, h)
	callsBefore := h.metricSum("portcullis_plugin_calls_total")
	b.ResetTimer()
	for range b.N {
		status, err := benchPostLogin(client, url, body)
		if err != nil || status != want {
			b.Fatalf("login: %d %v, want %d", status, err, want)
		}
	}
	b.StopTimer()
	cpu()
	// Every call crossing between the host and a plugin process, both ways
	// (the host's portcullis_plugin_calls_total).
	b.ReportMetric((h.metricSum("portcullis_plugin_calls_total")-callsBefore)/float64(b.N), "xproc-calls/op")
}

// benchScriptedGrant is a backend entry for the scripted test plugin that grants
// the identity of alice without hashing a password.
func benchScriptedGrant(b *testing.B, dir string) string {
	return fmt.Sprintf("  - {name: sso, plugin: %s, sha256: %s, config: {answers: {alice: identity, \"*\": abstain}}}\n",
		scriptedBin, benchPluginSum(b, dir, scriptedBin))
}

// benchLockout is the lockout backend of the default chain without
// reset_on_success: limit 5, cool-off 30m, by username and address
// together.
const benchLockout = "  - {name: lockout, plugin: lockout, config: {failure_limit: 5, cooloff: 30m, lockout_parameters: [[username, ip_address]]}}\n"

// benchLockoutNoAccessLog is benchLockout without the access log of
// successful logins (access_log is on by default).
const benchLockoutNoAccessLog = "  - {name: lockout, plugin: lockout, config: {failure_limit: 5, cooloff: 30m, lockout_parameters: [[username, ip_address]], access_log: false}}\n"

// BenchmarkLoginSyncReceiver (issue #3) measures a successful login over
// HTTP, one at a time, whose only backend is the scripted plugin (no
// password hashing), on SQLite: without signal subscribers, and with one
// sync receiver plugin (the Receiver test plugin, behaviour ok) subscribed
// to user_logged_in. The difference is the latency one sync receiver adds
// to a login.
func BenchmarkLoginSyncReceiver(b *testing.B) {
	dir := b.TempDir()
	backends := "backends:\n" + benchScriptedGrant(b, dir)
	receiverSum := benchPluginSum(b, dir, receiverBin)
	variants := []struct{ name, yaml string }{
		{"subscribers=none", ""},
		{"subscribers=sync-receiver", fmt.Sprintf(`signals:
  subscribers:
    - {name: receiver, plugin: %s, sha256: %s, mode: sync, signals: [user_logged_in], config: {behaviour: ok}}
`, receiverBin, receiverSum)},
	}
	storageLine := benchStorages[0].line(b)
	for _, v := range variants {
		b.Run("sqlite/"+v.name, func(b *testing.B) {
			h := startBenchHost(b, storageLine+"\n"+backends+v.yaml)
			benchSequentialLogins(b, h, benchLoginBody("alice", "any", "203.0.113.9"), http.StatusOK)
		})
	}
}

// BenchmarkLockoutAllowedLogin (issues #4 and #8) measures a successful
// login over HTTP, one at a time, through [lockout, scripted] against
// [scripted] alone, on SQLite and PostgreSQL. The scripted plugin grants
// without hashing a password, so the difference is what the lockout adds to
// an allowed login: the host's admission of the attempt on its counter and
// its settlement with the access-log record, two transactions in the
// host's database and no call to the lockout's plugin process. A third
// chain turns the access log off to show its share, and a fourth is the
// default-style [lockout, password] with a real password, whose
// xproc-calls/op counts every call crossing between the host and a plugin
// process per login.
func BenchmarkLockoutAllowedLogin(b *testing.B) {
	dir := b.TempDir()
	granter := benchScriptedGrant(b, dir)
	chains := []struct{ name, backends, user, password string }{
		{"chain=scripted", "backends:\n" + granter, "alice", "any"},
		{"chain=lockout+scripted", "backends:\n" + benchLockout + granter, "alice", "any"},
		// The same without the access log, to show its share.
		{"chain=lockout-noaccesslog+scripted", "backends:\n" + benchLockoutNoAccessLog + granter, "alice", "any"},
		{"chain=lockout+password", "backends:\n" + benchLockout + "  - {name: local, plugin: password}\n", "alice", "pw-alice"},
	}
	for _, st := range benchStorages {
		for _, c := range chains {
			b.Run(st.name+"/"+c.name, func(b *testing.B) {
				h := startBenchHost(b, st.line(b)+"\n"+c.backends)
				if strings.Contains(c.backends, "plugin: password") {
					mustRun(b, h.config, c.password+"\n", "users", "add", c.user, "--password-stdin")
				}
				benchSequentialLogins(b, h, benchLoginBody(c.user, c.password, "203.0.113.9"), http.StatusOK)
			})
		}
	}
}

// benchRejectionBurst sends b.N wrong logins for a locked-out client over
// benchRejectionConns keep-alive connections, timed, reports rejections/s,
// and returns how many were answered 429 and the first other answer. The
// load generator is httpload, not net/http's client, which would spend about
// as much CPU per request as the host spends refusing it, on the same cores.
func benchRejectionBurst(b *testing.B, url string, body []byte) (int64, error) {
	addr := strings.TrimPrefix(url, "http://")
	addr, path, _ := strings.Cut(addr, "/")
	req := httpload.Request(addr, "/"+path, "application/json", body)
	b.ResetTimer()
	res := httpload.Run(context.Background(), httpload.Options{
		Addr: addr, Conns: benchRejectionConns, Requests: int64(b.N),
		Request: req, Want: http.StatusTooManyRequests,
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rejections/s")
	return res.Matched, res.FirstErr
}

// benchRejectionConns is the number of concurrent keep-alive connections of the
// rejection benchmark.
const benchRejectionConns = 32

// BenchmarkLockoutRejections (issue #4) measures how many wrong logins per
// second a host refuses for a locked-out client: the default-style chain
// [lockout (limit 5, cool-off 30m, by username and address), password], a
// client locked out by 6 wrong attempts, then b.N more wrong attempts over
// 32 kept-alive connections (httpload, one request at a time on each).
// Every answer must be 429, and afterwards `portcullis lockout list` must
// show the client's failure count grown by at least the number of 429s:
// every rejection is counted. Besides rejections/s it reports the CPU time
// per rejection of the host with its plugins and of the load generator
// (not of PostgreSQL's server processes).
func BenchmarkLockoutRejections(b *testing.B) {
	for _, st := range benchStorages {
		b.Run(st.name, func(b *testing.B) {
			h := startBenchHost(b, st.line(b)+"\nbackends:\n"+benchLockout+"  - {name: local, plugin: password}\n")
			mustRun(b, h.config, "pw-victim\n", "users", "add", "victim", "--password-stdin")
			body := benchLoginBody("victim", "wrong", "203.0.113.7")
			url := h.url + "/v1/login"
			setup := &http.Client{Timeout: 30 * time.Second}
			for i := 1; i <= 6; i++ {
				want := http.StatusUnauthorized
				if i == 6 {
					want = http.StatusTooManyRequests
				}
				if status, err := benchPostLogin(setup, url, body); err != nil || status != want {
					b.Fatalf("wrong attempt %d: %d %v, want %d\n%s", i, status, err, want, h.output())
				}
			}
			setup.CloseIdleConnections()

			b.Run(fmt.Sprintf("conns=%d", benchRejectionConns), func(b *testing.B) {
				before := lockoutFailures(b, h.config, "victim")
				if before == 0 {
					b.Fatalf("lockout list shows no failures for victim after the lock:\n%s", mustRun(b, h.config, "", "lockout", "list"))
				}
				cpu := benchReportCPU(b, h)
				rejected, firstErr := benchRejectionBurst(b, url, body)
				cpu()
				if firstErr != nil {
					b.Fatalf("%d of %d wrong logins rejected; first other answer: %v", rejected, b.N, firstErr)
				}
				if grew := lockoutFailures(b, h.config, "victim") - before; grew < rejected {
					b.Fatalf("the failure count grew by %d, but %d attempts were rejected: not every rejection was counted", grew, rejected)
				}
			})
		})
	}
}

// startBareReject runs the rejection yardstick (testkit/cmd/bare-reject) and
// returns its login URL and its pid.
func startBareReject(b *testing.B) (string, int) {
	b.Helper()
	cmd := exec.Command(builtOnDemand(b, "../testkit/cmd/bare-reject"), "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("reading the yardstick's address: %v", err)
	}
	return "http://" + strings.TrimSpace(addr) + "/v1/login", cmd.Process.Pid
}

// BenchmarkRejectionYardstick is the yardstick of BenchmarkLockoutRejections
// (issue #8): the same wrong login, by the same load generator over the same
// 32 connections, refused by a bare net/http handler that decodes the same
// JSON body and answers 429 from an in-memory counter (bare-reject). The
// host's rejections/s over this one's, from the same run, is the ratio the
// issue asks about (at least 50%).
func BenchmarkRejectionYardstick(b *testing.B) {
	url, pid := startBareReject(b)
	body := benchLoginBody("victim", "wrong", "203.0.113.7")
	b.Run(fmt.Sprintf("conns=%d", benchRejectionConns), func(b *testing.B) {
		cpuStart, ok1 := procstat.CPU(pid)
		rejected, firstErr := benchRejectionBurst(b, url, body)
		if cpuEnd, ok2 := procstat.CPU(pid); ok1 && ok2 && b.N > 0 {
			b.ReportMetric(float64(cpuEnd-cpuStart)/float64(b.N), "host-cpu-ns/op")
		}
		if firstErr != nil {
			b.Fatalf("%d of %d logins rejected; first other answer: %v", rejected, b.N, firstErr)
		}
	})
}

// BenchmarkPasswordLogins (issue #8) measures successful password logins
// per second at 32 connections through the default-style chain [lockout,
// password] (argon2id with the password backend's defaults), every one
// answered 200 with tokens; and, as its yardstick in the same run, the
// rate at which this machine verifies the same argon2id hash on all its
// cores, with nothing else (password.Verify under b.RunParallel). The
// host's logins/s over the yardstick's verifications/s is what the issue
// asks to be at least 90%. The host is measured with one user logging in
// on every connection from one address (her lockout counter full of
// attempts in flight, most logins waiting for room on it) and with 32
// users, one per connection, each from an address of its own; and the
// first of those again with the yardstick in turns (interleaved/...), the
// ratio docs/benchmarks.md quotes.
func BenchmarkPasswordLogins(b *testing.B) {
	b.Run("yardstick=argon2id-verify", func(b *testing.B) {
		hash, err := password.Hash("pw-alice", password.DefaultArgon2Params)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, err := password.Verify(hash, "pw-alice"); !ok || err != nil {
					b.Error("the yardstick's hash does not verify")
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
	})
	for _, st := range benchStorages {
		b.Run("interleaved/"+st.name, func(b *testing.B) { benchPasswordInterleaved(b, st) })
		for _, users := range []int{1, benchRejectionConns} {
			name := "host=lockout+password/" + st.name
			if users > 1 {
				name = fmt.Sprintf("host=lockout+password/users=%d/%s", users, st.name)
			}
			b.Run(name, func(b *testing.B) { benchPasswordLogins(b, st, users) })
		}
	}
}

// benchPasswordLogins runs BenchmarkPasswordLogins's host on st: users
// users log in, each connection as one of them from an address of its own
// (with one user, all 32 connections log alice in from one address, so
// that most of them wait for room on her counter).
func benchPasswordLogins(b *testing.B, st benchStorage, users int) {
	h := startBenchHost(b, st.line(b)+"\nbackends:\n"+benchLockout+"  - {name: local, plugin: password}\n")
	addr := strings.TrimPrefix(h.url, "http://")
	var reqs [][]byte
	for i := range users {
		name := "alice"
		if users > 1 {
			name = fmt.Sprintf("user%d", i)
		}
		mustRun(b, h.config, "pw-alice\n", "users", "add", name, "--password-stdin")
		reqs = append(reqs, httpload.Request(addr, "/v1/login", "application/json", benchLoginBody(name, "pw-alice", fmt.Sprintf("203.0.113.%d", i+1))))
	}
	// Warm up the connections and the plugins.
	httpload.Run(context.Background(), httpload.Options{Addr: addr, Conns: benchRejectionConns, Requests: benchRejectionConns, PerConn: reqs, Want: http.StatusOK})
	cpu := benchReportCPU(b, h)
	b.ResetTimer()
	res := httpload.Run(context.Background(), httpload.Options{
		Addr: addr, Conns: benchRejectionConns, Requests: int64(b.N), PerConn: reqs, Want: http.StatusOK,
	})
	b.StopTimer()
	cpu()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	if res.FirstErr != nil || res.Matched != int64(b.N) {
		b.Fatalf("%d of %d logins answered 200; first other answer: %v", res.Matched, b.N, res.FirstErr)
	}
}

// passwordRounds is how many turns benchPasswordInterleaved gives the
// yardstick and the host each.
const passwordRounds = 8

// benchPasswordInterleaved measures the case (alice on all 32
// connections from one address) and the yardstick in turns within one run,
// so that both see the machine in the same state: on a shared machine the
// rate of argon2id itself moves by a sixth from minute to minute, and a
// yardstick measured once before the host says as much about that minute
// as about the host. b.N logins and b.N verifications are split into
// passwordRounds turns each, taken in the order yardstick, host, host,
// yardstick, ..., so that a steady drift of the machine weighs on both
// alike. The host waits idle while the yardstick runs. It reports both
// rates and the host's as a percentage of the yardstick's (pct-of-yardstick).
func benchPasswordInterleaved(b *testing.B, st benchStorage) {
	h := startBenchHost(b, st.line(b)+"\nbackends:\n"+benchLockout+"  - {name: local, plugin: password}\n")
	addr := strings.TrimPrefix(h.url, "http://")
	mustRun(b, h.config, "pw-alice\n", "users", "add", "alice", "--password-stdin")
	req := httpload.Request(addr, "/v1/login", "application/json", benchLoginBody("alice", "pw-alice", "203.0.113.1"))
	hash, err := password.Hash("pw-alice", password.DefaultArgon2Params)
	if err != nil {
		b.Fatal(err)
	}
	// Warm up the connections, the plugins and the yardstick's memory.
	httpload.Run(context.Background(), httpload.Options{Addr: addr, Conns: benchRejectionConns, Requests: benchRejectionConns, Request: req, Want: http.StatusOK})
	verifyAll(b, hash, int64(runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.StopTimer()
	var yard, host time.Duration
	for i := range passwordRounds {
		n := int64(b.N*(i+1)/passwordRounds - b.N*i/passwordRounds)
		if n == 0 {
			continue
		}
		hostTurn := func() {
			b.StartTimer()
			start := time.Now()
			res := httpload.Run(context.Background(), httpload.Options{Addr: addr, Conns: benchRejectionConns, Requests: n, Request: req, Want: http.StatusOK})
			host += time.Since(start)
			b.StopTimer()
			if res.FirstErr != nil || res.Matched != n {
				b.Fatalf("%d of %d logins answered 200; first other answer: %v", res.Matched, n, res.FirstErr)
			}
		}
		yardTurn := func() {
			start := time.Now()
			verifyAll(b, hash, n)
			yard += time.Since(start)
		}
		if i%2 == 0 {
			yardTurn()
			hostTurn()
		} else {
			hostTurn()
			yardTurn()
		}
	}
	if b.N == 0 || yard == 0 || host == 0 {
		return
	}
	logins, verifications := float64(b.N)/host.Seconds(), float64(b.N)/yard.Seconds()
	b.ReportMetric(logins, "logins/s")
	b.ReportMetric(verifications, "verifications/s")
	b.ReportMetric(100*logins/verifications, "pct-of-yardstick")
}

// verifyAll verifies the password against hash n times in all, on one
// goroutine per CPU, as BenchmarkPasswordLogins's yardstick does.
func verifyAll(b *testing.B, hash string, n int64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for next.Add(1) <= n {
				if ok, err := password.Verify(hash, "pw-alice"); !ok || err != nil {
					b.Error("the yardstick's hash does not verify")
					return
				}
			}
		})
	}
	wg.Wait()
}
