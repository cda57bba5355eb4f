//go:build !sqlitecgo

package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	moderncsqlite "modernc.org/sqlite"
)

// TestSQLiteStatementsStayPrepared checks that the pure-Go driver keeps a
// statement prepared between executions instead of parsing it again each
// time: the counter increment's upsert, once run, stays in the connection's
// prepared-statement memory, and running it a hundred times more adds
// nothing (the same statement is reused, none is leaked).
func TestSQLiteStatementsStayPrepared(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sqlDB, err := s.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1) // so that every call below uses one connection

	stmtMemory := func() int {
		t.Helper()
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var used int
		err = conn.Raw(func(dc any) error {
			st, ok := dc.(moderncsqlite.DBStatus)
			if !ok {
				return fmt.Errorf("the driver's connection (%T) cannot report its prepared statements", dc)
			}
			used, _, err = st.Status(moderncsqlite.DBStatusStmtUsed, false)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return used
	}
	kv := s.KV("lockout")
	increment := func() {
		t.Helper()
		if _, err := kv.IncrementWindow(ctx, "f:victim", 1, time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	before := stmtMemory()
	increment()
	once := stmtMemory()
	if once <= before {
		t.Fatalf("prepared-statement memory %d bytes before the first increment and %d after: the upsert was not kept prepared", before, once)
	}
	for range 100 {
		increment()
	}
	if again := stmtMemory(); again != once {
		t.Errorf("prepared-statement memory %d bytes after one increment, %d after 100 more: the upsert is not reused", once, again)
	}
}
