package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
)

// maxPrepared bounds the statements kept prepared. The host's statements
// are a fixed set, well under it; a statement past the bound (one with a
// list of values of a new length, say) runs without being kept.
const maxPrepared = 512

// preparedPool is the connection pool gorm runs the store's statements
// through. Each statement is prepared once on the database, and
// database/sql then keeps it prepared on each connection it runs on,
// inside a transaction as well as outside.
//
// gorm's own prepared-statement mode prepares a statement first used in a
// transaction on that transaction alone: the statement is closed when the
// transaction ends, and every later transaction parses it again (on SQLite
// a parse costs more than most statements take to run). The statements of
// a login's transactions (admission, settlement, tokens) were parsed anew
// for every login.
//
// Every transaction runs on one connection of the pool, the writer, one
// transaction at a time; statements outside transactions run on the
// others. Every transaction of the store writes, and SQLite lets one
// connection write at a time whatever the pool, so this costs no
// concurrency. What it saves: a connection drops its whole page cache
// when it finds that another connection has written since its last
// transaction, and reads the pages again. With transactions spread over
// the pool, each found the others' writes and read about ten pages back
// per login (docs/design/login-speed.md, "One connection writes"); the
// writer finds only its own. Transactions waiting for the writer wait in
// turn, instead of in SQLite's busy handler, which sleeps between tries.
type preparedPool struct {
	db *sql.DB
	// writer holds the writer connection while no transaction has it: a
	// transaction takes it and gives it back when it ends. nil in it means
	// none is open yet (or the last one broke): the taker opens one.
	writer chan *sql.Conn
	// wmu orders giving the writer back with closing the pool, so that a
	// transaction that ends after close closes the writer.
	wmu       sync.Mutex
	wclosed   bool
	mu        sync.RWMutex
	stmts     map[string]*sql.Stmt
	pending   map[string]bool // being prepared for a transaction
	preparing sync.WaitGroup  // the goroutines preparing them
	closed    bool
}

