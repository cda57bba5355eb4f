package limiter

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create the shared schema

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/plugins/lockout"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/signals"
	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

// The tests drive a Limiter the way the chain does (Check, then End with
// the login's result) against real databases, SQLite and PostgreSQL (the
// PostgreSQL half is skipped, saying why, when PORTCULLIS_TEST_POSTGRES_DSN
// is unset). Rules are written as the first-party lockout plugin's
// configuration and turned into the rule the plugin declares by its own
// ParseConfig, so the django-axes semantics are checked from the settings
// an operator writes to what the host enforces. The clock is fake
// (Options.Now); waits are real, with hang limits of minutes.

// testDB is one database; its store is the first host on it.
type testDB struct {
	driver, dsn string
	store       *storage.Store
}

// another opens a second host's store on the same database.
func (d *testDB) another(t testing.TB) *storage.Store {
	t.Helper()
	return storagetest.Open(t, d.driver, d.dsn)
}

// eachDB runs f on the package's SQLite database and on its PostgreSQL
// one. Tests share them (a migration costs more than most tests): each
// harness is a backend of its own, whose counters and access log no other
// test sees. A test that needs a database to itself uses eachFreshDB.
func eachDB(t *testing.T, f func(t *testing.T, db *testDB)) {
	t.Helper()
	for _, driver := range []string{storage.SQLite, storage.Postgres} {
		t.Run(driver, func(t *testing.T) { f(t, shared.get(t, driver)) })
	}
}

// eachFreshDB runs f on a new SQLite database and a new PostgreSQL one.
func eachFreshDB(t *testing.T, f func(t *testing.T, db *testDB)) {
	t.Helper()
	t.Run(storage.SQLite, func(t *testing.T) {
		path := storagetest.SQLitePath(t)
		f(t, &testDB{driver: storage.SQLite, dsn: path, store: storagetest.Open(t, storage.SQLite, path)})
	})
	t.Run(storage.Postgres, func(t *testing.T) {
		dsn := storagetest.PostgresDSN(t)
		f(t, &testDB{driver: storage.Postgres, dsn: dsn, store: storagetest.Open(t, storage.Postgres, dsn)})
	})
}

// shared holds the databases the package's tests share, created on first
// use and removed by TestMain.
var shared = &sharedDBs{dbs: map[string]*testDB{}}

type sharedDBs struct {
	mu       sync.Mutex
	dbs      map[string]*testDB
	cleanups []func()
}

func (s *sharedDBs) get(t *testing.T, driver string) *testDB {
	t.Helper()
	base := os.Getenv(storagetest.PostgresEnv)
	if driver == storage.Postgres && base == "" {
		t.Skipf("skipping: %s is not set (see DEVELOPERS.md)", storagetest.PostgresEnv)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if db := s.dbs[driver]; db != nil {
		return db
	}
	var dsn string
	switch driver {
	case storage.SQLite:
		dir, err := os.MkdirTemp("", "limiter-test-")
		if err != nil {
			t.Fatal(err)
		}
		s.cleanups = append(s.cleanups, func() { _ = os.RemoveAll(dir) })
		dsn = filepath.Join(dir, "portcullis.db")
	case storage.Postgres:
		dsn = s.postgresSchema(t, base)
	}
	store, err := storage.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatalf("opening the shared %s database: %v", driver, err)
	}
	// Closed first, before its schema or file is removed.
	s.cleanups = append([]func(){func() { _ = store.Close() }}, s.cleanups...)
	db := &testDB{driver: driver, dsn: dsn, store: store}
	s.dbs[driver] = db
	return db
}

// postgresSchema creates a schema of its own in the test database and
// returns a DSN that uses it.
func (s *sharedDBs) postgresSchema(t *testing.T, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("opening %s: %v", storagetest.PostgresEnv, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "portcullis_limiter_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("creating schema: %v", err)
	}
	s.cleanups = append(s.cleanups, func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		return base + " search_path=" + schema // key=value form
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *sharedDBs) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cleanups {
		c()
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.close()
	os.Exit(code)
}

// fakeClock is a settable clock, read from many goroutines. It starts at
// the current second, so that the admin functions (which read the real
// clock) see counters the limiter wrote as live.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is an Emitter that keeps what it is given, and its JSON.
type recorder struct {
	mu   sync.Mutex
	sent []emitted
}

type emitted struct {
	sender string
	args   any
	json   string
}

func (r *recorder) Emit(_ context.Context, sender string, args any) string {
	raw, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, emitted{sender: sender, args: args, json: string(raw)})
	return fmt.Sprintf("sig-%d", len(r.sent))
}

