package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/client/device"
	"github.com/portcullis-auth/portcullis/client/device/devicetest"
)

// deviceFixture is a fake host with alice and bob, an app key in
// $PORTCULLIS_APP_KEY, and a credentials file path that does not exist
// yet.
type deviceFixture struct {
	h      *devicetest.Host
	appKey string
	file   string
}

func newDeviceFixture(t *testing.T) *deviceFixture {
	h := devicetest.NewHost(t)
	h.AddUser("alice")
	h.AddUser("bob")
	f := &deviceFixture{h: h, appKey: h.AddAppKey(), file: filepath.Join(t.TempDir(), "phone.json")}
	t.Setenv(appKeyEnv, f.appKey)
	t.Setenv(deviceFileEnv, "")
	return f
}

// register registers a device of alice into f.file.
func (f *deviceFixture) register(t *testing.T, extra ...string) string {
	t.Helper()
	code, out, err := execute(t, append([]string{"device", "register", "--url", f.h.URL, "--user", "alice", "--name", "Alice's phone", "--file", f.file}, extra...)...)
	if code != 0 || err != nil {
		t.Fatalf("device register: status %d, %v", code, err)
	}
	return out
}

func (f *deviceFixture) credentials(t *testing.T) device.Credentials {
	t.Helper()
	c, err := device.Load(f.file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDeviceRegister: register saves private credentials, says where, and
// never prints the secret; an existing file is kept unless --force, and
// is checked before the host is asked.
func TestDeviceRegister(t *testing.T) {
	f := newDeviceFixture(t)
	out := f.register(t)
	c := f.credentials(t)
	want := "Device " + c.DeviceID + ` registered for user "alice" (its primary device, with a token).` + "\n" +
		"Its credentials are in " + f.file + ", readable by you alone; keep them secret.\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if c.Token == "" || strings.Contains(out, c.Token) {
		t.Errorf("the token is missing from the file or printed")
	}
	if st, _ := os.Stat(f.file); st.Mode().Perm() != 0o600 {
		t.Errorf("the credentials file has mode %04o", st.Mode().Perm())
	}
	if hd, _ := f.h.Device(c.DeviceID); !hd.Primary || hd.Name != "Alice's phone" {
		t.Errorf("the host has %+v", hd)
	}

	code, out, err := execute(t, "device", "register", "--url", f.h.URL, "--user", "alice", "--name", "other", "--file", f.file)
	if code != 1 || err == nil || !strings.Contains(err.Error(), f.file+" exists") || !strings.Contains(err.Error(), "--force") || out != "" {
		t.Errorf("registering over an existing file: status %d, %v, %q", code, err, out)
	}
	if f.h.Devices() != 1 {
		t.Errorf("the refused registration reached the host: %d devices", f.h.Devices())
	}
	if f.credentials(t).DeviceID != c.DeviceID {
		t.Errorf("the refused registration changed the file")
	}

	out = f.register(t, "--force", "--ed25519", "--no-primary", "--device-id", "phone-2")
	e := f.credentials(t)
	if e.DeviceID != "phone-2" || e.PrivateKey == nil || e.Token != "" {
		t.Fatalf("after --force --ed25519 the file holds %v", e)
	}
	if !strings.HasPrefix(out, `Device phone-2 registered for user "alice" (not its primary device, with an Ed25519 key).`) {
		t.Errorf("stdout: %s", out)
	}
	if hd, _ := f.h.Device("phone-2"); hd.Primary || hd.PublicKey == nil || !hd.PublicKey.Equal(e.PrivateKey.Public()) {
		t.Errorf("the host has %+v", hd)
	}
}

// TestDeviceRegisterCredentials: exactly one of an app key or an access
// token authenticates the registration; the flags are checked before the
// host is asked, and the host's refusals are said plainly.
func TestDeviceRegisterCredentials(t *testing.T) {
	f := newDeviceFixture(t)
	token := f.h.AddAccessToken("alice")
	base := []string{"device", "register", "--url", f.h.URL, "--name", "phone", "--file", f.file}
	tests := []struct {
		name  string
		env   string // $PORTCULLIS_APP_KEY
		args  []string
		want  string
		asked bool // whether the host was asked
	}{
		{"both", "", []string{"--user", "alice", "--app-key", f.appKey, "--token", token}, "either --app-key or --token, not both", false},
		{"neither", "", []string{"--user", "alice"}, "an app key (--app-key, or $PORTCULLIS_APP_KEY) or the user's access token (--token)", false},
		{"app key without user", f.appKey, nil, "--user is required with an app key", false},
		{"app key in --token", "", []string{"--token", f.appKey}, "this is an app key: pass it with --app-key", false},
		{"token in --app-key", "", []string{"--user", "alice", "--app-key", token}, "is not an app key", false},
		{"unknown app key", "pck_unknown", []string{"--user", "alice"}, "the host refused the app key or access token (invalid_client:", true},
		{"another user's token", "", []string{"--user", "bob", "--token", token}, "the host refused the registration: 403 Forbidden (forbidden:", true},
		{"no directory", f.appKey, []string{"--user", "alice", "--file", filepath.Join(f.file, "x.json")}, "is not a directory", false},
		{"no URL", f.appKey, []string{"--user", "alice", "--url", ""}, "the host's URL is required", false},
		{"not a URL", f.appKey, []string{"--user", "alice", "--url", "auth.example.com"}, "not an http or https URL", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(appKeyEnv, tt.env)
			before := len(f.h.Refusals())
			code, out, err := execute(t, append(append([]string(nil), base...), tt.args...)...)
			if code != 1 || err == nil || !strings.Contains(err.Error(), tt.want) || out != "" {
				t.Fatalf("status %d, %v, stdout %q; want status 1 and an error containing %q", code, err, out, tt.want)
			}
			if asked := len(f.h.Refusals()) > before || strings.Contains(err.Error(), "403"); asked != tt.asked {
				t.Errorf("the host was asked: %v, want %v", asked, tt.asked)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), f.appKey) {
				t.Errorf("the error shows a credential: %v", err)
			}
			if _, err := os.Stat(f.file); !os.IsNotExist(err) {
				t.Errorf("a failed registration made the file")
			}
		})
	}

	// An access token given outright wins over an app key in the
	// environment, and needs no --user.
	t.Setenv(appKeyEnv, f.appKey)
	code, out, err := execute(t, append(append([]string(nil), base...), "--token", token)...)
	if code != 0 || err != nil || !strings.Contains(out, "registered for the access token's user") {
		t.Fatalf("register with --token: status %d, %v, %q", code, err, out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the access token is printed")
	}
}

