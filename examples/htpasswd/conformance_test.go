package main

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// hash is a bcrypt hash of password with the prefix htpasswd -B writes.
func hash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), 5)
	if err != nil {
		t.Fatal(err)
	}
	return "$2y$" + strings.TrimPrefix(string(h), "$2a$")
}

func shaHash(password string) string {
	sum := sha1.Sum([]byte(password))
	return "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
}

// writeFile replaces the file at path by a rename, as the backend's
// documentation asks.
func writeFile(t testing.TB, path string, lines ...string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func config(path string, allowSHA bool) json.RawMessage {
	raw, _ := json.Marshal(map[string]any{"file": path, "allow_sha": allowSHA})
	return raw
}

// users writes dave's and erin's htpasswd file and returns its path.
func users(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeFile(t, path, "# made by htpasswd -B", "dave:"+hash(t, "dave's password"), "", "erin:"+hash(t, "erin's password"))
	return path
}

func TestConformance(t *testing.T) {
	sdktest.AuthenticatorSuite{
		New:    func() sdk.Plugin { return &backend{} },
		Config: config(users(t), false),
		Valid: []sdktest.Credentials{
			{Username: "dave", Password: "dave's password"},
			{Username: "erin", Password: "erin's password"},
		},
		Invalid: []sdktest.Credentials{
			{Username: "dave", Password: "erin's password"},
			{Username: "nobody", Password: "dave's password"},
			{Username: "# made by htpasswd -B", Password: ""},
		},
	}.Run(t)
}

// Dave's hash costs less than the dummy the backend verifies for unknown
// users; he must not answer sooner than they do.
func TestUnknownUsersTakeAsLong(t *testing.T) {
	sdktest.TimingCheck{
		New:     func() sdk.Plugin { return &backend{} },
		Config:  config(users(t), false),
		Known:   sdktest.Credentials{Username: "dave", Password: "wrong"},
		Unknown: sdktest.Credentials{Username: "nobody", Password: "wrong"},
	}.Run(t)
}