func (r *recorder) all() []emitted {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// logBuffer collects the limiter's log lines as JSON.
type logBuffer = syncbuf.Buffer

// password is the password of every test login: it must never show up in
// a log line, a signal or a record.
const password = "pw-Secret-8c1f2e"

// backendSeq names each harness's backend, so that tests sharing a
// database keep to their own counters and logs.
var backendSeq atomic.Int64

// harness is one lockout backend of one host.
type harness struct {
	t     *testing.T
	db    *testDB
	store *storage.Store
	name  string
	rule  attempts.Rule
	l     *Limiter
	clock *fakeClock
	emit  *recorder
	logs  *logBuffer
	opts  Options
	seq   *atomic.Int64
}

// ruleOf is the rule the lockout plugin declares for config.
func ruleOf(t testing.TB, config string) attempts.Rule {
	t.Helper()
	s, err := lockout.ParseConfig(json.RawMessage(config))
	if err != nil {
		t.Fatalf("lockout config %s: %v", config, err)
	}
	return s.Rule
}

// newHarness starts a limiter for the lockout config on db's first host;
// tweak, if given, changes its options.
func newHarness(t *testing.T, db *testDB, config string, tweak ...func(*Options)) *harness {
	t.Helper()
	return newRuleHarness(t, db, ruleOf(t, config), tweak...)
}

func newRuleHarness(t *testing.T, db *testDB, rule attempts.Rule, tweak ...func(*Options)) *harness {
	t.Helper()
	h := &harness{
		t: t, db: db, store: db.store, name: fmt.Sprintf("lockout-%d", backendSeq.Add(1)), rule: rule,
		clock: newClock(), emit: &recorder{}, logs: &logBuffer{}, seq: new(atomic.Int64),
	}
	h.opts = Options{
		Emit:   h.emit,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    h.clock.now,
	}
	for _, f := range tweak {
		f(&h.opts)
	}
	l, err := New(h.name, rule, h.store, h.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.l = l
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", h.name, h.logs)
		}
	})
	return h
}

