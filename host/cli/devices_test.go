package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// TestMain serves fakeDevicePlugin when the supervisor starts this test
// binary as an external plugin (it then sets the go-plugin handshake
// variable, which a test run never has), and runs the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv(hostside.Handshake.MagicCookieKey) == hostside.Handshake.MagicCookieValue {
		sdk.Serve(&fakeDevicePlugin{}) // never returns
	}
	os.Exit(m.Run())
}

// fakeDevicePlugin stands in for the mobiledevice plugin in the tests of
// `portcullis devices`, answering its admin commands device_list and
// device_revoke from the devices its configuration lists. It appends each
// command it gets to the file its configuration names, so that a test
// sees what the command line sent.
type fakeDevicePlugin struct {
	cfg fakeDeviceConfig
}

type fakeDeviceConfig struct {
	Devices []deviceRecord `json:"devices"`
	Record  string         `json:"record"`
}

func (p *fakeDevicePlugin) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "fake-mobiledevice", Version: "test"}
}

func (p *fakeDevicePlugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	return req.DecodeConfig(&p.cfg)
}

func (p *fakeDevicePlugin) Admin(_ context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	f, err := os.OpenFile(p.cfg.Record, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "%s %s\n", req.Command, req.Args)
	f.Close()
	var args struct {
		UserID   string `json:"user_id"`
		DeviceID string `json:"device_id"`
	}
	if err := json.Unmarshal(req.Args, &args); err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrInvalidArgument, err)
	}
	switch req.Command {
	case deviceListCommand:
		out := struct {
			Devices []deviceRecord `json:"devices"`
		}{[]deviceRecord{}}
		for _, d := range p.cfg.Devices {
			if args.UserID == "" || d.UserID == args.UserID {
				out.Devices = append(out.Devices, d)
			}
		}
		resp.Result, _ = json.Marshal(out)
	case deviceRevokeCommand:
		for _, d := range p.cfg.Devices {
			if d.DeviceID == args.DeviceID {
				resp.Result, _ = json.Marshal(map[string]any{"revoked": d.Active, "user_id": d.UserID})
				return nil
			}
		}
		return fmt.Errorf("%w: no device %s", sdk.ErrNotFound, args.DeviceID)
	default:
		return sdk.ErrUnimplemented
	}
	return nil
}

// devicesFixture is a configuration whose backend "phones" is this test
// binary serving fakeDevicePlugin, over a database with alice and bob.
type devicesFixture struct {
	dir, record string
	alice, bob  string // user ids
}

var (
	checksumOnce sync.Once
	testBinary   string
	testChecksum string
	checksumErr  error
)

