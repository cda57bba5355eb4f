package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// liftedLoginLimits puts the login limits out of the way of a test that
// sends one address's bursts far beyond them: the lockout's guarantees are
// about what reaches the chain, and the limits would refuse part of such a
// burst before it does. TestCapacityLimitsHoldUnderAFlood tests the limits.
const liftedLoginLimits = "limits: {max_concurrent_logins_per_address: 1000, max_concurrent_logins: 1000, max_queued_logins: 1000, login_queue_wait: 30s}\n"

// The capacity under test. The legitimate login's budget is what the
// limits promise a login that finds room in the queue: a wait for a
// connection place (an idle connection is closed to make one after at most
// a second), the queue wait, then every backend's timeout, and a second
// for HTTP on a busy machine.
const (
	capMaxConnections = 64
	capPerAddress     = 2
	capRunning        = 2
	capQueued         = 8
	capQueueWait      = 2 * time.Second
	capBackendTimeout = 3 * time.Second
	capBudget         = time.Second + capQueueWait + 2*capBackendTimeout + time.Second
)

// floodTally counts a flood's answers by status and error code.
type floodTally struct {
	mu      sync.Mutex
	answers map[string]int // "429 too_many_concurrent_logins"
	// problems are answers that break the contract: a refusal without
	// Retry-After or late, a 5xx that is not a busy answer, a transport
	// error.
	problems []string
}

func newFloodTally() *floodTally { return &floodTally{answers: map[string]int{}} }

func (f *floodTally) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.problems) < 20 {
		f.problems = append(f.problems, fmt.Sprintf(format, args...))
	}
}

func (f *floodTally) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answers[key]
}

// capacityRefusal reports whether an answer is one of the limits' refusals.
func capacityRefusal(key string) bool {
	return key == "429 too_many_concurrent_logins" || key == "503 server_busy"
}

// chainFailure reports whether an answer is a failed login decided by the
// chain, which the lockout counts.
func chainFailure(key string) bool {
	return key == "401 invalid_credentials" || key == "429 locked_out"
}

// floodLogin sends one login for client address ip and tallies its answer.
func floodLogin(client *http.Client, url, username, password, ip string, tally *floodTally) {
	body := fmt.Sprintf(`{"username":%q,"password":%q,"client":{"ip":%q}}`, username, password, ip)
	start := time.Now()
	resp, err := client.Post(url+"/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		tally.problem("login from %s: %v", ip, err)
		return
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	var answer struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &answer)
	key := fmt.Sprintf("%d %s", resp.StatusCode, answer.Error)
	tally.mu.Lock()
	tally.answers[key]++
	tally.mu.Unlock()
	switch {
	case capacityRefusal(key):
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
			tally.problem("%s without a Retry-After in seconds (%q)", key, resp.Header.Get("Retry-After"))
		}
		// At once, or after the queue wait, never after a hash: within a
		// wait for a connection place (at most a second), the queue wait,
		// and a second for a busy machine.
		if took > capQueueWait+2*time.Second {
			tally.problem("%s after %v, longer than the queue wait of %v and two seconds", key, took, capQueueWait)
		}
	case resp.StatusCode >= 500:
		tally.problem("login from %s: %s: %s", ip, key, raw)
	case key != "200 " && !chainFailure(key):
		tally.problem("login from %s: unexpected %s: %s", ip, key, raw)
	}
}

// floodWorkers runs one worker per address in addrs until stop is closed.
// A worker sends its logins one after the other on its own kept-alive
// connection, each for a new username with a wrong password: password
// spraying, which a lockout by username and address does not stop, so
// that every login let through costs a hash.
func floodWorkers(url string, stop <-chan struct{}, tally *floodTally, addrs []string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, ip := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				floodLogin(client, url, fmt.Sprintf("spray-%s-%d-%d", ip, i, n), "guess", ip, tally)
			}
		}()
	}
	return &wg
}

