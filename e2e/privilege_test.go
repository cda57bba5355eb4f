package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/plugins/password"
	"github.com/portcullis-auth/portcullis/testkit/reach"
	"github.com/portcullis-auth/portcullis/testkit/testplugin"
)

// Least privilege against a hostile backend: testplugin.Hostile, a real
// plugin process in a real host's chain, tries what a security review did —
// read and replace alice's password hash, forge the signal that once
// cleared a lockout, write forged lockout resets into the audit file, reach
// another instance's storage — and records what it got.

const (
	alicePassword    = "alice-correct-horse"
	bobPassword      = "bob-battery-staple"
	attackerPassword = "mallory-knows-this-one"
	// bobIP is where bob is locked out from.
	bobIP = "203.0.113.66"
	// trigger is the username whose login makes the hostile plugins attack.
	trigger = "attack"
)

// hostilePlugin returns the path of the hostile plugin and its checksum.
func hostilePlugin(t *testing.T) (bin, sum string) {
	t.Helper()
	bin = builtOnDemand(t, "../testkit/testplugin/cmd/portcullis-hostile")
	sum = strings.Fields(mustRun(t, writeConfig(t, t.TempDir(), ""), "", "plugins", "checksum", bin))[0]
	return bin, sum
}

// hostileEntry is one hostile backend in a chain.
type hostileEntry struct {
	name, victim, victimIP, neighbour string
	grants                            []string
}

// rig is a host whose chain is the built-in chain's lockout, hostile
// backends, and the password backend, with an audit file of every signal
// (async, so that what the command line queues reaches it too); alice and
// bob are users.
type rig struct {
	h       *host
	dir     string
	cfg     string
	audit   string
	records map[string]string // backend name → the file its attempts go to
}

func startRig(t *testing.T, hostiles ...hostileEntry) *rig {
	t.Helper()
	return startRigWith(t, "", hostiles...)
}

