package passwords

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTable(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileRefusesWhatItShouldNotTrust(t *testing.T) {
	dir := t.TempDir()
	good := bcryptHash(t, "pw", 4)
	costly := "$2a$15$" + strings.Repeat("a", 53) // cost 15: refused before any work
	for _, tc := range []struct{ name, content, want string }{
		{"empty", "", "is empty"},
		{"no colon", "dave\n", "not username:hash"},
		{"twice", "dave:" + good + "\ndave:" + good + "\n", "listed twice"},
		{"not bcrypt", "dave:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n", "not a bcrypt hash"},
		{"too costly", "dave:" + costly + "\n", "at most 14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			writeTable(t, path, tc.content)
			err := NewFile(path, VerifyBcrypt, nil, nil).Load(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v; want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), costly) {
				t.Fatalf("the error shows a hash: %v", err)
			}
		})
	}
}

func TestFileChecksAndReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	writeTable(t, path, "# comment\n\ndave:"+bcryptHash(t, "dave's", 4)+"\n")
	f := NewFile(path, VerifyBcrypt, nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		user, pw string
		want     bool
	}{{"dave", "dave's", true}, {"dave", "wrong", false}, {"erin", "erin's", false}, {"# comment", "", false}} {
		if ok, err := f.Check(ctx, tc.user, tc.pw); ok != tc.want || err != nil {
			t.Errorf("Check(%q, %q) = %v, %v; want %v", tc.user, tc.pw, ok, err, tc.want)
		}
	}
	writeTable(t, path, "erin:"+bcryptHash(t, "erin's", 4)+"\n")
	if ok, err := f.Check(ctx, "erin", "erin's"); !ok || err != nil {
		t.Errorf("erin once added: %v, %v", ok, err)
	}
	if ok, err := f.Check(ctx, "dave", "dave's"); ok || err != nil {
		t.Errorf("dave once removed: %v, %v", ok, err)
	}
	// A check that cannot have the file before its deadline gives up.
	f.lock <- struct{}{}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Check(cctx, "erin", "erin's"); err == nil {
		t.Error("a check waiting on a reload ignored its context")
	}
	<-f.lock
}
