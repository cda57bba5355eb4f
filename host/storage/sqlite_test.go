package storage

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSQLiteTimeFormat checks that times are stored as the text every
// version of the host has written, whichever SQLite driver is in use, so
// that a database moves between versions and drivers unchanged and times
// compare in order as text (PurgeTokens relies on it).
func TestSQLiteTimeFormat(t *testing.T) {
	for _, dsn := range []struct {
		name string
		dsn  func(path string) string
	}{
		{"path", func(path string) string { return path }},
		{"DSN written in full without a time format", func(path string) string {
			full, err := sqliteDriver.dsn(path)
			if err != nil {
				t.Fatal(err)
			}
			return strings.Replace(full, "&_time_format=sqlite", "", 1)
		}},
	} {
		t.Run(dsn.name, func(t *testing.T) {
			testSQLiteTimeFormat(t, dsn.dsn(filepath.Join(t.TempDir(), "portcullis.db")))
		})
	}
}

func testSQLiteTimeFormat(t *testing.T, dsn string) {
	ctx := context.Background()
	s, err := Open(ctx, SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		expires time.Time
		want    string
	}{
		{time.Date(2030, 1, 2, 3, 4, 5, 500_000_000, time.UTC), "2030-01-02 03:04:05.5+00:00"},
		{time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), "2030-01-02 03:04:05+00:00"},
		{time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600)), "2030-01-02 02:04:05.123456789+00:00"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			hash := tc.want
			if err := s.SaveTokens(ctx, Token{ID: "id", Hash: hash, Kind: "access", FamilyID: "f", ExpiresAt: tc.expires}); err != nil {
				t.Fatal(err)
			}
			// As bytes: the stored text itself, which the driver would
			// otherwise parse back into a time (_texttotime).
			var raw []byte
			if err := s.db.WithContext(ctx).Raw("SELECT CAST(expires_at AS BLOB) FROM tokens WHERE hash = ?", hash).Row().Scan(&raw); err != nil {
				t.Fatal(err)
			}
			got := string(raw)
			if got != tc.want {
				t.Errorf("%s with DSN %q stores %v as %q, want %q", sqliteDriver.name, dsn, tc.expires, got, tc.want)
			}
			back, err := s.TokenByHash(ctx, hash)
			if err != nil || !back.ExpiresAt.Equal(tc.expires) {
				t.Errorf("read back as %v, %v; want %v", back.ExpiresAt, err, tc.expires)
			}
		})
	}
}

// TestSQLiteOperatorDSNTimeFormat checks that a DSN the operator wrote in
// full gets the store's time format unless it chose one.
func TestSQLiteOperatorDSNTimeFormat(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"file:p.db", "file:p.db?_time_format=sqlite"},
		{"file:p.db?", "file:p.db?_time_format=sqlite"},
		{"file:p.db?_txlock=immediate", "file:p.db?_txlock=immediate&_time_format=sqlite"},
		{"p.db?_txlock=immediate&", "p.db?_txlock=immediate&_time_format=sqlite"},
		{"file:p.db?mode=rwc#f", "file:p.db?mode=rwc&_time_format=sqlite#f"},
		{"file:p.db?_time_format=datetime", "file:p.db?_time_format=datetime"},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			if got, err := sqliteDSN(tc.dsn); err != nil || got != tc.want {
				t.Errorf("sqliteDSN(%q) = %q, %v; want %q", tc.dsn, got, err, tc.want)
			}
		})
	}
}

// TestSQLiteImmediateTransactions checks that a transaction takes SQLite's
// write lock when it begins, even if it only reads at first: a write from
// another connection waits until it ends.
func TestSQLiteImmediateTransactions(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	kv := s.KV("ns")
	release, txDone := holdWriter(t, s)
	written := make(chan error, 1)
	go func() { written <- kv.Put(ctx, "k", []byte("v"), 0) }()
	select {
	case err := <-written:
		release()
		t.Fatalf("a write from another connection went through during a transaction that had only read (err %v): "+
			"transactions are not immediate", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Fatalf("the waiting write failed: %v", err)
	}
}
