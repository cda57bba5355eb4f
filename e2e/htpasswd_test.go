package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The guide's first example, as an operator runs it: built, registered by
// path and sha256, dave logs in; and a wrong sha256 keeps the host from
// starting, in config check and in serve, naming the plugin.
func TestHtpasswdExample(t *testing.T) {
	bin := builtOnDemand(t, "../examples/htpasswd")
	dir := t.TempDir()
	h, err := bcrypt.GenerateFromPassword([]byte("dave's password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// The file has a directory of its own, which the plugin's sandbox
	// lists, as plugin-guide.md has it.
	if err := os.Mkdir(filepath.Join(dir, "users"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "users", "htpasswd")
	line := "dave:$2y$" + strings.TrimPrefix(string(h), "$2a$") + "\n"
	if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", bin))[0]
	config := func(sum string) string {
		return writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: files
    plugin: %s
    sha256: %s
    config: {file: %s}
    sandbox: {read: [%s]}
`, bin, sum, file, filepath.Dir(file)))
	}

	cfg := config(sum)
	if out := mustRun(t, cfg, "", "config", "check"); !strings.Contains(out, "is valid") {
		t.Errorf("config check:\n%s", out)
	}
	if out := mustRun(t, cfg, "", "plugins", "list"); !strings.Contains(out, "external") || !strings.Contains(out, "ok") {
		t.Errorf("plugins list:\n%s", out)
	}
	host := startHost(t, cfg)
	if r := host.login("dave", "dave's password"); r.status != 200 || r.body["access_token"] == nil {
		t.Fatalf("dave's login: %d %s", r.status, r.raw)
	}
	if r := host.login("dave", "wrong"); r.status != 401 {
		t.Fatalf("a wrong password: %d %s", r.status, r.raw)
	}
	if r := host.login("nobody", "dave's password"); r.status != 401 {
		t.Fatalf("an unknown user: %d %s", r.status, r.raw)
	}
	// A new file renamed over the old one, as the guide says to change it,
	// is read: the sandbox lists its directory.
	erin, err := bcrypt.GenerateFromPassword([]byte("erin's password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(filepath.Dir(file), "new")
	if err := os.WriteFile(next, []byte(line+"erin:$2y$"+strings.TrimPrefix(string(erin), "$2a$")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, file); err != nil {
		t.Fatal(err)
	}
	if r := host.login("erin", "erin's password"); r.status != 200 {
		t.Fatalf("erin's login after the file was replaced: %d %s", r.status, r.raw)
	}
	host.kill(syscall.SIGTERM)

	bad := strings.Repeat("ab", 32)
	cfg = config(bad)
	out, err := run(t, cfg, "", "config", "check")
	if err == nil || !strings.Contains(out, `backend "files"`) || !strings.Contains(out, "checksum does not match") {
		t.Errorf("config check with a wrong sha256: %v\n%s", err, out)
	}
	refused, err := launch(t, cfg)
	if err == nil {
		t.Fatal("the host started with a wrong sha256")
	}
	<-refused.done
	if out := refused.output(); !strings.Contains(out, "files") || !strings.Contains(out, "checksum does not match") {
		t.Errorf("the host's refusal does not name the plugin:\n%s", out)
	}
}