// second is the same backend on another host: another store on the same
// database, another Limiter, the same clock and signal recorder.
func (h *harness) second() *harness {
	h.t.Helper()
	o := *h
	o.store = h.db.another(h.t)
	o.logs = &logBuffer{}
	o.opts.Logger = slog.New(slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := New(h.name, h.rule, o.store, o.opts)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	o.l = l
	return &o
}

func (h *harness) advance(d time.Duration) { h.clock.add(d) }
func (h *harness) now() time.Time          { return h.clock.now() }

// attempt is one login's client.
type attempt struct {
	user, ip, ua string
}

var alice = attempt{"alice", "192.0.2.1", "Mozilla/5.0"}

func (a attempt) request(id string) *sdk.AuthenticateRequest {
	return &sdk.AuthenticateRequest{
		RequestID: id, Username: a.user, Password: password,
		Client: sdk.Client{IP: a.ip, UserAgent: a.ua}, Path: "/v1/login",
	}
}

// check runs Check for one login, as the chain does at the lockout's
// place.
func (h *harness) check(a attempt) (Verdict, error) {
	return h.l.Check(context.Background(), a.request(fmt.Sprintf("req-%d", h.seq.Add(1))))
}

// mustCheck is check that fails the test on an error.
func (h *harness) mustCheck(a attempt) Verdict {
	h.t.Helper()
	v, err := h.check(a)
	if err != nil {
		h.t.Fatalf("Check(%+v): %v", a, err)
	}
	return v
}

// sessionSeq numbers the sessions successful logins open.
var sessionSeq atomic.Int64

// end settles v's attempt, if any, with result; a success opens a session
// whose id it returns.
func end(v Verdict, result sdk.LoginResult) (string, error) {
	if v.Attempt == nil {
		return "", nil
	}
	session := ""
	if result == sdk.LoginSucceeded {
		session = fmt.Sprintf("session-%d", sessionSeq.Add(1))
	}
	return session, v.Attempt.End(context.Background(), result, session)
}

// tryErr runs one login through the lockout: Check, and when the login
// goes on, End with result (what the rest of the chain made of it).
func (h *harness) tryErr(a attempt, result sdk.LoginResult) (Verdict, error) {
	v, err := h.check(a)
	if err != nil {
		return v, err
	}
	_, err = end(v, result)
	return v, err
}

// try is tryErr that fails the test on an error.
func (h *harness) try(a attempt, result sdk.LoginResult) Verdict {
	h.t.Helper()
	v, err := h.tryErr(a, result)
	if err != nil {
		h.t.Fatalf("login of %+v (%v): %v", a, result, err)
	}
	return v
}

// tryN runs n logins with result and fails the test unless every one
// went on past the lockout.
func (h *harness) tryN(a attempt, result sdk.LoginResult, n int) {
	h.t.Helper()
	for i := 1; i <= n; i++ {
		if v := h.try(a, result); !through(v) {
			h.t.Fatalf("%+v, attempt %d of %d (%v): %s, want it let through", a, i, n, result, describe(v))
		}
	}
}

// login runs a successful login and returns its session id.
func (h *harness) login(a attempt) string {
	h.t.Helper()
	v := h.mustCheck(a)
	if !through(v) || v.Attempt == nil {
		h.t.Fatalf("login of %+v: %s, want it admitted", a, describe(v))
	}
	session, err := end(v, sdk.LoginSucceeded)
	if err != nil {
		h.t.Fatal(err)
	}
	return session
}

// counters lists the live counters as the limiter's clock sees them.
func (h *harness) counters() []Counter {
	h.t.Helper()
	list, err := list(context.Background(), h.l.store, h.name)
	if err != nil {
		h.t.Fatalf("listing counters: %v", err)
	}
	return list
}

// counterStrings lists the live counters as "group|username|ip|ua=failures",
// sorted.
func (h *harness) counterStrings() []string {
	h.t.Helper()
	var out []string
	for _, c := range h.counters() {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s=%d", c.Group, c.Username, c.IPAddress, c.UserAgent, c.Failures))
	}
	sort.Strings(out)
	return out
}

// counter returns the counter of group with the values of a, if any.
func (h *harness) counter(groupName string, a attempt) (Counter, bool) {
	h.t.Helper()
	g := group(strings.Split(groupName, "+"))
	for _, c := range h.counters() {
		if c.Group != groupName {
			continue
		}
		if (g.has(attempts.FieldUsername) && c.Username != a.user) ||
			(g.has(attempts.FieldIPAddress) && c.IPAddress != a.ip) ||
			(g.has(attempts.FieldUserAgent) && c.UserAgent != a.ua) {
			continue
		}
		return c, true
	}
	return Counter{}, false
}

// failures is the count of group's counter for a (0 when there is none).
func (h *harness) failures(groupName string, a attempt) int64 {
	h.t.Helper()
	c, _ := h.counter(groupName, a)
	return c.Failures
}

// lockouts returns the user_locked_out signals sent so far.
func (h *harness) lockouts() []*signals.UserLockedOut {
	h.t.Helper()
	var out []*signals.UserLockedOut
	for _, e := range h.emit.all() {
		s, ok := e.args.(*signals.UserLockedOut)
		if !ok {
			h.t.Fatalf("emitted %T, want only *signals.UserLockedOut", e.args)
		}
		if e.sender != h.name || s.Backend != h.name {
			h.t.Fatalf("user_locked_out from sender %q for backend %q, want %q", e.sender, s.Backend, h.name)
		}
		if strings.Contains(e.json, password) {
			h.t.Fatalf("user_locked_out carries the password: %s", e.json)
		}
		out = append(out, s)
	}
	return out
}

// accessRecords reads the access log (failed: the failure log), oldest
// first.
func (h *harness) accessRecords(failed bool) []storage.AccessRecord {
	h.t.Helper()
	recs, err := h.store.AccessLog(context.Background(), h.name, failed)
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Reverse(recs)
	return recs
}

// logLines returns the limiter's log lines so far, each decoded from JSON.
func (h *harness) logLines() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for line := range strings.Lines(h.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			h.t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// through reports whether the login went on past the lockout.
func through(v Verdict) bool { return v.Refusal == nil && !v.Busy }

// locked reports whether the login was refused by a lock.
func locked(v Verdict) bool { return v.Refusal != nil && v.Refusal.Reason == ReasonLockedOut }

// describe prints a verdict for failure messages.
func describe(v Verdict) string {
	switch {
	case v.Busy:
		return "{busy}"
	case v.Refusal != nil:
		r := v.Refusal
		return fmt.Sprintf("{refused %q status=%d retry=%v details=%v desc=%q}", r.Reason, r.Status, r.RetryAfter, r.Details, r.Description)
	case v.Attempt != nil:
		return "{admitted}"
	}
	return "{through, not counted}"
}
