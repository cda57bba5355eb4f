package e2e

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// TestRehashReport: `users rehash-report` counts the stored hashes by kind
// and names the users whose hash is to be replaced, printing no hash; a
// legacy user's login replaces the hash, and the report shows it.
func TestRehashReport(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfigAt(t, dir, "info", "storage: {driver: sqlite, dsn: ./portcullis.db}\nbackends:\n  - {name: local, plugin: password}\n")
	store, err := storage.Open(context.Background(), storage.SQLite, filepath.Join(dir, "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("bob-pw"), 5)
	key, _ := pbkdf2.Key(sha256.New, "dj-pw", []byte("seasalt0123"), 20000, 32)
	legacy := map[string]string{
		"bob":    string(bc),
		"dj":     "pbkdf2_sha256$20000$seasalt0123$" + base64.StdEncoding.EncodeToString(key),
		"nohash": "",
	}
	for name, hash := range legacy {
		if _, err := store.CreateUser(context.Background(), name, hash); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	mustRun(t, cfg, "alice-pw\n", "users", "add", "alice", "--password-stdin")

	out := mustRun(t, cfg, "", "users", "rehash-report")
	for _, want := range []string{
		"FORMAT                COST             USERS  STATE\n",
		"argon2id              m=19456,t=2,p=1  1      current\n",
		"bcrypt                5                1      replaced at next login\n",
		"django_pbkdf2_sha256  20000            1      replaced at next login\n",
		"none                  -                1      cannot log in\n",
		"  bcrypt 5: bob\n",
		"  django_pbkdf2_sha256 20000: dj\n",
		"  none: nohash\n",
		"Every login takes as long as verifying ",
		"4 user(s): 2 hash(es) to replace, 1 without a usable hash.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	for _, hash := range legacy {
		if hash != "" && strings.Contains(out, hash[len(hash)-20:]) {
			t.Errorf("the report prints a hash:\n%s", out)
		}
	}

	h := startHost(t, cfg)
	if r := h.login("bob", "bob-pw"); r.status != 200 {
		t.Fatalf("login as bob: %d %s", r.status, r.raw)
	}
	out = mustRun(t, cfg, "", "users", "rehash-report")
	if !strings.Contains(out, "argon2id              m=19456,t=2,p=1  2      current\n") || strings.Contains(out, "bcrypt") {
		t.Errorf("after bob's login, his hash is not reported current:\n%s", out)
	}
	if out, err := run(t, cfg, "", "users", "rehash-report", "--backend", "nope"); err == nil || !strings.Contains(out, `no backend named "nope"`) {
		t.Errorf("rehash-report of an unknown backend: %v\n%s", err, out)
	}
}
