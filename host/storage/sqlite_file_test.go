//go:build unix

package storage

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// withUmask runs f with the process's umask set to mask, as a host started
// from a shell usually has (022: files 0644 unless asked otherwise).
func withUmask(t *testing.T, mask int, f func()) {
	t.Helper()
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	f()
}

// TestSQLiteFileModes checks that the database file and the -wal and -shm
// files SQLite makes beside it are created readable and writable by the
// host's user only, whatever form the DSN takes.
func TestSQLiteFileModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  func(path string) string
	}{
		{"path", func(path string) string { return path }},
		{"file URI with parameters", func(path string) string { return operatorDSN(t, path) }},
		{"file URI with an absolute path", func(path string) string {
			return "file://" + strings.TrimPrefix(operatorDSN(t, path), "file:")
		}},
		{"path with parameters", func(path string) string { return strings.TrimPrefix(operatorDSN(t, path), "file:") }},
		{"percent-encoded file URI", func(path string) string {
			dsn := operatorDSN(t, path)
			return strings.Replace(dsn, "portcullis.db", "portcullis%2Edb", 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An existing directory, as an operator makes one: mode 0755.
			path := filepath.Join(t.TempDir(), "portcullis.db")
			withUmask(t, 0o022, func() {
				s, err := Open(context.Background(), SQLite, tc.dsn(path))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				// A write makes sure the WAL and its index exist.
				if _, err := s.CreateUser(context.Background(), "alice", "h"); err != nil {
					t.Fatal(err)
				}
				for _, name := range []string{path, path + "-wal", path + "-shm"} {
					fi, err := os.Stat(name)
					if err != nil {
						t.Fatalf("%s: %v (the DSN must reach this file, in WAL mode)", filepath.Base(name), err)
					}
					if got := fi.Mode().Perm(); got != 0o600 {
						t.Errorf("%s: mode %v, want -rw-------", filepath.Base(name), got)
					}
				}
			})
		})
	}
}

// operatorDSN is a DSN the way an operator writes one in full (a "file:"
// URI with parameters) for the driver in use, with the store's settings.
func operatorDSN(t *testing.T, path string) string {
	t.Helper()
	dsn, err := sqliteDriver.dsn(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dsn, "file:") || !strings.Contains(dsn, "?") {
		t.Fatalf("the store's DSN for %s is %q, not a file: URI with parameters", path, dsn)
	}
	return dsn
}

// TestSQLiteWarnings checks that Open warns when other users can reach the
// database: its directory, or an existing database file, open to them.
func TestSQLiteWarnings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dirMode  fs.FileMode
		fileMode fs.FileMode // of a database file made before Open; 0 for none
		want     []string    // one warning per entry, containing it
	}{
		{"private directory", 0o700, 0, nil},
		{"private directory, private file", 0o700, 0o600, nil},
		{"directory others can list", 0o755, 0, []string{"directory"}},
		{"directory the group can write", 0o770, 0, []string{"directory"}},
		{"directory others can only enter", 0o711, 0, nil},
		{"existing file others can read", 0o700, 0o644, []string{"portcullis.db"}},
		{"both", 0o777, 0o666, []string{"directory", "portcullis.db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "portcullis.db")
			if tc.fileMode != 0 {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.fileMode); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			s, err := Open(context.Background(), SQLite, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := s.Warnings()
			if len(got) != len(tc.want) {
				t.Fatalf("warnings = %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to name %q", i, got[i], w)
				}
			}
		})
	}
}

func TestSQLiteFilePath(t *testing.T) {
	abs := filepath.Join(string(filepath.Separator), "srv", "portcullis", "p.db")
	for _, tc := range []struct {
		dsn    string
		path   string
		create bool
	}{
		{"data/p.db", "data/p.db", true},
		{"file:data/p.db", "data/p.db", true},
		{"file:data/p.db?_pragma=busy_timeout(10000)&_txlock=immediate", "data/p.db", true},
		{"data/p.db?_pragma=busy_timeout(10000)", "data/p.db", true},
		{"file://" + abs + "?mode=rwc", abs, true},
		{"file://localhost" + abs, abs, true},
		{"file:" + url.PathEscape("a b.db"), "a b.db", true},
		{"file:data/p.db#fragment", "data/p.db", true},
		{"file:p.db?mode=ro", "p.db", false},
		{"file:p.db?mode=rw", "p.db", false},
		{":memory:", "", false},
		{"file::memory:?cache=shared", "", false},
		{"file:p.db?mode=memory", "", false},
		{"file:p.db?vfs=memdb", "", false},
		{"file://elsewhere" + abs, "", false},
	} {
		t.Run(fmt.Sprintf("%q", tc.dsn), func(t *testing.T) {
			path, create := sqliteFilePath(tc.dsn)
			if path != tc.path || create != tc.create {
				t.Errorf("sqliteFilePath(%q) = %q, %v; want %q, %v", tc.dsn, path, create, tc.path, tc.create)
			}
		})
	}
}