func newDevicesFixture(t *testing.T) *devicesFixture {
	t.Helper()
	checksumOnce.Do(func() {
		if testBinary, checksumErr = os.Executable(); checksumErr == nil {
			testChecksum, checksumErr = supervisor.Checksum(testBinary)
		}
	})
	if checksumErr != nil {
		t.Fatal(checksumErr)
	}
	f := &devicesFixture{dir: t.TempDir()}
	// The plugin records into a directory of its own: its sandbox lets it
	// write there, and not beside the database.
	records := filepath.Join(f.dir, "records")
	if err := os.Mkdir(records, 0o700); err != nil {
		t.Fatal(err)
	}
	f.record = filepath.Join(records, "commands.txt")
	s, err := storage.Open(t.Context(), storage.SQLite, filepath.Join(f.dir, "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, id := range map[string]*string{"alice": &f.alice, "bob": &f.bob} {
		u, err := s.CreateUser(t.Context(), name, "h")
		if err != nil {
			t.Fatal(err)
		}
		*id = u.ID
	}
	return f
}

// config writes a configuration whose device backend's plugin keeps
// devices, naming it in devices.backend when named is true, and returns
// its path.
func (f *devicesFixture) config(t *testing.T, named bool, devices []deviceRecord) string {
	t.Helper()
	cfg := map[string]any{
		"storage": map[string]any{"driver": "sqlite", "dsn": filepath.Join(f.dir, "portcullis.db")},
		"backends": []any{map[string]any{"name": "phones", "plugin": testBinary, "sha256": testChecksum,
			"config":  map[string]any{"devices": devices, "record": f.record},
			"sandbox": map[string]any{"write": []string{filepath.Dir(f.record)}}}},
		"authorization_requests": map[string]any{"backends": []string{"phones"}},
	}
	if named {
		cfg["devices"] = map[string]any{"backend": "phones"}
	}
	data, err := json.Marshal(cfg) // YAML reads JSON
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, fmt.Sprintf("portcullis-%v.yaml", named))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// commands returns the admin commands the plugin got, one a line.
func (f *devicesFixture) commands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(f.record)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestDevicesCommands: list and revoke ask the device backend's process,
// with the user resolved to its id, and say what it answered.
func TestDevicesCommands(t *testing.T) {
	f := newDevicesFixture(t)
	created := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	used := created.Add(48 * time.Hour)
	devices := []deviceRecord{
		{DeviceID: "phone-1", UserID: f.alice, Username: "alice", Name: "Alice's phone", Primary: true, Active: true, KeyType: "ed25519", CreatedAt: created, LastUsedAt: &used},
		{DeviceID: "tablet-1", UserID: f.alice, Username: "alice", Name: "old\ttablet", Active: false, KeyType: "token", CreatedAt: created, RevokedAt: &used},
		{DeviceID: "phone-2", UserID: f.bob, Username: "bob", Name: "Bob's phone", Primary: true, Active: true, KeyType: "token", CreatedAt: created},
	}
	cfg := f.config(t, true, devices)
	run := func(args ...string) (int, string, error) {
		return execute(t, append(args, "--config", cfg)...)
	}

	code, out, err := run("devices", "list")
	want := "DEVICE ID  USER   NAME           KEY      PRIMARY  STATE    CREATED               LAST USED\n" +
		"phone-1    alice  Alice's phone  ed25519  yes      active   2026-03-01 09:30:00Z  2026-03-03 09:30:00Z\n" +
		"tablet-1   alice  \"old\\ttablet\"  token    no       revoked  2026-03-01 09:30:00Z  -\n" +
		"phone-2    bob    Bob's phone    token    yes      active   2026-03-01 09:30:00Z  -\n" +
		"3 devices, 1 revoked.\n"
	if code != 0 || err != nil || out != want {
		t.Fatalf("devices list: status %d, %v:\n%s\nwant:\n%s", code, err, out, want)
	}

	code, out, err = run("devices", "list", "--user", "alice", "--json")
	var listed struct {
		Devices []deviceRecord `json:"devices"`
	}
	if code != 0 || err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Devices) != 2 ||
		listed.Devices[0].DeviceID != "phone-1" || !listed.Devices[0].LastUsedAt.Equal(used) || listed.Devices[1].RevokedAt == nil {
		t.Fatalf("devices list --user alice --json: status %d, %v:\n%s", code, err, out)
	}
	if !strings.Contains(out, `"devices": [`) || !strings.Contains(out, `"key_type": "ed25519"`) {
		t.Errorf("devices list --json is not the backend's shape:\n%s", out)
	}

	steps := []struct {
		args []string
		out  string
		err  string
	}{
		{args: []string{"revoke", "phone-2"}, out: "Device phone-2 (of user id " + f.bob + ") revoked; it can no longer see or decide authorization requests.\n"},
		{args: []string{"revoke", "tablet-1"}, out: "Device tablet-1 (of user id " + f.alice + ") was already revoked.\n"},
		{args: []string{"revoke", "nope"}, err: "no device nope (see portcullis devices list)"},
		{args: []string{"list", "--user", "carol"}, err: `no user "carol" (see portcullis users list)`},
		{args: []string{"list", "--backend", "nobody"}, err: `no backend named "nobody" in the configuration`},
	}
	for _, st := range steps {
		code, out, err := run(append([]string{"devices"}, st.args...)...)
		switch {
		case st.err == "" && (code != 0 || err != nil || out != st.out):
			t.Errorf("devices %s: status %d, %v, %q; want %q", strings.Join(st.args, " "), code, err, out, st.out)
		case st.err != "" && (code != 1 || err == nil || err.Error() != st.err || out != ""):
			t.Errorf("devices %s: status %d, %v, %q; want status 1 and the error %q", strings.Join(st.args, " "), code, err, out, st.err)
		}
	}

	wantCommands := []string{
		`device_list {}`,
		`device_list {"user_id":"` + f.alice + `"}`,
		`device_revoke {"device_id":"phone-2"}`,
		`device_revoke {"device_id":"tablet-1"}`,
		`device_revoke {"device_id":"nope"}`,
	}
	if got := f.commands(t); strings.Join(got, "\n") != strings.Join(wantCommands, "\n") {
		t.Errorf("the backend got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantCommands, "\n"))
	}

	// With no devices.backend, --backend names it, or nothing does.
	cfg = f.config(t, false, devices)
	code, out, err = run("devices", "list", "--user", "bob")
	if code != 1 || err == nil || !strings.Contains(err.Error(), "the configuration names no devices.backend; name the backend that keeps the devices with --backend") {
		t.Errorf("devices list with no backend: status %d, %v, %q", code, err, out)
	}
	code, out, err = run("devices", "list", "--user", "bob", "--backend", "phones")
	if code != 0 || err != nil || !strings.Contains(out, "phone-2 ") || strings.Contains(out, "alice") || !strings.HasSuffix(out, "1 device, 0 revoked.\n") {
		t.Errorf("devices list --backend phones --user bob: status %d, %v:\n%s", code, err, out)
	}
}