// startRigWith is startRig with a plugins section (plugins) added to the
// configuration.
func startRigWith(t *testing.T, plugins string, hostiles ...hostileEntry) *rig {
	t.Helper()
	bin, sum := hostilePlugin(t)
	r := &rig{dir: t.TempDir(), records: map[string]string{}}
	r.audit = filepath.Join(r.dir, "audit.jsonl")
	// The host's files the hostile backends go after: the configuration,
	// and the database with its write-ahead log, where a new user's hash
	// is until SQLite copies it into the database.
	hostFiles := []string{filepath.Join(r.dir, "portcullis.yaml"), filepath.Join(r.dir, "portcullis.db"), filepath.Join(r.dir, "portcullis.db-wal")}
	var entries strings.Builder
	for _, e := range hostiles {
		// Each records its attempts in a file its sandbox lets it write,
		// and nothing else of the host's directory.
		r.records[e.name] = emptyFile(t, filepath.Join(r.dir, e.name+".jsonl"))
		grants, _ := json.Marshal(append([]string{}, e.grants...))
		cfg, _ := json.Marshal(testplugin.HostileConfig{
			Record: r.records[e.name], Trigger: trigger, Victim: e.victim, VictimIP: e.victimIP,
			AttackerPassword: attackerPassword, Neighbour: e.neighbour, HostFiles: hostFiles, PidMax: reach.PidMax(),
		})
		fmt.Fprintf(&entries, "  - {name: %s, plugin: %s, sha256: %s, grants: %s, sandbox: {write: [%q]}, config: %s}\n",
			e.name, bin, sum, grants, r.records[e.name], cfg)
	}
	r.cfg = writeConfig(t, r.dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
%s
backends:
  # The built-in chain's lockout (config.Default).
  - name: lockout
    plugin: lockout
    config: {failure_limit: 5, cooloff: 30m, lockout_parameters: [[username, ip_address]], reset_on_success: true}
%s  - {name: local, plugin: password}
signals:
  subscribers:
    - {audit_file: %q, signals: ["*"], mode: async}
`+fastDelivery, plugins, entries.String(), r.audit))
	if r.cfg != hostFiles[0] {
		t.Fatalf("the configuration is at %s, the hostile backends go after %s", r.cfg, hostFiles[0])
	}
	r.h = startHost(t, r.cfg)
	mustRun(t, r.cfg, alicePassword+"\n", "users", "add", "alice", "--password-stdin")
	mustRun(t, r.cfg, bobPassword+"\n", "users", "add", "bob", "--password-stdin")
	return r
}

// attack has every hostile backend attack, and returns what each recorded,
// by backend and attack.
func (r *rig) attack(t *testing.T) map[string]map[string]testplugin.HostileAttempt {
	t.Helper()
	if resp := r.h.login(trigger, "x"); resp.status != 401 {
		t.Fatalf("the login that triggers the attacks: %d %s, want 401 (every backend abstains)", resp.status, resp.raw)
	}
	all := map[string]map[string]testplugin.HostileAttempt{}
	for name, path := range r.records {
		got, err := testplugin.ReadHostileAttempts(path)
		if err != nil {
			t.Fatalf("the attempts of %s: %v", name, err)
		}
		if len(got[name]) == 0 {
			t.Fatalf("%s recorded no attempts", name)
		}
		all[name] = got[name]
	}
	return all
}

// storedHash reads username's password hash from the host's database.
func (r *rig) storedHash(t *testing.T, username string) string {
	t.Helper()
	store, err := storage.Open(context.Background(), storage.SQLite, filepath.Join(r.dir, "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

// auditLines reads the audit file.
func (r *rig) auditLines(t *testing.T) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(r.audit)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Fields(string(raw)) { // a line is compact JSON
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %s: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// recorded returns one recorded attempt, failing the test if it is missing.
func recorded(t *testing.T, got map[string]testplugin.HostileAttempt, backend, attack string) testplugin.HostileAttempt {
	t.Helper()
	a, ok := got[attack]
	if !ok {
		t.Fatalf("%s did not record the attack %s", backend, attack)
	}
	return a
}

// wantDenied fails unless the attempt was refused with permission denied.
func wantDenied(t *testing.T, got map[string]testplugin.HostileAttempt, backend, attack string) {
	t.Helper()
	if a := recorded(t, got, backend, attack); !a.Denied {
		t.Errorf("%s: %s was not refused with permission denied: %+v", backend, attack, a)
	}
}

// TestPrivilegeHostileBackend runs two hostile backends without grants in
// one host: "hostile" goes after alice's password, "neighbour" after bob's
// lockout; each tries to reach the other's storage.
func TestPrivilegeHostileBackend(t *testing.T) {
	r := startRig(t,
		hostileEntry{name: "hostile", victim: "alice", victimIP: "198.51.100.1", neighbour: "neighbour"},
		hostileEntry{name: "neighbour", victim: "bob", victimIP: bobIP, neighbour: "hostile"},
	)
	// Lock bob out from bobIP: the built-in lockout allows 5 failures.
	for i := 1; i <= 5; i++ {
		if resp := r.h.loginFrom(bobIP, "bob", "wrong"); resp.status != 401 {
			t.Fatalf("bob's wrong password #%d: %d %s", i, resp.status, resp.raw)
		}
	}
	if resp := r.h.loginFrom(bobIP, "bob", bobPassword); resp.status != 429 {
		t.Fatalf("bob after 5 failures: %d %s, want 429", resp.status, resp.raw)
	}
	bobFailures := lockoutFailures(t, r.cfg, "bob")
	aliceHash := r.storedHash(t, "alice")

	got := r.attack(t)

	// (a) alice's password hash: the hostile backend, an Authenticator
	// without grants, may look alice up but gets no hash, and cannot
	// replace it.
	t.Run("PasswordHash", func(t *testing.T) {
		look := recorded(t, got["hostile"], "hostile", testplugin.AttackLookup)
		if !look.Succeeded() || look.Value != "" {
			t.Errorf("looking alice up without password_hashes:read: %+v, want her without a hash", look)
		}
		wantDenied(t, got["hostile"], "hostile", testplugin.AttackSetHash)
		if h := r.storedHash(t, "alice"); h != aliceHash {
			t.Errorf("alice's hash changed from %s to %s", aliceHash, h)
		}
		if resp := r.h.login("alice", attackerPassword); resp.status != 401 {
			t.Errorf("alice with the attacker's password: %d %s, want 401", resp.status, resp.raw)
		}
		if resp := r.h.login("alice", alicePassword); resp.status != 200 {
			t.Errorf("alice with her password: %d %s, want 200", resp.status, resp.raw)
		}
	})

	// Each instance's storage is its own: both wrote "shared", and each
	// reads back its own; the other's keys cannot be named.
	t.Run("Storage", func(t *testing.T) {
		for name, other := range map[string]string{"hostile": "neighbour", "neighbour": "hostile"} {
			if a := recorded(t, got[name], name, testplugin.AttackStorageShared); a.Value != name {
				t.Errorf("%s reads shared = %q (%s), want its own %q", name, a.Value, a.Error, name)
			}
			if a := recorded(t, got[name], name, testplugin.AttackStorageList); a.Value != "own."+name+",shared" {
				t.Errorf("%s lists %q (%s), want only its own keys", name, a.Value, a.Error)
			}
			probes := 0
			for attack, a := range got[name] {
				if !strings.HasPrefix(attack, testplugin.AttackStorageNeighbour) {
					continue
				}
				probes++
				if a.Succeeded() || a.Value != "" {
					t.Errorf("%s reached %s's storage with %s: %+v", name, other, attack, a)
				}
			}
			if probes == 0 {
				t.Errorf("%s tried no key of %s's", name, other)
			}
		}
	})

	// (b) The forged user_logged_in for bob, from where he is locked out,
	// is refused, and bob stays locked.
	t.Run("ForgedLoginKeepsTheLock", func(t *testing.T) {
		for _, name := range testplugin.HostileForged {
			wantDenied(t, got["neighbour"], "neighbour", testplugin.AttackEmit+name)
		}
		if resp := r.h.loginFrom(bobIP, "bob", bobPassword); resp.status != 429 {
			t.Errorf("bob with his password after the forged login: %d %s, want 429", resp.status, resp.raw)
		}
		if n := lockoutFailures(t, r.cfg, "bob"); n < bobFailures {
			t.Errorf("bob's failures went from %d to %d", bobFailures, n)
		}
		// Only the lock stops him: from elsewhere his password works.
		if resp := r.h.loginFrom("203.0.113.67", "bob", bobPassword); resp.status != 200 {
			t.Errorf("bob with his password from another address: %d %s, want 200", resp.status, resp.raw)
		}
	})

	// (c) No forged signal — lockout_reset above all — reaches the audit
	// file, which does get the host's lockout_reset when an operator resets
	// bob's lock; the one signal a plugin may send arrives as its own.
	t.Run("AuditFile", func(t *testing.T) {
		for _, name := range testplugin.HostileForged {
			wantDenied(t, got["hostile"], "hostile", testplugin.AttackEmit+name)
		}
		probes := map[string]string{} // signal id → backend
		for name := range r.records {
			a := recorded(t, got[name], name, testplugin.AttackEmit+testplugin.HostileProbe)
			if !a.Succeeded() || a.Value == "" {
				t.Fatalf("%s could not send the signal it declares: %+v", name, a)
			}
			probes[a.Value] = name
		}
		if out := mustRun(t, r.cfg, "", "lockout", "reset", "--username", "bob"); !strings.Contains(out, "removed") {
			t.Fatalf("lockout reset said: %s", out)
		}
		// Delivery keeps queue order: once the reset, queued last, is in
		// the file, so is everything queued before it.
		var lines []map[string]any
		waitFor(t, "the operator's lockout_reset in the audit file", 15*time.Second, func() bool {
			lines = r.auditLines(t)
			for _, l := range lines {
				if l["name"] == "lockout_reset" && l["origin"] == "host" && l["sender"] == "lockout" {
					return true
				}
			}
			return false
		})
		raw, _ := os.ReadFile(r.audit)
		if strings.Contains(string(raw), testplugin.ForgedMarker) {
			t.Errorf("a forged signal reached the audit file:\n%s", raw)
		}
		for _, l := range lines {
			if l["origin"] != "host" && l["origin"] != "plugin" {
				t.Errorf("an audit line with origin %v: %v", l["origin"], l)
			}
			if l["name"] == "lockout_reset" && (l["origin"] != "host" || l["sender"] != "lockout") {
				t.Errorf("a lockout_reset that is not the host's: %v", l)
			}
			if l["origin"] == "plugin" {
				id := fmt.Sprint(l["id"])
				if sender, ok := probes[id]; !ok || l["name"] != testplugin.HostileProbe || l["sender"] != sender {
					t.Errorf("a plugin's signal that is not a probe, or under another sender: %v", l)
				}
				delete(probes, id)
			}
		}
		if len(probes) > 0 {
			t.Errorf("the probes %v are missing from the audit file:\n%s", probes, raw)
		}
	})
}

// (d) The host's files, past the host: the hostile backend runs as the
// host's user, but in the sandbox (plugins.sandbox defaults to auto). It
// can neither read the database, where alice's hash is, nor open it or
// the configuration for writing, nor reach them through the host's open
// files, nor signal the host's threads or take its descriptors. TestPrivilegeSandboxOffIsTheControl shows that each of these
// succeeds without the sandbox.
func TestPrivilegeHostFiles(t *testing.T) {
	requireSandbox(t)
	r := startRig(t, hostileEntry{name: "hostile", victim: "alice", neighbour: "none"})
	got := r.attack(t)["hostile"]
	attacks := hostFileAttacks(r)
	for _, attack := range attacks {
		a := recorded(t, got, "hostile", attack)
		if !strings.Contains(a.Error, "permission denied") || a.Value != "" {
			t.Errorf("%s in the sandbox: %+v, want permission denied and nothing read", attack, a)
		}
	}
	// Nor through the host's process: none of its threads shares the
	// plugin's confinement.
	for _, attack := range []string{testplugin.AttackHostThreads, testplugin.AttackHostFileThroughThread} {
		if a := recorded(t, got, "hostile", attack); !strings.Contains(a.Error, "operation not permitted") {
			t.Errorf("%s in the sandbox: %+v, want operation not permitted", attack, a)
		}
	}
	if resp := r.h.login("alice", alicePassword); resp.status != 200 {
		t.Errorf("alice with her password: %d %s, want 200", resp.status, resp.raw)
	}
}

// TestPrivilegeSandboxOffIsTheControl: the same backend with
// plugins.sandbox off reads alice's hash from the database file and
// through the host's open files, and may open both files for writing.
func TestPrivilegeSandboxOffIsTheControl(t *testing.T) {
	r := startRigWith(t, "plugins: {sandbox: off}", hostileEntry{name: "hostile", victim: "alice", neighbour: "none"})
	aliceHash := r.storedHash(t, "alice")
	got := r.attack(t)["hostile"]
	for _, attack := range hostFileAttacks(r) {
		if a := recorded(t, got, "hostile", attack); !a.Succeeded() {
			t.Errorf("%s without the sandbox: %+v, want success", attack, a)
		}
	}
	// Alice's hash is in the database or still in its log.
	db := recorded(t, got, "hostile", testplugin.AttackReadFile+filepath.Join(r.dir, "portcullis.db"))
	wal := recorded(t, got, "hostile", testplugin.AttackReadFile+filepath.Join(r.dir, "portcullis.db-wal"))
	if db.Value != aliceHash && wal.Value != aliceHash {
		t.Errorf("without the sandbox the database gave %q and its log %q, want alice's hash %s", db.Value, wal.Value, aliceHash)
	}
	if a := recorded(t, got, "hostile", testplugin.AttackHostFDs); a.Value != aliceHash {
		t.Errorf("without the sandbox the host's open files gave %q, want alice's hash %s", a.Value, aliceHash)
	}
	for _, attack := range []string{testplugin.AttackHostThreads, testplugin.AttackHostFileThroughThread} {
		if a := recorded(t, got, "hostile", attack); !a.Succeeded() {
			t.Errorf("%s without the sandbox: %+v, want success", attack, a)
		}
	}
}

// requireSandbox skips a test of the plugin sandbox where the system
// cannot make one.
func requireSandbox(t *testing.T) {
	t.Helper()
	if !supervisor.SandboxSupported() {
		t.Skip("this system cannot confine plugins: it has no Landlock (Linux 5.13 or later with landlock in lsm=)")
	}
}

// hostFileAttacks are the attacks on the rig's files.
func hostFileAttacks(r *rig) []string {
	var out []string
	for _, f := range []string{r.cfg, filepath.Join(r.dir, "portcullis.db"), filepath.Join(r.dir, "portcullis.db-wal")} {
		out = append(out, testplugin.AttackReadFile+f, testplugin.AttackWriteFile+f)
	}
	return append(out, testplugin.AttackHostFDs)
}

// TestPrivilegeReadGrant: the same plugin, granted password_hashes:read,
// reads alice's real hash — the grant is what changed — and still cannot
// replace it, though it now names the right old hash.
func TestPrivilegeReadGrant(t *testing.T) {
	r := startRig(t, hostileEntry{name: "hostile", victim: "alice", neighbour: "none", grants: []string{"password_hashes:read"}})
	aliceHash := r.storedHash(t, "alice")
	got := r.attack(t)["hostile"]

	look := recorded(t, got, "hostile", testplugin.AttackLookup)
	if !look.Succeeded() || look.Value != aliceHash {
		t.Fatalf("looking alice up with password_hashes:read: %+v, want her hash %s", look, aliceHash)
	}
	if ok, err := password.Verify(look.Value, alicePassword); err != nil || !ok {
		t.Errorf("the hash read does not verify alice's password: %v, %v", ok, err)
	}
	wantDenied(t, got, "hostile", testplugin.AttackSetHash)
	if h := r.storedHash(t, "alice"); h != aliceHash {
		t.Errorf("alice's hash changed from %s to %s", aliceHash, h)
	}
	if resp := r.h.login("alice", attackerPassword); resp.status != 401 {
		t.Errorf("alice with the attacker's password: %d %s, want 401", resp.status, resp.raw)
	}
	if resp := r.h.login("alice", alicePassword); resp.status != 200 {
		t.Errorf("alice with her password: %d %s, want 200", resp.status, resp.raw)
	}
}

// TestPrivilegeWriteGrantIsTheControl: granted both, the attack goes
// through and the attacker logs in as alice — so the refusals above are
// the grants at work, not an attack that could never succeed.
func TestPrivilegeWriteGrantIsTheControl(t *testing.T) {
	r := startRig(t, hostileEntry{name: "hostile", victim: "alice", neighbour: "none",
		grants: []string{"password_hashes:read", "password_hashes:write"}})
	got := r.attack(t)["hostile"]
	if a := recorded(t, got, "hostile", testplugin.AttackSetHash); !a.Succeeded() {
		t.Fatalf("replacing alice's hash with both grants: %+v", a)
	}
	if resp := r.h.login("alice", attackerPassword); resp.status != 200 {
		t.Errorf("alice with the attacker's password after a granted swap: %d %s, want 200", resp.status, resp.raw)
	}
	// Host signals stay the host's whatever the grants.
	for _, name := range testplugin.HostileForged {
		wantDenied(t, got, "hostile", testplugin.AttackEmit+name)
	}
}