// TestDevicePendingAndDecide: the device lists its user's waiting
// requests and decides them, with either kind of credentials; refusals
// are clear errors with status 1.
func TestDevicePendingAndDecide(t *testing.T) {
	for _, kind := range []string{"token", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			f := newDeviceFixture(t)
			if kind == "ed25519" {
				f.register(t, "--ed25519")
			} else {
				f.register(t)
			}
			// The file from the environment, with no --file.
			t.Setenv(deviceFileEnv, f.file)
			run := func(args ...string) (int, string, error) {
				return execute(t, append([]string{"device"}, args...)...)
			}

			if code, out, err := run("pending"); code != 0 || err != nil || out != "No waiting authorization requests.\n" {
				t.Fatalf("pending with none: status %d, %v, %q", code, err, out)
			}
			login := f.h.AddRequest(devicetest.Request{Username: "alice", Slug: "2FA", Title: "Log in from Paris"})
			pay := f.h.AddRequest(devicetest.Request{Username: "alice", Slug: "payment", Title: "Pay \x1b[31m10 EUR"})
			bobs := f.h.AddRequest(devicetest.Request{Username: "bob", Slug: "2FA", Title: "Bob's"})

			code, out, err := run("pending")
			if code != 0 || err != nil {
				t.Fatalf("pending: status %d, %v", code, err)
			}
			if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 4 ||
				!strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "SLUG") || !strings.Contains(lines[0], "EXPIRES") ||
				!strings.HasPrefix(lines[1], login.ID+"  2FA") || !strings.Contains(lines[1], "alice") || !strings.Contains(lines[1], "Log in from Paris") ||
				!strings.Contains(lines[1], login.ExpiresAt.Format("2006-01-02T15:04:05Z")) ||
				!strings.HasPrefix(lines[2], pay.ID) || lines[3] != "2 waiting authorization requests." {
				t.Errorf("pending:\n%s", out)
			}
			if strings.Contains(out, "\x1b") || !strings.Contains(out, `"Pay \x1b[31m10 EUR"`) {
				t.Errorf("pending prints a title's escape sequence raw:\n%q", out)
			}

			code, out, err = run("pending", "--json", "--wait", "1")
			var listed struct {
				Requests []device.Request `json:"authorization_requests"`
			}
			if code != 0 || err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Requests) != 2 ||
				listed.Requests[0].ID != login.ID || listed.Requests[0].User.Username != "alice" || listed.Requests[1].Title != pay.Title {
				t.Errorf("pending --json: status %d, %v:\n%s", code, err, out)
			}

			steps := []struct {
				args []string
				out  string // stdout when it works
				err  string // the error when it fails
			}{
				{args: []string{"approve", login.ID}, out: "Authorization request " + login.ID + " approved.\n"},
				{args: []string{"deny", pay.ID}, out: "Authorization request " + pay.ID + " denied.\n"},
				{args: []string{"approve", login.ID}, err: "authorization request " + login.ID + " is granted, not waiting: nothing changed"},
				{args: []string{"deny", pay.ID}, err: "authorization request " + pay.ID + " is denied, not waiting: nothing changed"},
				{args: []string{"approve", bobs.ID}, err: "authorization request " + bobs.ID + " is another user's: nothing changed (forbidden: "},
				{args: []string{"deny", "ar-nope"}, err: "the host has no authorization request ar-nope (not_found: "},
				{args: []string{"approve"}, err: "accepts 1 arg(s), received 0"},
				{args: []string{"pending", "--wait", "61"}, err: "--wait is a number of seconds from 0 to 60"},
			}
			for _, st := range steps {
				code, out, err := run(st.args...)
				switch {
				case st.err == "" && (code != 0 || err != nil || out != st.out):
					t.Errorf("device %s: status %d, %v, %q; want %q", strings.Join(st.args, " "), code, err, out, st.out)
				case st.err != "" && (code != 1 || err == nil || !strings.Contains(err.Error(), st.err) || out != ""):
					t.Errorf("device %s: status %d, %v, %q; want status 1 and an error containing %q", strings.Join(st.args, " "), code, err, out, st.err)
				}
			}
			if r, _ := f.h.Request(login.ID); r.State != "granted" {
				t.Errorf("the host has the approved request as %s", r.State)
			}
			if r, _ := f.h.Request(bobs.ID); r.State != "waiting" {
				t.Errorf("bob's request is %s", r.State)
			}
			if code, out, err := run("pending"); code != 0 || err != nil || out != "No waiting authorization requests.\n" {
				t.Errorf("pending after deciding: status %d, %v, %q", code, err, out)
			}

			f.h.RevokeDevice(f.credentials(t).DeviceID)
			code, _, err = run("pending")
			if code != 1 || err == nil || !strings.Contains(err.Error(), "the host does not accept the device of "+f.file) ||
				!strings.Contains(err.Error(), "(invalid_device: ") {
				t.Errorf("pending as a revoked device: status %d, %v", code, err)
			}
		})
	}
}

