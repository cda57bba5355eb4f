//go:build !sqlitecgo

package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"
	moderncsqlite "modernc.org/sqlite"
)

// TestSQLiteStatementsStayPrepared checks that the pure-Go driver keeps a
// statement prepared between executions instead of parsing it again each
// time: the counter increment's upsert, once run, stays in the connection's
// prepared-statement memory once it has been run twice (the first run
// in a transaction has it prepared), and running it a hundred times more adds
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
	// Two connections: the writer, which transactions hold (prepared.go),
	// and one other, which every statement below then runs on.
	w, err := s.prepared.takeWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.prepared.giveWriter(w, nil)
	sqlDB.SetMaxIdleConns(0) // closes the others open now
	sqlDB.SetMaxOpenConns(2)
	sqlDB.SetMaxIdleConns(1)

	stmtMemory := func() int {
		t.Helper()
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return dbStatus(t, conn, moderncsqlite.DBStatusStmtUsed, false)
	}
	kv := s.KV("lockout")
	increment := func() {
		t.Helper()
		if _, err := kv.IncrementWindow(ctx, "f:victim", 1, time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	before := stmtMemory()
	// The first increment's statements inside its transaction are prepared
	// in the background (prepared.go); the second uses them.
	increment()
	waitPrepared(t, s)
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

// countingDriver is the pure-Go SQLite driver, counting the statements its
// connections prepare.
type countingDriver struct {
	driver.Driver
	prepares *atomic.Int64
}

func (d countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return countingConn{c.(sqliteConn), d.prepares}, nil
}

// sqliteConn is what the pure-Go driver's connection implements that the
// store uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type countingConn struct {
	sqliteConn
	prepares *atomic.Int64
}

func (c countingConn) Prepare(query string) (driver.Stmt, error) {
	c.prepares.Add(1)
	preparedQueries.Store(query, true)
	return c.sqliteConn.Prepare(query)
}

func (c countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.prepares.Add(1)
	preparedQueries.Store(query, true)
	return c.sqliteConn.PrepareContext(ctx, query)
}

var (
	countedPrepares atomic.Int64
	preparedQueries sync.Map // every query text prepared
)

func init() {
	db, _ := sql.Open("sqlite", "")
	sql.Register("sqlite-counting", countingDriver{db.Driver(), &countedPrepares})
	_ = db.Close()
}

// TestTransactionsStayPrepared: the statements of a transaction are parsed
// once on each connection and then kept: a hundred more logins prepare at
// most each statement once on each connection of the pool (a connection
// the warm-up did not use), not once per login as gorm's own prepared mode
// does in a transaction (about ten per login).
func TestTransactionsStayPrepared(t *testing.T) {
	ctx := context.Background()
	saved := sqliteDriver.open
	sqliteDriver.open = func(dsn string) gorm.Dialector {
		return moderncDialector{gormsqlite.New(gormsqlite.Config{DriverName: "sqlite-counting", DSN: dsn}).(*gormsqlite.Dialector)}
	}
	s, err := Open(ctx, SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	sqliteDriver.open = saved
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := s.Attempts("lockout")
	counters := []AttemptCounter{{Key: "u:alice", LockAt: 1000, ResetOnSuccess: true}, {Key: "i:203.0.113.9", LockAt: 1000}}
	login := func(i int, failed bool) {
		t.Helper()
		id := fmt.Sprintf("attempt-%d", i)
		if adm, _, err := a.Admit(ctx, counters, id, time.Minute); err != nil || adm != Admitted {
			t.Fatalf("admission %d: %v %v", i, adm, err)
		}
		if _, err := a.Settle(ctx, counters, Settlement{ID: id, Failed: failed, Reset: !failed}); err != nil {
			t.Fatalf("settlement %d: %v", i, err)
		}
	}
	// Every connection of the pool runs both kinds of login once.
	for i := range 16 {
		login(i, i%2 == 0)
	}
	waitPrepared(t, s)
	before := countedPrepares.Load()
	for i := range 100 {
		login(100+i, i%2 == 0)
	}
	statements := 0
	preparedQueries.Range(func(any, any) bool { statements++; return true })
	if n, most := countedPrepares.Load()-before, int64(statements*sqlitePool); n > most {
		t.Errorf("100 more logins prepared %d statements, more than %d statements on %d connections: a transaction's statements are parsed again each time", n, statements, sqlitePool)
	}
}

// waitPrepared waits for the statements being prepared in the background
// for transactions.
func waitPrepared(t *testing.T, s *Store) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.prepared.mu.RLock()
		n := len(s.prepared.pending)
		s.prepared.mu.RUnlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements still being prepared after 10s", n)
		}
	}
}

