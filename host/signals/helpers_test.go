package signals

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

// fakeReceiver is a hand-written sdk.SignalReceiver; receive decides what
// each call does.
type fakeReceiver struct {
	receive func(ctx context.Context, sig *sdk.Signal) error
}

func (f *fakeReceiver) Receive(ctx context.Context, sig *sdk.Signal) error {
	return f.receive(ctx, sig)
}

// call is one Receive call seen by a recorder.
type call struct {
	subscriber string
	sig        sdk.Signal
	at         time.Time
	// deadline is how far ahead the call's context deadline was, or zero
	// without one; ctxErr is the context's error when the call started.
	deadline time.Duration
	ctxErr   error
}

// recorder records Receive calls of several subscribers, in order.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

// receiver returns a receiver named name that records each call and then
// runs then (nil: succeed).
func (r *recorder) receiver(name string, then func(ctx context.Context, sig *sdk.Signal) error) *fakeReceiver {
	return &fakeReceiver{receive: func(ctx context.Context, sig *sdk.Signal) error {
		c := call{subscriber: name, sig: *sig, at: time.Now(), ctxErr: ctx.Err()}
		if dl, ok := ctx.Deadline(); ok {
			c.deadline = time.Until(dl)
		}
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
		if then == nil {
			return nil
		}
		return then(ctx, sig)
	}}
}

// all returns a copy of the calls so far.
func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// of returns the calls made to subscriber.
func (r *recorder) of(subscriber string) []call {
	var out []call
	for _, c := range r.all() {
		if c.subscriber == subscriber {
			out = append(out, c)
		}
	}
	return out
}

// names returns the subscribers called, in call order.
func (r *recorder) names() []string {
	var out []string
	for _, c := range r.all() {
		out = append(out, c.subscriber)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer = syncbuf.Buffer

// backend is one database the outbox can live in.
type backend struct {
	name string
	// newDB returns an opener on a fresh database; every call of the opener
	// reaches the same database, as a second host would.
	newDB func(t *testing.T) func(t *testing.T) *storage.Store
}

var backends = []backend{
	{name: "SQLite", newDB: func(t *testing.T) func(t *testing.T) *storage.Store {
		path := storagetest.SQLitePath(t)
		return func(t *testing.T) *storage.Store { return storagetest.Open(t, storage.SQLite, path) }
	}},
	{name: "Postgres", newDB: func(t *testing.T) func(t *testing.T) *storage.Store {
		dsn := storagetest.PostgresDSN(t)
		return func(t *testing.T) *storage.Store { return storagetest.Open(t, storage.Postgres, dsn) }
	}},
}

// forEachBackend runs test once per database, each with a fresh store.
func forEachBackend(t *testing.T, test func(t *testing.T, store *storage.Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.newDB(t)(t)) })
	}
}

// openSQLite returns a store on a fresh SQLite database.
func openSQLite(t *testing.T) *storage.Store {
	t.Helper()
	return storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
}

// env is a dispatcher with its store, metrics and log.
type env struct {
	store *storage.Store
	reg   *metrics.Registry
	log   *syncBuffer
	disp  *Dispatcher
}

func newEnv(t *testing.T, store *storage.Store) *env {
	t.Helper()
	e := &env{store: store, reg: metrics.New(), log: &syncBuffer{}}
	e.disp = NewDispatcher(store, slog.New(slog.NewTextHandler(e.log, nil)), e.reg)
	return e
}

// syncFailures reads portcullis_signal_sync_failures_total.
func (e *env) syncFailures(subscriber, signal string) uint64 {
	return e.reg.Counter("portcullis_signal_sync_failures_total", "").Value(subscriber, signal)
}

// deliveries reads portcullis_signal_deliveries_total.
func (e *env) deliveries(subscriber, result string) uint64 {
	return e.reg.Counter("portcullis_signal_deliveries_total", "").Value(subscriber, result)
}

// rows returns every outbox row, oldest first.
func (e *env) rows(t *testing.T) []storage.Delivery {
	t.Helper()
	return listRows(t, e.store, "")
}

func listRows(t *testing.T, store *storage.Store, state string) []storage.Delivery {
	t.Helper()
	got, err := store.ListDeliveries(context.Background(), state, 10000)
	if err != nil {
		t.Fatalf("ListDeliveries(%q): %v", state, err)
	}
	// newest first → oldest first
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	return got
}

// newDeliverer returns a deliverer on e with opts and the env's log and
// metrics.
func (e *env) newDeliverer(opts DeliveryOptions) *Deliverer {
	return NewDeliverer(e.store, e.disp, opts, slog.New(slog.NewTextHandler(e.log, nil)), e.reg)
}

// run starts d and returns a stop function that cancels it and waits (a
// bounded time) for Run to return. Stop is also called at cleanup.
func run(t *testing.T, d *Deliverer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("Deliverer.Run did not return within 10s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// shortOptions are the delivery options of the deliverer tests.
func shortOptions() DeliveryOptions {
	return DeliveryOptions{
		MaxAttempts: 3, Backoff: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
		Lease: time.Second, Poll: 20 * time.Millisecond, BatchSize: 10, RetainDelivered: time.Hour,
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countState counts rows in state.
func countState(rows []storage.Delivery, state string) int {
	n := 0
	for _, r := range rows {
		if r.State == state {
			n++
		}
	}
	return n
}

// loginFailed is a catalogue signal used throughout.
func loginFailed(user string) *signals.UserLoginFailed {
	return &signals.UserLoginFailed{
		Username: user, Client: sdk.Client{IP: "192.0.2.7", UserAgent: "curl/8"},
		Backend: "local", Reason: "invalid_credentials", RequestID: "req-1", Path: "/login",
	}
}
