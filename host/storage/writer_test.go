package storage

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

func openSQLiteForTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// holdWriter begins a transaction that only reads, and then holds the
// writer connection (and SQLite's write lock, the transaction being
// immediate) until release is called; done tells how it ended.
func holdWriter(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	inside, held := make(chan struct{}), make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		ended <- s.db.Transaction(func(tx *gorm.DB) error {
			var n int
			if err := tx.Raw(`SELECT count(*) FROM plugin_kv`).Scan(&n).Error; err != nil {
				return err
			}
			close(inside)
			<-held
			return nil
		})
	}()
	select {
	case <-inside:
	case err := <-ended:
		t.Fatalf("the transaction ended before it held the writer: %v", err)
	}
	return func() { close(held) }, ended
}

// TestTransactionsRunOnOneConnection: forty transactions at once all run,
// one after the other, on the same connection: a temporary table (which
// only the connection that made it sees) made by the first is seen by all
// the others.
func TestTransactionsRunOnOneConnection(t *testing.T) {
	s := openSQLiteForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		made int
		wg   sync.WaitGroup
	)
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			errs <- s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				var n int
				if err := tx.Raw(`SELECT count(*) FROM sqlite_temp_master WHERE name = 'writer_mark'`).Scan(&n).Error; err != nil {
					return err
				}
				if n == 0 {
					mu.Lock()
					made++
					mu.Unlock()
					if err := tx.Exec(`CREATE TEMP TABLE writer_mark (x)`).Error; err != nil {
						return err
					}
				}
				return tx.Exec(`DELETE FROM plugin_kv WHERE namespace = 'none'`).Error
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("transaction: %v", err)
		}
	}
	if made != 1 {
		t.Errorf("the transactions ran on %d connections, want 1", made)
	}
}

// TestReadsRunBesideATransaction: a statement outside transactions does
// not wait for the writer connection.
func TestReadsRunBesideATransaction(t *testing.T) {
	s := openSQLiteForTest(t)
	release, done := holdWriter(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	if err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM plugin_kv`).Scan(&n).Error; err != nil {
		t.Errorf("a read while a transaction holds the writer: %v", err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTransactionWaitingForTheWriterGivesUp: a transaction begun inside
// another's callback but outside it waits for the writer connection,
// which the first holds, and fails after writerWait as SQLite's busy
// timeout would, instead of waiting for ever; the writer then serves the
// next transactions, after one whose context ended too.
func TestTransactionWaitingForTheWriterGivesUp(t *testing.T) {
	saved := writerWait
	writerWait = 200 * time.Millisecond
	defer func() { writerWait = saved }()
	s := openSQLiteForTest(t)
	ctx := context.Background()
	var inner error
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inner = s.db.WithContext(ctx).Transaction(func(*gorm.DB) error { return nil })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, errWriterBusy) || !isBusy(inner) {
		t.Errorf("the inner transaction: %v, want %v", inner, errWriterBusy)
	}

	cctx, cancel := context.WithCancel(ctx)
	err = s.db.WithContext(cctx).Transaction(func(tx *gorm.DB) error {
		cancel()
		return tx.Exec(`DELETE FROM plugin_kv WHERE namespace = 'none'`).Error
	})
	if err == nil {
		t.Error("a transaction whose context ended succeeded")
	}

	for i := range 3 {
		if err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return tx.Exec(`DELETE FROM plugin_kv WHERE namespace = 'none'`).Error
		}); err != nil {
			t.Fatalf("transaction %d after: %v", i, err)
		}
	}
}

// TestCloseWhileATransactionRuns: closing the store while a transaction
// holds the writer neither waits for it nor leaves the transaction
// stuck when it ends, and no transaction begins after.
func TestCloseWhileATransactionRuns(t *testing.T) {
	s, err := Open(context.Background(), SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	release, done := holdWriter(t, s)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the transaction")
	}
	release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the transaction did not end after Close")
	}
	if err := s.db.Transaction(func(*gorm.DB) error { return nil }); err == nil {
		t.Error("a transaction began after Close")
	}
}