// TestTransactionsDoNotWaitToPrepare: transactions that fill the pool, each
// running a statement never prepared before, finish. A transaction that
// waited for a second connection to prepare its statement on would wait
// for ever here (each connection of the pool is such a transaction, the
// first holding SQLite's write lock and the others waiting for it).
func TestTransactionsDoNotWaitToPrepare(t *testing.T) {
	s, err := Open(context.Background(), SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 16 // four times the pool
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				// Each its own statement, so none is prepared yet.
				q := fmt.Sprintf("SELECT count(*) + %d FROM plugin_kv", i)
				var got int
				if err := tx.Raw(q).Scan(&got).Error; err != nil {
					return err
				}
				return tx.Exec(fmt.Sprintf("DELETE FROM plugin_kv WHERE namespace = 'none-%d'", i)).Error
			})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("transaction: %v", err)
		}
	}
	waitPrepared(t, s)
}

// TestWriterKeepsItsPageCache: the transactions of a hundred logins read
// next to no page again. They all run on the writer connection, which
// drops its page cache only when another connection has written; spread
// over the pool, each transaction found the others' writes and read its
// pages again (about ten per login, docs/design/login-speed.md).
func TestWriterKeepsItsPageCache(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	a := s.Attempts("lockout")
	counters := []AttemptCounter{{Key: "u:alice", LockAt: 1000, ResetOnSuccess: true}, {Key: "i:203.0.113.9", LockAt: 1000}}
	login := func(i int) {
		t.Helper()
		id := fmt.Sprintf("attempt-%d", i)
		if adm, _, err := a.Admit(ctx, counters, id, time.Minute); err != nil || adm != Admitted {
			t.Fatalf("admission %d: %v %v", i, adm, err)
		}
		// A read outside a transaction, as a login's user lookup is.
		if _, _, err := a.Look(ctx, counters); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Settle(ctx, counters, Settlement{ID: id, Failed: i%2 == 0, Reset: i%2 == 1}); err != nil {
			t.Fatalf("settlement %d: %v", i, err)
		}
	}
	for i := range 20 {
		login(i)
	}
	misses := func(reset bool) int {
		t.Helper()
		w, err := s.prepared.takeWriter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.prepared.giveWriter(w, nil)
		return dbStatus(t, w, moderncsqlite.DBStatusCacheMiss, reset)
	}
	misses(true)
	var wg sync.WaitGroup
	for g := range 4 { // four at a time, as logins come
		wg.Go(func() {
			for i := range 25 {
				login(100 + 25*g + i)
			}
		})
	}
	wg.Wait()
	if n := misses(false); n > 20 {
		t.Errorf("the transactions of 100 logins, four at a time, read %d pages into the writer's cache again; want next to none", n)
	}
}

// dbStatus is the current value of one of SQLite's counters of conn
// (sqlite3_db_status), reset to zero after if reset.
func dbStatus(t *testing.T, conn *sql.Conn, op moderncsqlite.DBStatusOp, reset bool) int {
	t.Helper()
	var n int
	err := conn.Raw(func(dc any) error {
		st, ok := dc.(moderncsqlite.DBStatus)
		if !ok {
			return fmt.Errorf("the driver's connection (%T) cannot report its status", dc)
		}
		var err error
		n, _, err = st.Status(op, reset)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
