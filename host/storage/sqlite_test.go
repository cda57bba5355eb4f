package storage

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestSQLiteTimeFormat checks that times are stored as the text every
// version of the host has written, whichever SQLite driver is in use, so
// that a database moves between versions and drivers unchanged and times
// compare in order as text (PurgeTokens relies on it).
func TestSQLiteTimeFormat(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
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
			var got string // '' || forces the stored text, not a parsed time
			if err := s.db.WithContext(ctx).Raw("SELECT '' || expires_at FROM tokens WHERE hash = ?", hash).Row().Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s with the store's DSN stores %v as %q, want %q", sqliteDriver.name, tc.expires, got, tc.want)
			}
			back, err := s.TokenByHash(ctx, hash)
			if err != nil || !back.ExpiresAt.Equal(tc.expires) {
				t.Errorf("read back as %v, %v; want %v", back.ExpiresAt, err, tc.expires)
			}
		})
	}
}

// TestSQLiteImmediateTransactions checks that a transaction takes SQLite's
// write lock when it begins, even if it only reads at first: a write from
// another connection waits until it ends.
func TestSQLiteImmediateTransactions(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kv := s.KV("ns")
	release := make(chan struct{})
	began := make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var n int
			if err := tx.Raw("SELECT count(*) FROM plugin_kv").Scan(&n).Error; err != nil {
				return err
			}
			close(began)
			<-release
			return nil
		})
	}()
	select {
	case <-began:
	case err := <-txDone:
		t.Fatalf("transaction ended early: %v", err)
	}
	written := make(chan error, 1)
	go func() { written <- kv.Put(ctx, "k", []byte("v"), 0) }()
	select {
	case err := <-written:
		close(release)
		t.Fatalf("a write from another connection went through during a transaction that had only read (err %v): "+
			"transactions are not immediate", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Fatalf("the waiting write failed: %v", err)
	}
}