// openFDs counts the file descriptors of process pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestCapacityLimitsHoldUnderAFlood is the acceptance test of the limits:
// they hold under a bounded local flood (idle connections, concurrent
// logins from one address, from a few addresses and from one IPv6 /64,
// then from more addresses than the queue has places), and a legitimate
// login from another address in the middle of it is answered 200 within
// its budget.
func TestCapacityLimitsHoldUnderAFlood(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
limits: {max_connections: %d, max_concurrent_logins_per_address: %d, max_concurrent_logins: %d, max_queued_logins: %d, login_queue_wait: %s}
backends:
  - name: lockout
    plugin: lockout
    timeout: %s
    config: {failure_limit: 5, cooloff: 30m, lockout_parameters: [[username, ip_address]], reset_on_success: true}
  - {name: local, plugin: password, timeout: %s}
`, capMaxConnections, capPerAddress, capRunning, capQueued, capQueueWait, capBackendTimeout, capBackendTimeout))
	h := startHost(t, cfg)
	pid := h.cmd.Process.Pid
	mustRun(t, cfg, "pw-alice\n", "users", "add", "alice", "--password-stdin")
	// Warm up: the plugins' connections and the database are open.
	if r := h.loginFrom("198.51.100.200", "alice", "pw-alice"); r.status != 200 {
		t.Fatalf("warm-up login: %d %s", r.status, r.raw)
	}
	baseline := openFDs(t, pid)

	// The host's file descriptors, sampled through the whole flood.
	var peakFDs atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(openFDs(t, pid)); n > peakFDs.Load() {
				peakFDs.Store(n)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	// 1. Connections: three times the limit, none of which sends a byte.
	// The host holds at most the limit; the rest wait in the backlog,
	// and the silent ones are closed to let new ones in.
	const silent = 3 * capMaxConnections
	for range silent {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatalf("dialling: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	// A new connection is served once the backlog ahead of it has been
	// let in (about a second for each limit's worth).
	start := time.Now()
	fresh := &http.Transport{}
	resp, err := (&http.Client{Transport: fresh, Timeout: 30 * time.Second}).Get(h.url + "/healthz")
	if err != nil {
		t.Fatalf("/healthz behind %d silent connections: %v", silent, err)
	}
	if r := readResponse(t, resp); r.status != 200 {
		t.Fatalf("/healthz behind %d silent connections: %d %s", silent, r.status, r.raw)
	}
	fresh.CloseIdleConnections()
	t.Logf("a request behind %d silent connections was answered after %v", silent, time.Since(start))

	// 2. Logins from one address, from two more, and from one IPv6 /64
	// (a different address of it for each worker), and in the middle a legitimate login from another address. They
	// hold at most 2 × 4 places of the queue's 10: room is left for the
	// legitimate login.
	flood := newFloodTally()
	var addrs []string
	for range 12 {
		addrs = append(addrs, "203.0.113.66")
	}
	for i := range 12 {
		addrs = append(addrs, fmt.Sprintf("203.0.113.%d", 67+i%2))
	}
	for i := range 8 {
		addrs = append(addrs, fmt.Sprintf("2001:db8:66:1::%x", i+1))
	}
	stop := make(chan struct{})
	workers := floodWorkers(h.url, stop, flood, addrs)
	time.Sleep(time.Second)

	legitClient := &http.Client{Timeout: 2 * capBudget}
	start = time.Now()
	resp, err = legitClient.Post(h.url+"/v1/login", "application/json",
		strings.NewReader(`{"username":"alice","password":"pw-alice","client":{"ip":"198.51.100.200"}}`))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the legitimate login in the flood: %v", err)
	}
	legit := readResponse(t, resp)
	time.Sleep(time.Second)
	close(stop)
	workers.Wait()
	if legit.status != 200 {
		t.Errorf("the legitimate login in the flood: %d %s, want 200", legit.status, legit.raw)
	}
	if took > capBudget {
		t.Errorf("the legitimate login in the flood was answered after %v, beyond its budget of %v", took, capBudget)
	}
	t.Logf("the legitimate login was answered %d after %v (budget %v); flood answers: %v", legit.status, took, capBudget, flood.answers)
	if flood.count("429 too_many_concurrent_logins") == 0 {
		t.Errorf("12 concurrent logins from one address with a limit of %d: none refused (answers %v)", capPerAddress, flood.answers)
	}

	// The IPv6 workers, each on its own address of one /64, are held to
	// the /64's two places like one address.
	v6 := newFloodTally()
	stop6 := make(chan struct{})
	var v6addrs []string
	for i := range 8 {
		v6addrs = append(v6addrs, fmt.Sprintf("2001:db8:77:1:%x::1", i+1))
	}
	workers6 := floodWorkers(h.url, stop6, v6, v6addrs)
	time.Sleep(time.Second)
	close(stop6)
	workers6.Wait()
	if v6.count("429 too_many_concurrent_logins") == 0 {
		t.Errorf("8 concurrent logins from 8 addresses of one IPv6 /64 with a limit of %d: none refused (answers %v)", capPerAddress, v6.answers)
	}

	// 3. More addresses at once than the queue has places: the excess is
	// answered 503 server_busy at once.
	burst := newFloodTally()
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			<-ready
			floodLogin(&http.Client{Transport: tr, Timeout: 30 * time.Second}, h.url, fmt.Sprintf("burst-%d", i), "guess", fmt.Sprintf("192.0.2.%d", 10+i), burst)
		}()
	}
	close(ready)
	wg.Wait()
	t.Logf("40 logins from 40 addresses at once: %v", burst.answers)
	if burst.count("503 server_busy") == 0 {
		t.Errorf("40 logins at once with %d running and %d queued: none answered 503 server_busy (answers %v)", capRunning, capQueued, burst.answers)
	}

	close(stopSampling)
	<-sampled
	// Bounded: the connections the host holds, and a margin for what it
	// opens meanwhile (database files, plugin streams).
	if peak, bound := int(peakFDs.Load()), baseline+capMaxConnections+16; peak > bound {
		t.Errorf("the host held %d file descriptors under %d silent connections and the floods, more than %d (%d before + the limit of %d + 16)",
			peak, silent, bound, baseline, capMaxConnections)
	}
	t.Logf("file descriptors: %d before, %d at the peak", baseline, peakFDs.Load())

	var refusals, counted int
	for _, tally := range []*floodTally{flood, v6, burst} {
		for _, p := range tally.problems {
			t.Error(p)
		}
		for key, n := range tally.answers {
			if capacityRefusal(key) {
				refusals += n
			}
			if chainFailure(key) {
				counted += n
			}
		}
	}
	// The lockout counted every failed login the chain decided, and none
	// of the refusals (which never reached it).
	if f := totalFailures(t, cfg); f != int64(counted) {
		t.Errorf("the lockout counted %d failures; the chain answered %d failed logins and the limits refused %d", f, counted, refusals)
	}
	// The host's count of refusals is the clients'.
	perAddress := flood.count("429 too_many_concurrent_logins") + v6.count("429 too_many_concurrent_logins") + burst.count("429 too_many_concurrent_logins")
	busy := flood.count("503 server_busy") + v6.count("503 server_busy") + burst.count("503 server_busy")
	gotPerAddress := h.metric(`portcullis_logins_refused_total{reason="per_address"}`)
	gotBusy := h.metric(`portcullis_logins_refused_total{reason="queue_full"}`) + h.metric(`portcullis_logins_refused_total{reason="queue_wait"}`)
	if int(gotPerAddress) != perAddress || int(gotBusy) != busy {
		t.Errorf("portcullis_logins_refused_total: %v per address and %v busy; the clients got %d and %d", gotPerAddress, gotBusy, perAddress, busy)
	}

	// After the flood, the legitimate user logs in as before.
	if r := h.loginFrom("198.51.100.200", "alice", "pw-alice"); r.status != 200 {
		t.Errorf("after the flood: %d %s", r.status, r.raw)
	}
}