func newPreparedPool(db *sql.DB) *preparedPool {
	p := &preparedPool{db: db, writer: make(chan *sql.Conn, 1), stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
	p.writer <- nil
	return p
}

// writerWait is how long a transaction waits for the writer connection
// before it fails as SQLite's busy timeout would (the DSN's 10 s), rather
// than for as long as its context lasts: a transaction begun by another's
// callback, outside it, would otherwise wait for ever. A variable for
// tests.
var writerWait = 10 * time.Second

// errWriterBusy is the error of a transaction that waited writerWait for
// the writer connection. Its text says "database is locked", as SQLite's
// own busy error does.
var errWriterBusy = errors.New("database is locked: another transaction held the writer connection")

// takeWriter waits for the writer connection, opening it if none is.
func (p *preparedPool) takeWriter(ctx context.Context) (*sql.Conn, error) {
	var c *sql.Conn
	select {
	case c = <-p.writer:
	default:
		timer := time.NewTimer(writerWait)
		defer timer.Stop()
		select {
		case c = <-p.writer:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, fmt.Errorf("%w for %s", errWriterBusy, writerWait)
		}
	}
	if c != nil {
		return c, nil
	}
	c, err := p.db.Conn(ctx)
	if err != nil {
		p.writer <- nil
		return nil, err
	}
	return c, nil
}

// giveWriter gives the writer connection back after a transaction that
// ended with err. A connection the driver called bad is closed, and the
// next transaction opens another; so is one given back after close.
func (p *preparedPool) giveWriter(c *sql.Conn, err error) {
	if err != nil && (errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)) {
		_ = c.Close()
		c = nil
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.wclosed && c != nil {
		_ = c.Close()
		c = nil
	}
	p.writer <- c // the one place it goes back: never full
}

// stmt returns query prepared on the database, or nil if it cannot be kept
// (the bound is reached) or prepared (its error then comes from running it).
// Preparing takes a connection of the pool for a moment.
func (p *preparedPool) stmt(ctx context.Context, query string) *sql.Stmt {
	if s := p.lookup(query); s != nil {
		return s
	}
	return p.prepare(ctx, query)
}

// stmtInTx returns query prepared on the database if it already is, and
// otherwise has it prepared in the background and returns nil: the
// transaction runs this one unprepared. A transaction holds the writer
// connection and SQLite's write lock; waiting in it for another
// connection to prepare on would hold up every transaction behind it
// for as long as the reads on the other connections take.
func (p *preparedPool) stmtInTx(query string) *sql.Stmt {
	if s := p.lookup(query); s != nil {
		return s
	}
	p.mu.Lock()
	start := !p.closed && !p.pending[query] && p.stmts[query] == nil && len(p.stmts)+len(p.pending) < maxPrepared
	if start {
		p.pending[query] = true
		p.preparing.Add(1)
	}
	p.mu.Unlock()
	if start {
		go func() {
			defer p.preparing.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p.prepare(ctx, query)
			p.mu.Lock()
			delete(p.pending, query)
			p.mu.Unlock()
		}()
	}
	return nil
}

func (p *preparedPool) lookup(query string) *sql.Stmt {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.stmts[query]
}

// prepare prepares query on the database and keeps it, unless the bound is
// reached or the pool is closed; it returns nil if it keeps nothing.
func (p *preparedPool) prepare(ctx context.Context, query string) *sql.Stmt {
	p.mu.RLock()
	full := p.closed || len(p.stmts) >= maxPrepared
	p.mu.RUnlock()
	if full {
		return nil
	}
	s, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if kept := p.stmts[query]; kept != nil || p.closed || len(p.stmts) >= maxPrepared {
		_ = s.Close()
		return kept
	}
	p.stmts[query] = s
	return s
}

// close closes the prepared statements.
func (p *preparedPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	// The writer goes back to the pool, to be closed with it; a
	// transaction still running closes it when it ends (giveWriter).
	p.wmu.Lock()
	p.wclosed = true
	select {
	case c := <-p.writer:
		if c != nil {
			_ = c.Close()
		}
		p.writer <- nil
	default:
	}
	p.wmu.Unlock()
	// A statement being prepared holds a connection; the database's files
	// are not closed until it is given back.
	p.preparing.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, s := range p.stmts {
		_ = s.Close()
		delete(p.stmts, q)
	}
}

func (p *preparedPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, query)
}

func (p *preparedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p *preparedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p *preparedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// BeginTx implements gorm.ConnPoolBeginner: the transaction runs on the
// writer connection, once the one before it has ended.
func (p *preparedPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	conn, err := p.takeWriter(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		p.giveWriter(conn, err)
		return nil, err
	}
	return &preparedTx{tx: tx, p: p, conn: conn}, nil
}

// GetDBConn implements gorm.GetDBConnector.
func (p *preparedPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

// preparedTx is a transaction of a preparedPool: it runs the pool's
// statements on the transaction's connection, the writer, which it gives
// back when it ends.
type preparedTx struct {
	tx   *sql.Tx
	p    *preparedPool
	mu   sync.Mutex
	conn *sql.Conn // the writer; nil once given back
}

func (t *preparedTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, query)
}

func (t *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.p.stmtInTx(query); s != nil {
		return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.p.stmtInTx(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.p.stmtInTx(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// StmtContext implements gorm.Tx.
func (t *preparedTx) StmtContext(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, s)
}

func (t *preparedTx) Commit() error {
	err := t.tx.Commit()
	t.end(err)
	return err
}

// Rollback ends the transaction; gorm rolls back after a commit that
// failed too, which finds the writer already given back.
func (t *preparedTx) Rollback() error {
	err := t.tx.Rollback()
	t.end(err)
	return err
}

// end gives the writer back, once.
func (t *preparedTx) end(err error) {
	t.mu.Lock()
	conn := t.conn
	t.conn = nil
	t.mu.Unlock()
	if conn == nil {
		return
	}
	if errors.Is(err, sql.ErrTxDone) {
		err = nil // the transaction ended before (its context's end)
	}
	t.p.giveWriter(conn, err)
}

// GetDBConn implements gorm.GetDBConnector.
func (t *preparedTx) GetDBConn() (*sql.DB, error) { return t.p.db, nil }
