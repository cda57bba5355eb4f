package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/storage"
)

// appsFixture is a configuration on a fresh SQLite database.
type appsFixture struct {
	dir, config, db string
}

func newAppsFixture(t *testing.T) *appsFixture {
	t.Helper()
	dir := t.TempDir()
	f := &appsFixture{dir: dir, config: filepath.Join(dir, "portcullis.yaml"), db: filepath.Join(dir, "portcullis.db")}
	if err := os.WriteFile(f.config, fmt.Appendf(nil, "storage: {driver: sqlite, dsn: %q}\n", f.db), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// run runs a command on the fixture's configuration and returns its exit
// status, standard output and standard error.
func (f *appsFixture) run(t *testing.T, args ...string) (int, string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := NewRoot(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs(append(args, "--config", f.config))
	err := root.ExecuteContext(t.Context())
	return exitStatus(err), stdout.String(), stderr.String(), err
}

// create runs apps create and returns the key from its last line.
func (f *appsFixture) create(t *testing.T, name string) string {
	t.Helper()
	code, out, _, err := f.run(t, "apps", "create", name)
	if err != nil || code != 0 {
		t.Fatalf("apps create %s: %d %v", name, code, err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("apps create printed %q; want one line saying what it did, then the key", out)
	}
	want := regexp.MustCompile(`^App key "` + regexp.QuoteMeta(name) + `" created \(id [0-9a-f-]{36}\)\. It is shown only this once, on the next line; the host keeps only its hash\.$`)
	if !want.MatchString(lines[0]) {
		t.Errorf("apps create's first line = %q", lines[0])
	}
	key := lines[1]
	if !appkeys.WellFormed(appkeys.Prefix, key) {
		t.Fatalf("apps create's last line %q is not an app key alone", key)
	}
	return key
}

func (f *appsFixture) open(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), storage.SQLite, f.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestAppsCommands: create, list and revoke say what they did; the key
// made works until it is revoked; an unknown name is an error.
func TestAppsCommands(t *testing.T) {
	f := newAppsFixture(t)
	key := f.create(t, "billing")
	f.create(t, "shop")

	checker := appkeys.NewChecker(f.open(t), appkeys.Options{CacheTTL: -1})
	if app, err := checker.Check(t.Context(), key); err != nil || app.Name != "billing" {
		t.Fatalf("the created key: %+v, %v; want it to be billing's live key", app, err)
	}

	code, out, _, err := f.run(t, "apps", "list")
	if err != nil || code != 0 {
		t.Fatalf("apps list: %d %v", code, err)
	}
	row := regexp.MustCompile(`(?m)^billing +[0-9a-f-]{36} +active +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +-$`)
	if !strings.HasPrefix(out, "NAME ") || !row.MatchString(out) || !strings.Contains(out, "\nshop ") ||
		!strings.HasSuffix(out, "\n2 app key(s), 0 revoked.\n") {
		t.Fatalf("apps list:\n%s", out)
	}

	for _, want := range []string{"App key \"billing\" revoked.\n", "App key \"billing\" was already revoked.\n"} {
		code, out, _, err := f.run(t, "apps", "revoke", "billing")
		if err != nil || code != 0 || out != want {
			t.Fatalf("apps revoke billing: %d %q %v; want %q", code, out, err, want)
		}
	}
	if _, err := checker.Check(t.Context(), key); err != appkeys.ErrInvalidKey {
		t.Fatalf("the revoked key: %v, want ErrInvalidKey", err)
	}
	_, out, _, _ = f.run(t, "apps", "list")
	row = regexp.MustCompile(`(?m)^billing +[0-9a-f-]{36} +revoked +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
	if !row.MatchString(out) || !strings.HasSuffix(out, "\n2 app key(s), 1 revoked.\n") {
		t.Fatalf("apps list after the revoke:\n%s", out)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"apps", "revoke", "nobody"}, `no app key "nobody" (see portcullis apps list)`},
		{[]string{"apps", "revoke", "\x1b[31mred"}, `no app key "\x1b[31mred" (see portcullis apps list)`},
		{[]string{"apps", "create", "billing"}, `app key "billing" already exists (a name is not reused, even after its key is revoked): conflict`},
		{[]string{"apps", "create", "bill ing"}, `app key name "bill ing" holds U+0020: a name is made of the letters A-Z and a-z, the digits 0-9, '.', '_' and '-': invalid argument`},
		{[]string{"apps", "create", "a/b"}, `app key name "a/b" holds '/': a name is made of the letters A-Z and a-z, the digits 0-9, '.', '_' and '-': invalid argument`},
		{[]string{"apps", "create", strings.Repeat("x", 65)}, `app key name is longer than 64 characters: invalid argument`},
		{[]string{"apps", "create"}, `accepts 1 arg(s), received 0`},
		{[]string{"apps", "list", "extra"}, `unknown command "extra" for "portcullis apps list"`},
	} {
		code, out, _, err := f.run(t, tt.args...)
		if code != 1 || err == nil || err.Error() != tt.want || out != "" {
			t.Errorf("%q: status %d, stdout %q, error %v\nwant status 1 and the error %s", tt.args, code, out, err, tt.want)
		}
	}
	if _, out, _, _ := f.run(t, "apps", "list"); !strings.HasSuffix(out, "\n2 app key(s), 1 revoked.\n") {
		t.Fatalf("refused commands changed the keys:\n%s", out)
	}
}

// TestAppKeyIsNotKept: the key appears once, on apps create's last line;
// not in apps list, not on standard error, and not in the database's
// files, which hold its hash.
func TestAppKeyIsNotKept(t *testing.T) {
	f := newAppsFixture(t)
	var stderr strings.Builder
	_, _, errOut, err := f.run(t, "apps", "create", "first") // the database exists before the planted key
	if err != nil {
		t.Fatal(err)
	}
	stderr.WriteString(errOut)
	key := f.create(t, "planted")
	for _, args := range [][]string{{"apps", "list"}, {"apps", "revoke", "planted"}, {"apps", "list"}} {
		_, out, errOut, err := f.run(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		stderr.WriteString(errOut)
		if strings.Contains(out, key) || strings.Contains(out, key[len(appkeys.Prefix):]) {
			t.Errorf("%q printed the key:\n%s", args, out)
		}
	}
	if strings.Contains(stderr.String(), key[len(appkeys.Prefix):]) {
		t.Errorf("the key is on standard error:\n%s", stderr.String())
	}

	// Every file of the database: the main file, and any -wal or -shm.
	files, err := filepath.Glob(f.db + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files: %v", err)
	}
	var all []byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if bytes.Contains(all, []byte(key[len(appkeys.Prefix):])) {
		t.Fatalf("the key is in the database files %v", files)
	}
	if !bytes.Contains(all, []byte(appkeys.Hash(key))) {
		t.Fatalf("the key's hash is not in the database files %v: the search would not find the key either", files)
	}
}
