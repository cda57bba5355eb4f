package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
)

// The burst guarantee (SPEC §8, docs/lockout.md): under any burst of
// concurrent wrong passwords at most failure_limit attempts reach the
// backends after the lockout, on one host and on two hosts sharing
// PostgreSQL, and a burst of correct passwords is never refused or counted.

// burstConfig is [lockout (limit 5, the given groups), counter, password]:
// the counter is a test backend that counts every attempt reaching it, i.e.
// every attempt the lockout let through to the password backend. The host's
// login limits are its defaults: a burst of a hundred from one address is
// within them.
func burstConfig(t *testing.T, dir, storageLine, groups string) string {
	sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", scriptedBin))[0]
	return writeConfig(t, dir, fmt.Sprintf(`
%s
backends:
  - name: lockout
    plugin: lockout
    config: {failure_limit: 5, cooloff: 30m, lockout_parameters: %s}
  - {name: counter, plugin: %s, sha256: %s, config: {count: calls}}
  - {name: local, plugin: password}
`, storageLine, groups, scriptedBin, sum))
}

// attempt is one login of a burst.
type attempt struct {
	username, password string
}

// burstResult is what a burst got: statuses by whether the password was
// right.
type burstResult struct {
	right, wrong map[int]int
}

// loginBurst sends the attempts at once from one address, spread over hosts.
func loginBurst(t *testing.T, hosts []*host, ip string, attempts []attempt, rightPassword func(attempt) bool) burstResult {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	res := burstResult{right: map[int]int{}, wrong: map[int]int{}}
	start := make(chan struct{})
	for i, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := hosts[i%len(hosts)].loginFrom(ip, a.username, a.password)
			mu.Lock()
			defer mu.Unlock()
			if r.status != 200 && r.status != 401 && r.status != 429 {
				t.Logf("%s: %d %s", a.username, r.status, r.raw)
			}
			if rightPassword(a) {
				res.right[r.status]++
			} else {
				res.wrong[r.status]++
			}
		}()
	}
	close(start)
	wg.Wait()
	return res
}

// reachedBackend is how many attempts the counter backend saw.
func reachedBackend(t *testing.T, driver, dsn string) int64 {
	t.Helper()
	s := storagetest.Open(t, driver, dsn)
	n, err := s.KV("counter").Increment(context.Background(), "calls", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// totalFailures sums the FAILURES column of `portcullis lockout list`.
func totalFailures(t *testing.T, cfg string) int64 {
	t.Helper()
	out := mustRun(t, cfg, "", "lockout", "list")
	var total int64
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 6 {
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				t.Fatalf("lockout list: failures %q: %v\n%s", f[4], err, out)
			}
			total += n
		}
	}
	return total
}

// failuresOf is the FAILURES column of the row of ip and username in
// `portcullis lockout list`, 0 if there is none.
func failuresOf(t *testing.T, cfg, ip, username string) int64 {
	t.Helper()
	out := mustRun(t, cfg, "", "lockout", "list")
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 6 && f[1] == ip && f[2] == username {
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				t.Fatalf("lockout list: failures %q: %v\n%s", f[4], err, out)
			}
			return n
		}
	}
	return 0
}

// postgresDSN is a fresh PostgreSQL schema, or false (said in the log)
// when the tests have no PostgreSQL.
func postgresDSN(t *testing.T) (string, bool) {
	if os.Getenv(storagetest.PostgresEnv) == "" {
		t.Logf("the PostgreSQL half is skipped: %s is not set (see DEVELOPERS.md)", storagetest.PostgresEnv)
		return "", false
	}
	return storagetest.PostgresDSN(t), true
}

func repeat(a attempt, n int) []attempt {
	out := make([]attempt, n)
	for i := range out {
		out[i] = a
	}
	return out
}

// setup is one database with hosts on it, and its counter's location.
type setup struct {
	name   string
	driver string
	dsn    string
	cfg    string
	hosts  []*host
}