// TestDeviceCredentialsFile: the commands refuse a credentials file others
// can read and say how to fix it, and say how to make one when there is
// none.
func TestDeviceCredentialsFile(t *testing.T) {
	f := newDeviceFixture(t)
	f.register(t)
	if err := os.Chmod(f.file, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, err := execute(t, "device", "pending", "--file", f.file)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "chmod 600 "+f.file) {
		t.Errorf("pending with a file others can read: status %d, %v", code, err)
	}
	if strings.Contains(err.Error(), f.credentials0600(t).Token) {
		t.Errorf("the error shows the token: %v", err)
	}

	t.Chdir(t.TempDir())
	code, _, err = execute(t, "device", "approve", "ar-1")
	if code != 1 || err == nil || !strings.Contains(err.Error(), "no device credentials at portcullis-device.json: register the device first") {
		t.Errorf("approve with no file: status %d, %v", code, err)
	}
	// The default file, in the working directory.
	code, out, err := execute(t, "device", "register", "--url", f.h.URL, "--user", "alice", "--name", "laptop")
	if code != 0 || err != nil || !strings.Contains(out, "Its credentials are in portcullis-device.json,") {
		t.Fatalf("register with no --file: status %d, %v, %q", code, err, out)
	}
	if st, err := os.Stat("portcullis-device.json"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("register did not write ./portcullis-device.json with mode 0600: %v", err)
	}
	if code, out, err := execute(t, "device", "pending"); code != 0 || err != nil || out != "No waiting authorization requests.\n" {
		t.Errorf("pending with the default file: status %d, %v, %q", code, err, out)
	}
}

// credentials0600 reads f.file after making it private again.
func (f *deviceFixture) credentials0600(t *testing.T) device.Credentials {
	t.Helper()
	if err := os.Chmod(f.file, 0o600); err != nil {
		t.Fatal(err)
	}
	return f.credentials(t)
}
