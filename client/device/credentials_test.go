package device_test

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/client/device"
)

func testCredentials(t *testing.T) (token, ed device.Credentials) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return device.Credentials{URL: "https://auth.example.com", DeviceID: "dev-1", Token: "tok_S3cr3t"},
		device.Credentials{URL: "https://auth.example.com/portcullis", DeviceID: "dev-2", PrivateKey: key}
}

// TestSaveLoad: what Save writes, Load reads back; the file is private
// to its owner, and nothing is left beside it.
func TestSaveLoad(t *testing.T) {
	tok, ed := testCredentials(t)
	for _, c := range []device.Credentials{tok, ed} {
		dir := t.TempDir()
		path := filepath.Join(dir, "device.json")
		if err := c.Save(path, false); err != nil {
			t.Fatalf("Save: %v", err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
			t.Errorf("the file's mode is %04o, want 0600", st.Mode().Perm())
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("the directory holds %d entries after Save; want the file alone", len(entries))
		}
		got, err := device.Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if got.URL != c.URL || got.DeviceID != c.DeviceID || got.Token != c.Token || !got.PrivateKey.Equal(c.PrivateKey) {
			t.Errorf("Load = %v; want %v", got, c)
		}
	}
}

// TestSaveRefusesToOverwrite: an existing file may hold another device's
// only copy of its secret; Save replaces it only when asked.
func TestSaveRefusesToOverwrite(t *testing.T) {
	tok, ed := testCredentials(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "device.json")
	if err := tok.Save(path, false); err != nil {
		t.Fatal(err)
	}
	err := ed.Save(path, false)
	if !errors.Is(err, device.ErrExists) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save over a file: %v; want ErrExists naming the file", err)
	}
	if got, err := device.Load(path); err != nil || got.DeviceID != tok.DeviceID {
		t.Fatalf("after a refused Save the file holds %v, %v; want the first device", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a refused Save left %d entries", len(entries))
	}
	if err := ed.Save(path, true); err != nil {
		t.Fatalf("Save with overwrite: %v", err)
	}
	if got, err := device.Load(path); err != nil || got.DeviceID != ed.DeviceID {
		t.Fatalf("after overwriting the file holds %v, %v; want the second device", got, err)
	}
	if st, _ := os.Stat(path); runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("the overwritten file's mode is %04o", st.Mode().Perm())
	}
}

// TestLoadRefusesOpenFiles: like ssh, Load refuses a file its group or
// others can read or write, and says how to fix it.
func TestLoadRefusesOpenFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	tok, _ := testCredentials(t)
	path := filepath.Join(t.TempDir(), "device.json")
	if err := tok.Save(path, false); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := device.Load(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) || strings.Contains(err.Error(), tok.Token) {
			t.Errorf("Load of a file with mode %04o: %v; want a refusal that says to chmod 600", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := device.Load(path); err != nil {
			t.Errorf("Load of a file with mode %04o: %v", mode, err)
		}
	}
}

// TestLoadRefusesBadFiles: a file that is not credentials is an error that
// names it and shows no secret from it.
func TestLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"not JSON", `url: x`, "is not a credentials file"},
		{"no secret", `{"url":"https://h","device_id":"d"}`, "neither a token nor a private key"},
		{"both secrets", `{"url":"https://h","device_id":"d","device_token":"tok_S3cr3t","private_key":"` + strings.Repeat("A", 43) + `"}`, "both a token and a private key"},
		{"short key", `{"url":"https://h","device_id":"d","private_key":"AAAA"}`, "32-byte Ed25519 seed"},
		{"no URL", `{"device_id":"d","device_token":"tok_S3cr3t"}`, "URL is required"},
		{"no id", `{"url":"https://h","device_token":"tok_S3cr3t"}`, "device id is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := device.Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load: %v; want an error naming the file and containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "S3cr3t") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
	if _, err := device.Load(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v; want os.ErrNotExist", err)
	}
}

// TestSaveRefusesUnusableCredentials: Save writes nothing that Load would
// refuse.
func TestSaveRefusesUnusableCredentials(t *testing.T) {
	tok, ed := testCredentials(t)
	both := tok
	both.PrivateKey = ed.PrivateKey
	path := filepath.Join(t.TempDir(), "device.json")
	for _, c := range []device.Credentials{{}, both, {URL: "ftp://x", DeviceID: "d", Token: "t"}} {
		if err := c.Save(path, false); err == nil {
			t.Errorf("Save(%v) worked", c)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Save made the file: %v", err)
	}
}