// setups starts the same configuration on one SQLite host and on two
// hosts sharing PostgreSQL (when it is available).
func setups(t *testing.T, groups string) []setup {
	t.Helper()
	dir := t.TempDir()
	out := []setup{{name: "sqlite-one-host", driver: storage.SQLite, dsn: dir + "/portcullis.db",
		cfg: burstConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}", groups)}}
	out[0].hosts = []*host{startHost(t, out[0].cfg)}
	if dsn, ok := postgresDSN(t); ok {
		cfg := burstConfig(t, t.TempDir(), fmt.Sprintf("storage: {driver: postgres, dsn: %q}", dsn), groups)
		out = append(out, setup{name: "postgres-two-hosts", driver: storage.Postgres, dsn: dsn, cfg: cfg,
			hosts: []*host{startHost(t, cfg), startHost(t, cfg)}})
	}
	return out
}

func TestBurstOfCorrectPasswordsIsNeverRefusedOrCounted(t *testing.T) {
	for _, s := range setups(t, "[[username, ip_address]]") {
		t.Run(s.name, func(t *testing.T) {
			mustRun(t, s.cfg, "pw-alice\n", "users", "add", "alice", "--password-stdin")
			for _, n := range []int{20, 100} {
				before := reachedBackend(t, s.driver, s.dsn)
				got := loginBurst(t, s.hosts, "203.0.113.10", repeat(attempt{"alice", "pw-alice"}, n), func(attempt) bool { return true })
				if got.right[200] != n {
					t.Fatalf("%d concurrent correct logins: statuses %v, want %d × 200", n, got.right, n)
				}
				if reached := reachedBackend(t, s.driver, s.dsn) - before; reached != int64(n) {
					t.Errorf("%d correct logins, %d reached the backends", n, reached)
				}
				if f := totalFailures(t, s.cfg); f != 0 {
					t.Fatalf("after %d correct logins %d failures are counted, want none:\n%s", n, f, mustRun(t, s.cfg, "", "lockout", "list"))
				}
			}
		})
	}
}

func TestBurstOfCorrectLoginsFromOneAddressLocksNobody(t *testing.T) {
	// An office behind one NAT address: 20 users log in correctly at once
	// under an [ip_address] group.
	for _, s := range setups(t, "[ip_address]") {
		t.Run(s.name, func(t *testing.T) {
			var attempts []attempt
			for i := range 20 {
				u := fmt.Sprintf("staff%02d", i)
				mustRun(t, s.cfg, "pw-"+u+"\n", "users", "add", u, "--password-stdin")
				attempts = append(attempts, attempt{u, "pw-" + u})
			}
			got := loginBurst(t, s.hosts, "198.51.100.20", attempts, func(attempt) bool { return true })
			if got.right[200] != 20 {
				t.Fatalf("20 users logging in correctly from one address: statuses %v, want 20 × 200", got.right)
			}
			if f := totalFailures(t, s.cfg); f != 0 {
				t.Fatalf("%d failures counted for the office's address, want none", f)
			}
			// The address is not locked for anyone afterwards.
			if r := s.hosts[0].loginFrom("198.51.100.20", "staff00", "pw-staff00"); r.status != 200 {
				t.Fatalf("after the burst: %d %s", r.status, r.raw)
			}
		})
	}
}

func TestBurstOfWrongPasswordsLetsExactlyTheLimitThrough(t *testing.T) {
	for _, s := range setups(t, "[[username, ip_address]]") {
		t.Run(s.name, func(t *testing.T) {
			mustRun(t, s.cfg, "pw-victim\n", "users", "add", "victim", "--password-stdin")
			for i, n := range []int{20, 100} {
				ip := fmt.Sprintf("203.0.113.%d", 50+i)
				before := reachedBackend(t, s.driver, s.dsn)
				var attempts []attempt
				for j := range n {
					attempts = append(attempts, attempt{"victim", "guess-" + strconv.Itoa(j)})
				}
				got := loginBurst(t, s.hosts, ip, attempts, func(attempt) bool { return false })
				reached := reachedBackend(t, s.driver, s.dsn) - before
				if reached != 5 || got.wrong[401] != 5 || got.wrong[429] != n-5 {
					t.Fatalf("%d concurrent wrong attempts, limit 5: %d reached the backends, statuses %v; want 5 reached, 5 × 401 and %d × 429", n, reached, got.wrong, n-5)
				}
				// Every attempt was counted: 5 wrong passwords and the
				// refusals while locked.
				if f := failuresOf(t, s.cfg, ip, "victim"); f != int64(n) {
					t.Fatalf("the counter after %d attempts: %d, want exactly %d", n, f, n)
				}
			}
		})
	}
}

func TestMixedBurstLetsEveryCorrectLoginInUntilTheLock(t *testing.T) {
	for _, s := range setups(t, "[[username, ip_address]]") {
		t.Run(s.name, func(t *testing.T) {
			mustRun(t, s.cfg, "pw-mixed\n", "users", "add", "mixed", "--password-stdin")
			before := reachedBackend(t, s.driver, s.dsn)
			var attempts []attempt
			for i := range 100 {
				pw := "pw-mixed"
				if i%2 == 1 {
					pw = "guess-" + strconv.Itoa(i)
				}
				attempts = append(attempts, attempt{"mixed", pw})
			}
			got := loginBurst(t, s.hosts, "203.0.113.70", attempts, func(a attempt) bool { return a.password == "pw-mixed" })
			reached := reachedBackend(t, s.driver, s.dsn) - before
			// Exactly 5 wrong passwords reach the backends; every other
			// wrong one is refused. A correct one is let in (200), or
			// refused only once the 5 failures are counted (429), never
			// answered 503 or 401.
			if got.wrong[401] != 5 || got.wrong[429] != 45 {
				t.Fatalf("wrong attempts of a mixed burst: %v, want 5 × 401 and 45 × 429", got.wrong)
			}
			if got.right[200]+got.right[429] != 50 {
				t.Fatalf("correct attempts of a mixed burst: %v, want only 200 and 429", got.right)
			}
			if reached != int64(5+got.right[200]) {
				t.Fatalf("%d attempts reached the backends, want the 5 wrong ones and the %d let in", reached, got.right[200])
			}
			t.Logf("correct logins: %v", got.right)
		})
	}
}

func TestLockoutPluginRestartMidBurstLosesNothing(t *testing.T) {
	// The lockout plugin only declares its rule; the host counts. Killing
	// the plugin process in the middle of a burst changes neither the
	// counts nor the bound, and logins go on being decided meanwhile.
	dir := t.TempDir()
	cfg := burstConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}", "[[username, ip_address]]")
	h := startHost(t, cfg)
	mustRun(t, cfg, "pw-victim\n", "users", "add", "victim", "--password-stdin")
	var attempts []attempt
	for j := range 60 {
		attempts = append(attempts, attempt{"victim", "guess-" + strconv.Itoa(j)})
	}
	done := make(chan burstResult, 1)
	go func() {
		done <- loginBurst(t, []*host{h}, "203.0.113.80", attempts, func(attempt) bool { return false })
	}()
	if err := syscall.Kill(pluginPID(t, h.cmd.Process.Pid, "lockout"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := <-done
	reached := reachedBackend(t, storage.SQLite, dir+"/portcullis.db")
	if reached != 5 || got.wrong[401] != 5 || got.wrong[429] != 55 {
		t.Fatalf("60 wrong attempts with the lockout plugin killed mid-burst: %d reached the backends, statuses %v; want 5, 5 × 401, 55 × 429", reached, got.wrong)
	}
	if f := lockoutFailures(t, cfg, "victim"); f != 60 {
		t.Fatalf("%d failures counted, want 60", f)
	}
	waitFor(t, "the lockout plugin to be back", 30*time.Second, func() bool { return h.get("/readyz").status == 200 })
	if r := h.loginFrom("203.0.113.80", "victim", "pw-victim"); r.status != 429 {
		t.Fatalf("after the restart: %d %s, want still locked", r.status, r.raw)
	}
}
