package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is a configuration with one first-party backend, one external
// backend and one external signal subscriber, each plugin a real file
// that only this user can change.
type fixture struct {
	dir, config          string
	backend, subscriber  string // the plugin files
	backendSum, subscSum string
}

// content is what the test plugin files hold: the checks made without
// starting a plugin do not run it.
const content = "a plugin file\n"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir}
	sum := sha256.Sum256([]byte(content))
	f.backend, f.backendSum = f.write(t, "portcullis-apikey"), hex.EncodeToString(sum[:])
	f.subscriber, f.subscSum = f.write(t, "portcullis-receiver"), f.backendSum
	return f
}

func (f *fixture) write(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(f.dir, "bin", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeConfig writes the configuration with the checksums given.
func (f *fixture) writeConfig(t *testing.T, backendSum, subscSum string) {
	t.Helper()
	f.config = filepath.Join(f.dir, "portcullis.yaml")
	yaml := fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
backends:
  - {name: local, plugin: password}
  - {name: apikey, plugin: %q, sha256: %s}
signals:
  subscribers:
    - {name: audit, plugin: %q, sha256: %s}
`, filepath.Join(f.dir, "portcullis.db"), f.backend, backendSum, f.subscriber, subscSum)
	if err := os.WriteFile(f.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs the command line in this process, as Main does, and returns
// what it wrote to standard output, its error and the exit status Main
// would return.
func run(t *testing.T, args ...string) (string, error, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRoot(strings.NewReader(""), &out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err, exitStatus(err)
}

var wrongSum = strings.Repeat("0", 64)

// The ways a configuration's external plugin files can be wrong, and what
// `config check` and `plugins list` must say about each.
var pluginFileCases = []struct {
	name  string
	setup func(t *testing.T, f *fixture)
	// problems are the lines of the error, each with its configuration
	// path; status is what plugins list shows for the backend's file.
	problems []string
	status   string
}{
	{
		name:   "all good",
		setup:  func(t *testing.T, f *fixture) { f.writeConfig(t, f.backendSum, f.subscSum) },
		status: "ok",
	},
	{
		name:     "wrong sha256",
		setup:    func(t *testing.T, f *fixture) { f.writeConfig(t, wrongSum, f.subscSum) },
		problems: []string{"backends[1].sha256: plugin checksum does not match: {backend} has sha256 {sum}, the configuration expects " + wrongSum},
		status:   "MISMATCH (file has {sum})",
	},
	{
		name: "missing file",
		setup: func(t *testing.T, f *fixture) {
			f.writeConfig(t, f.backendSum, f.subscSum)
			if err := os.Remove(f.backend); err != nil {
				t.Fatal(err)
			}
		},
		problems: []string{"backends[1].plugin: plugin {backend} does not exist: {backend}: file does not exist"},
		status:   "MISSING",
	},
	{
		name: "file writable by its group",
		setup: func(t *testing.T, f *fixture) {
			f.writeConfig(t, f.backendSum, f.subscSum)
			if err := os.Chmod(f.backend, 0o770); err != nil {
				t.Fatal(err)
			}
		},
		problems: []string{"backends[1].plugin: plugin is not protected from other users: {backend} is writable by its group (-rwxrwx---): a member of its group could replace the plugin after the host checked it; run: chmod g-w {backend}"},
		status:   "UNPROTECTED",
	},
	{
		name: "subscriber and backend both wrong, reported at once",
		setup: func(t *testing.T, f *fixture) {
			f.writeConfig(t, wrongSum, wrongSum)
		},
		problems: []string{
			"backends[1].sha256: plugin checksum does not match: {backend} has sha256 {sum}",
			"signals.subscribers[0].sha256: plugin checksum does not match: {subscriber} has sha256 {sum}",
		},
		status: "MISMATCH (file has {sum})",
	},
}

func (f *fixture) expand(s string) string {
	return strings.NewReplacer("{backend}", f.backend, "{subscriber}", f.subscriber, "{sum}", f.backendSum).Replace(s)
}

// TestConfigCheckChecksPluginFiles runs `portcullis config check` on a
// configuration whose external plugin files are right or wrong in each way:
// it must report each problem with its path and exit with status 2, as for
// any invalid configuration.
func TestConfigCheckChecksPluginFiles(t *testing.T) {
	for _, tc := range pluginFileCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(t, f)
			out, err, code := run(t, "config", "check", "--config", f.config)
			if len(tc.problems) == 0 {
				if err != nil || code != 0 || !strings.Contains(out, "is valid") {
					t.Fatalf("config check: %v (exit %d)\n%s", err, code, out)
				}
				return
			}
			if code != 2 {
				t.Fatalf("config check: exit status %d, want 2; error %v\n%s", code, err, out)
			}
			msg := err.Error()
			if want := fmt.Sprintf("%s: %d problem(s):", f.config, len(tc.problems)); !strings.HasPrefix(msg, want) {
				t.Errorf("error %q does not start with %q", msg, want)
			}
			for _, p := range tc.problems {
				if !strings.Contains(msg, "\n  "+f.expand(p)) {
					t.Errorf("error %q does not report %q", msg, f.expand(p))
				}
			}
			if strings.Contains(out, "is valid") {
				t.Errorf("config check says the configuration is valid:\n%s", out)
			}
		})
	}
}

// TestPluginsListExitStatus runs `portcullis plugins list` on the same
// configurations: it shows each file's state, and exits with status 2,
// listing the problems, unless every file is usable.
func TestPluginsListExitStatus(t *testing.T) {
	for _, tc := range pluginFileCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(t, f)
			out, err, code := run(t, "plugins", "list", "--config", f.config)
			row := tableRow(f.backend, f.expand(tc.status))
			if !strings.Contains(out, row) {
				t.Errorf("no row %q in:\n%s", row, out)
			}
			if !strings.Contains(out, "SUBSCRIBER") || !strings.Contains(out, f.subscriber) {
				t.Errorf("the subscriber's plugin is not listed:\n%s", out)
			}
			if len(tc.problems) == 0 {
				if err != nil || code != 0 {
					t.Fatalf("plugins list: %v (exit %d)\n%s", err, code, out)
				}
				return
			}
			if code != 2 {
				t.Fatalf("plugins list: exit status %d, want 2; error %v\n%s", code, err, out)
			}
			for _, p := range tc.problems {
				if !strings.Contains(err.Error(), "\n  "+f.expand(p)) {
					t.Errorf("error %q does not report %q", err, f.expand(p))
				}
			}
		})
	}
}

// tableRow is the end of the table row for a plugin file with a status.
func tableRow(plugin, status string) string {
	return plugin + "  external     " + status
}

// TestConfigCheckSandboxPaths: config check reports each path a plugin's
// sandbox lists that does not exist, where the host would refuse to start
// the plugin, and passes a configuration whose paths all exist.
func TestConfigCheckSandboxPaths(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.pem")
	write := func(sandbox string) string {
		path := filepath.Join(dir, "portcullis.yaml")
		cfg := "storage: {driver: sqlite, dsn: " + filepath.Join(dir, "p.db") + "}\nbackends:\n  - {name: local, plugin: password, sandbox: " + sandbox + "}\n"
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	cfg := write(fmt.Sprintf("{read: [/etc/hosts, %s], write: [%s]}", missing, dir))
	_, err, code := run(t, "config", "check", "--config", cfg)
	if code != 2 {
		t.Fatalf("config check with a missing sandbox path: exit status %d, want 2; error %v", code, err)
	}
	want := "\n  backends[0].sandbox.read[1]: stat " + missing + ": no such file or directory: the plugin would not start"
	if msg := err.Error(); !strings.Contains(msg, want) || strings.Count(msg, "sandbox.") != 1 {
		t.Errorf("config check said %q, want only %q", msg, want)
	}

	cfg = write(fmt.Sprintf("{read: [/etc/hosts], write: [%s]}", dir))
	if out, err, code := run(t, "config", "check", "--config", cfg); code != 0 || !strings.Contains(out, "is valid") {
		t.Errorf("config check with existing sandbox paths: exit status %d, error %v\n%s", code, err, out)
	}
}
