package e2e

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
)

const kekEnv = "PORTCULLIS_KEY_ENCRYPTION_KEY"

// newKEK returns a fresh key-encryption key, as `openssl rand -base64 32`.
func newKEK() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// unseal opens a sealed signing key the way the host seals it (version
// byte 1, a 12-byte nonce, AES-256-GCM with the kid bound in).
func unseal(kek, kid string, sealed []byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(kek)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+aead.NonceSize() || sealed[0] != 1 {
		return nil, errors.New("not a sealed key of version 1")
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte("portcullis signing key "+kid))
}

// sqliteFiles reads a SQLite database's files: the main file and, when
// they exist, its -wal and -shm.
func sqliteFiles(t testing.TB, path string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) && p != path {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

var rotated = regexp.MustCompile(`Signing key (\S+) \(EdDSA\) made`)

// TestKeyRotationAndTheKeyEncryptionKey: after `keys rotate`, a token
// signed before still verifies (forward-auth, introspection, the Go
// client), on the running host and after a restart; the restarted host
// signs with the new key and publishes both. The private keys are stored
// only sealed under the key-encryption key: a host given another key
// refuses to start, saying why, and the database files hold no private
// key in clear. A change of tokens.algorithm makes a key of the new
// algorithm; the old keys' tokens still verify, and no token passes under
// a kid of another algorithm.
func TestKeyRotationAndTheKeyEncryptionKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kek := newKEK()
	env := []string{kekEnv + "=" + kek}
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	db := filepath.Join(dir, "portcullis.db")
	h := startHostEnv(t, cfg, env...)
	if _, err := os.Stat(filepath.Join(dir, "data", "key-encryption-key")); !os.IsNotExist(err) {
		t.Errorf("with %s set, the host made a key-encryption key file anyway (%v)", kekEnv, err)
	}
	addUser(t, cfg, env, "alice", "s3cret")
	appKey := createApp(t, cfg, env, "web")

	before := mustLogin(t, h, "alice", "s3cret")
	oldKid := kidOf(t, before.access)
	if out := mustRunEnv(t, cfg, env, "", "keys", "list"); !strings.Contains(out, oldKid) || !strings.Contains(out, "signing") || !strings.Contains(out, "1 key.") {
		t.Fatalf("keys list before the rotation:\n%s", out)
	}
	out := mustRunEnv(t, cfg, env, "", "keys", "rotate")
	m := rotated.FindStringSubmatch(out)
	if m == nil || m[1] == oldKid || !strings.Contains(out, "Key "+oldKid+" stopped signing") {
		t.Fatalf("keys rotate:\n%s", out)
	}
	newKid := m[1]
	list := mustRunEnv(t, cfg, env, "", "keys", "list")
	if !regexp.MustCompile(regexp.QuoteMeta(newKid)+`\s+EdDSA\s+signing`).MatchString(list) ||
		!regexp.MustCompile(regexp.QuoteMeta(oldKid)+`\s+EdDSA\s+verifying until`).MatchString(list) || !strings.Contains(list, "2 keys.") {
		t.Fatalf("keys list after the rotation:\n%s", list)
	}

	// The running host, which has not reloaded its keys yet.
	if r := forwardAuth(t, h, before.access); r.status != 200 {
		t.Errorf("forward-auth of a token signed before the rotation, same host: %d %s", r.status, r.raw)
	}
	if !active(t, h, appKey, before.access) {
		t.Error("introspection of a token signed before the rotation, same host: inactive")
	}

	// After a restart (rather than wait for the 30s reload, which
	// host/tokens' TestARunningHostSignsWithARotatedKey covers on a
	// moved clock).
	h.kill(syscall.SIGTERM)
	h = startHostEnv(t, cfg, env...)
	if r := forwardAuth(t, h, before.access); r.status != 200 {
		t.Errorf("forward-auth of a token signed before the rotation, after a restart: %d %s", r.status, r.raw)
	}
	if !active(t, h, appKey, before.access) {
		t.Error("introspection of a token signed before the rotation, after a restart: inactive")
	}
	after := mustLogin(t, h, "alice", "s3cret")
	refreshed := tokensOf(t, refresh(t, h, before.refresh))
	for name, tok := range map[string]string{"a new login's": after.access, "a refresh of an old session's": refreshed.access} {
		if kid := kidOf(t, tok); kid != newKid {
			t.Errorf("%s token is signed by %s, want the new key %s", name, kid, newKid)
		}
	}
	keys := jwks(t, h)
	if _, ok := keys[oldKid]; !ok || len(keys) != 2 {
		t.Errorf("JWKS after the rotation: %v; want %s and %s", keys, oldKid, newKid)
	}
	if _, ok := keys[newKid]; !ok {
		t.Errorf("JWKS after the rotation: %v; want %s and %s", keys, oldKid, newKid)
	}
	app := newApp(t, h, "portcullis")
	for name, tok := range map[string]string{"old": before.access, "new": after.access} {
		if r, ran := app.call(t, tok); r.status != 200 || !ran {
			t.Errorf("the Go middleware refused the %s key's token: %d %s", name, r.status, r.raw)
		}
		if r := forwardAuth(t, h, tok); r.status != 200 {
			t.Errorf("forward-auth of the %s key's token: %d %s", name, r.status, r.raw)
		}
	}
	running := sqliteFiles(t, db)
	h.kill(syscall.SIGTERM)

	// Another key-encryption key, or none (the host then makes a file of
	// its own): the host refuses to start, and says why, without a key.
	other := newKEK()
	for _, bad := range []struct {
		name string
		env  []string
	}{
		{"another key-encryption key", []string{kekEnv + "=" + other}},
		{"no key-encryption key", []string{kekEnv}}, // unset: the host makes a file of its own
	} {
		refused, err := launchEnv(t, cfg, bad.env...)
		if err == nil {
			t.Fatalf("the host started with %s", bad.name)
		}
		<-refused.done
		log := refused.output()
		if refused.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(log, "does not decrypt with this key-encryption key") ||
			!strings.Contains(log, kekEnv) {
			t.Errorf("with %s: exit %d, output:\n%s\nwant a refusal that names the key-encryption key", bad.name, refused.cmd.ProcessState.ExitCode(), log)
		}
		if strings.Contains(log, "portcullis is serving") {
			t.Errorf("with %s the host served", bad.name)
		}
		if bad.env[0] != kekEnv && !strings.Contains(log, "from $"+kekEnv) {
			t.Errorf("the refusal does not name $%s, where the key came from:\n%s", kekEnv, log)
		}
		if strings.Contains(log, kek) || strings.Contains(log, other) {
			t.Errorf("the refusal prints a key-encryption key:\n%s", log)
		}
	}
	// The stored keys: sealed, opened only by the right key.
	store := storagetest.Open(t, storage.SQLite, db)
	rows, err := store.SigningKeys(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d signing keys stored, want 2", len(rows))
	}
	stopped := sqliteFiles(t, db)
	for _, r := range rows {
		if _, err := x509.ParsePKCS8PrivateKey(r.Sealed); err == nil {
			t.Errorf("key %s is stored as a clear PKCS#8 private key", r.ID)
		}
		if _, err := unseal(newKEK(), r.ID, r.Sealed); err == nil {
			t.Errorf("key %s opens with a random key-encryption key", r.ID)
		}
		// The control: the right key opens it, and it is the published key.
		der, err := unseal(kek, r.ID, r.Sealed)
		if err != nil {
			t.Fatalf("key %s does not open with the host's key-encryption key: %v", r.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := x509.ParsePKIXPublicKey(r.Public)
		if !priv.(ed25519.PrivateKey).Public().(ed25519.PublicKey).Equal(pub) {
			t.Fatalf("key %s: the sealed private key is not the stored public key's", r.ID)
		}
		seed := priv.(ed25519.PrivateKey).Seed()
		for when, files := range map[string]map[string][]byte{"while the host ran": running, "after it stopped": stopped} {
			for name, content := range files {
				if bytes.Contains(content, der) || bytes.Contains(content, seed) {
					t.Errorf("%s %s holds the private key of %s in clear", when, name, r.ID)
				}
			}
		}
	}
	pkcs8Ed25519 := []byte{0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}
	for name, content := range stopped {
		if bytes.Contains(content, pkcs8Ed25519) {
			t.Errorf("%s holds a PKCS#8 Ed25519 private key header", name)
		}
	}

	// The failed starts changed nothing: the right key starts the host,
	// here with another algorithm, which makes a new key of it.
	writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\ntokens: {algorithm: ES256}\n")
	h = startHostEnv(t, cfg, env...)
	es := mustLogin(t, h, "alice", "s3cret")
	esHeader, _ := jwtSegments(t, es.access)
	esKid, _ := esHeader["kid"].(string)
	if esHeader["alg"] != "ES256" || esKid == newKid || esKid == oldKid {
		t.Fatalf("after changing tokens.algorithm to ES256 the host signs with %v", esHeader)
	}
	keys = jwks(t, h)
	if len(keys) != 3 || keys[esKid].Algorithm != "ES256" || keys[newKid].Algorithm != "EdDSA" {
		t.Errorf("JWKS after the change of algorithm: %v; want the two EdDSA keys and an ES256 one", keys)
	}
	app = newApp(t, h, "portcullis")
	for name, tok := range map[string]string{"first EdDSA": before.access, "second EdDSA": after.access, "ES256": es.access} {
		if r := forwardAuth(t, h, tok); r.status != 200 {
			t.Errorf("forward-auth of the %s key's token after the change of algorithm: %d %s", name, r.status, r.raw)
		}
		if r, ran := app.call(t, tok); r.status != 200 || !ran {
			t.Errorf("the Go middleware refused the %s key's token: %d %s", name, r.status, r.raw)
		}
	}
	// An EdDSA signature under the ES256 key's kid: the alg is not the key's.
	_, claims := jwtSegments(t, es.access)
	_, fresh, _ := ed25519.GenerateKey(rand.Reader)
	confused, err := accesstoken.Sign(claimsOf(t, claims), accesstoken.Key{ID: esKid, Algorithm: accesstoken.EdDSA}, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if r := forwardAuth(t, h, confused); r.status != 401 {
		t.Errorf("forward-auth of an EdDSA token under the ES256 key's kid: %d", r.status)
	}
	if got := app.verifyType(t, confused); got != accesstoken.ErrInvalidAlgorithm {
		t.Errorf("the client refused an EdDSA token under the ES256 key's kid as %q, want %q", got, accesstoken.ErrInvalidAlgorithm)
	}
}

// claimsOf turns decoded claims back into accesstoken.Claims.
func claimsOf(t testing.TB, m map[string]any) *accesstoken.Claims {
	t.Helper()
	raw, _ := json.Marshal(m)
	var c accesstoken.Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestTwoHostsOnPostgreSQLShareTokens: two hosts on one PostgreSQL schema
// (with one key-encryption key, as two machines would have) accept each
// other's tokens and sessions, see each other's revocations at once, and
// of two concurrent refreshes of one token, one on each host, let
// exactly one through.
func TestTwoHostsOnPostgreSQLShareTokens(t *testing.T) {
	t.Parallel()
	dsn := storagetest.PostgresDSN(t) // skips, saying why, without PostgreSQL
	env := []string{kekEnv + "=" + newKEK()}
	cfgA := writeConfig(t, t.TempDir(), fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", dsn))
	cfgB := writeConfig(t, t.TempDir(), fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", dsn))
	// Both start at once on the empty schema, as two replicas would: each
	// may make a first key.
	var a, b *host
	var errA, errB error
	var started sync.WaitGroup
	started.Add(2)
	go func() { defer started.Done(); a, errA = launchEnv(t, cfgA, env...) }()
	go func() { defer started.Done(); b, errB = launchEnv(t, cfgB, env...) }()
	started.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("starting two hosts at once: %v; %v", errA, errB)
	}
	addUser(t, cfgA, env, "alice", "s3cret")
	appKey := createApp(t, cfgB, env, "web")

	ta := mustLogin(t, a, "alice", "s3cret")
	if r := forwardAuth(t, b, ta.access); r.status != 200 || r.header.Get("X-Portcullis-User") != "alice" {
		t.Errorf("forward-auth on B of A's token: %d %v %s", r.status, r.header, r.raw)
	}
	if !active(t, b, appKey, ta.access) {
		t.Error("introspection on B of A's token: inactive")
	}
	if r, ran := newApp(t, b, "portcullis").call(t, ta.access); r.status != 200 || !ran {
		t.Errorf("the Go middleware pointed at B refused A's token: %d %s", r.status, r.raw)
	}
	if r := send(t, http.MethodPost, a.url+"/v1/token/revoke", fmt.Sprintf(`{"token":%q}`, ta.refresh), nil); r.status != 200 {
		t.Fatalf("revoke on A: %d %s", r.status, r.raw)
	}
	if active(t, b, appKey, ta.access) {
		t.Error("introspection on B of a token A revoked: active")
	}
	if r := refresh(t, b, ta.refresh); r.status != 401 {
		t.Errorf("refresh on B of a token A revoked: %d %s", r.status, r.raw)
	}

	// The other way, revoking by the access token.
	tb := mustLogin(t, b, "alice", "s3cret")
	if !active(t, a, appKey, tb.access) || forwardAuth(t, a, tb.access).status != 200 {
		t.Error("host A does not accept B's token")
	}
	if r := send(t, http.MethodPost, b.url+"/v1/token/revoke", fmt.Sprintf(`{"token":%q}`, tb.access), nil); r.status != 200 {
		t.Fatalf("revoke on B: %d %s", r.status, r.raw)
	}
	if active(t, a, appKey, tb.access) {
		t.Error("introspection on A of a token B revoked: active")
	}

	// A refresh token spent on A and replayed on B revokes the family on both.
	tc := mustLogin(t, a, "alice", "s3cret")
	tc2 := tokensOf(t, refresh(t, a, tc.refresh))
	if r := refresh(t, b, tc.refresh); r.status != 401 || !strings.Contains(r.raw, "already used") {
		t.Errorf("replaying on B a refresh token spent on A: %d %s", r.status, r.raw)
	}
	if r := refresh(t, a, tc2.refresh); r.status != 401 {
		t.Errorf("the newest refresh token on A after the replay on B: %d %s", r.status, r.raw)
	}
	if active(t, a, appKey, tc2.access) {
		t.Error("introspection on A after the replay on B: active")
	}

	// A cookie session started on A is B's too, and ends on both.
	r, cookie := sessionLogin(t, a, "alice", "s3cret")
	if r.status != 200 || cookie == nil {
		t.Fatalf("session login on A: %d %s", r.status, r.raw)
	}
	if r := sessionStatus(t, b, cookie); r.status != 200 {
		t.Errorf("GET /v1/session on B with A's cookie: %d %s", r.status, r.raw)
	}
	if r := endSession(t, b, cookie, http.Header{"X-CSRF-Token": {r.body["csrf_token"].(string)}}); r.status != 200 {
		t.Errorf("DELETE /v1/session on B: %d %s", r.status, r.raw)
	}
	if r := sessionStatus(t, a, cookie); r.status != 401 {
		t.Errorf("GET /v1/session on A after B ended it: %d %s", r.status, r.raw)
	}

	// Concurrent refreshes, one on each host.
	for round := range 6 {
		tok := mustLogin(t, a, "alice", "s3cret")
		statuses := refreshAtOnce(t, []*host{a, b}, tok.refresh)
		if !(statuses[0] == 200 && statuses[1] == 401) && !(statuses[0] == 401 && statuses[1] == 200) {
			t.Errorf("round %d: concurrent refreshes on A and B answered %v; want one 200 and one 401", round, statuses)
		}
	}
}

// TestKeysRotateRefusesAnotherKeyEncryptionKey: `keys rotate` run without
// the key-encryption key the keys are sealed under (here: the hosts have
// it in $PORTCULLIS_KEY_ENCRYPTION_KEY, the operator's shell does not, so
// the command makes a key file of its own) must refuse, and change
// nothing: a new signing key sealed under another key is one no host can
// open, and no host can start again.
func TestKeysRotateRefusesAnotherKeyEncryptionKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{kekEnv + "=" + newKEK()}
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHostEnv(t, cfg, env...)
	addUser(t, cfg, env, "alice", "s3cret")
	before := mustLogin(t, h, "alice", "s3cret")
	h.kill(syscall.SIGTERM)

	out, err := runEnv(t, cfg, []string{kekEnv}, "", "keys", "rotate")
	if err == nil {
		t.Errorf("keys rotate without the hosts' key-encryption key succeeded:\n%s", out)
	}
	if list := mustRunEnv(t, cfg, env, "", "keys", "list"); !strings.Contains(list, "1 key.") {
		t.Errorf("a refused rotation changed the keys:\n%s", list)
	}
	h, err = launchEnv(t, cfg, env...)
	if err != nil {
		t.Fatalf("the host no longer starts with its own key-encryption key after `keys rotate` ran without it: %v", err)
	}
	if r := forwardAuth(t, h, before.access); r.status != 200 {
		t.Errorf("forward-auth of a token from before: %d %s", r.status, r.raw)
	}
}
