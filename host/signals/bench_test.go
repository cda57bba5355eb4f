package signals

// The async signal throughput benchmark (issue #3): how many signals per
// second go through the outbox to one async subscriber.
//
//	PORTCULLIS_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test ./host/signals -run '^$' -bench AsyncThroughput -count 10
//
// Each signal is counted only once it has gone the whole way: the outbox
// insert (Dispatcher.Emit, one transaction), the claim (Deliverer, in
// batches), the delivery to the receiver, and the acknowledgement
// (MarkDelivered, one update per delivery). docs/benchmarks.md records the
// figures.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/signals/webhooksig"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
)

// benchDelivery are the host's default delivery options (config.Delivery
// defaults): batches of 100, a one-minute lease, a one-second poll (the
// deliverer is woken by each Emit, so the poll does not pace it).
var benchDelivery = DeliveryOptions{
	MaxAttempts: 10, Backoff: time.Second, BackoffMax: 5 * time.Minute,
	Lease: time.Minute, Poll: time.Second, BatchSize: 100, RetainDelivered: 24 * time.Hour,
}

// benchStallLimit fails a run in which no delivery has been made for this long:
// a guard against a stuck benchmark, not a timing assertion.
const benchStallLimit = 2 * time.Minute

// benchDB is one database the outbox can live in, fresh for each call.
type benchDB struct {
	name string
	open func(b *testing.B) *storage.Store
}

var benchDBs = []benchDB{
	{"SQLite", func(b *testing.B) *storage.Store {
		return storagetest.Open(b, storage.SQLite, storagetest.SQLitePath(b))
	}},
	{"Postgres", func(b *testing.B) *storage.Store {
		return storagetest.Open(b, storage.Postgres, storagetest.PostgresDSN(b))
	}},
}

// benchReceiver makes the subscriber's receiver; delivered is called once
// per signal that reached it.
type benchReceiver struct {
	name string
	make func(b *testing.B, delivered func()) sdk.SignalReceiver
}

var benchReceivers = []benchReceiver{
	// A cheap in-process receiver: what is left is the outbox's own cost.
	{"fake", func(b *testing.B, delivered func()) sdk.SignalReceiver {
		return &fakeReceiver{receive: func(context.Context, *sdk.Signal) error {
			delivered()
			return nil
		}}
	}},
	// The real Webhook (signed JSON POST) against a local HTTP server that
	// reads the body and answers 204.
	{"webhook", func(b *testing.B, delivered func()) sdk.SignalReceiver {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if r.Header.Get(webhooksig.HeaderSignature) == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			delivered()
			w.WriteHeader(http.StatusNoContent)
		}))
		b.Cleanup(srv.Close)
		return NewWebhook(srv.URL+"/hook", "a-benchmark-webhook-secret")
	}},
}

// BenchmarkAsyncThroughput emits b.N user_login_failed signals, one after
// the other, to a dispatcher with one async subscriber while a Deliverer
// runs, and stops the clock when every one of them has been delivered and
// acknowledged. It reports signals/s. Emitting and delivering overlap, as
// they do in a host.
func BenchmarkAsyncThroughput(b *testing.B) {
	for _, db := range benchDBs {
		for _, rc := range benchReceivers {
			b.Run(db.name+"/"+rc.name, func(b *testing.B) {
				store := db.open(b)
				reg := metrics.New()
				log := slog.New(slog.DiscardHandler)
				disp := NewDispatcher(store, log, reg)

				var got atomic.Int64
				var once sync.Once
				all := make(chan struct{})
				want := int64(b.N)
				recv := rc.make(b, func() {
					if got.Add(1) == want {
						once.Do(func() { close(all) })
					}
				})
				disp.Subscribe(&Subscription{
					Name: "bench", Mode: Async, Signals: []string{"*"}, Timeout: 5 * time.Second, Receiver: recv,
				})
				ctx, cancel := context.WithCancel(context.Background())
				stopped := make(chan struct{})
				go func() {
					defer close(stopped)
					NewDeliverer(store, disp, benchDelivery, log, reg).Run(ctx)
				}()
				b.Cleanup(func() { cancel(); <-stopped })

				sig := loginFailed("alice")
				b.ResetTimer()
				for range b.N {
					disp.Emit(ctx, "local", sig)
				}
				// Every signal reached the receiver ...
				for last := got.Load(); ; {
					select {
					case <-all:
					case <-time.After(benchStallLimit):
						if now := got.Load(); now == last {
							b.Fatalf("delivery stalled: %d of %d signals delivered", now, b.N)
						} else {
							last = now
						}
						continue
					}
					break
				}
				// ... and every delivery is acknowledged: no row is pending
				// (claimed rows stay pending until MarkDelivered).
				for {
					pending, err := store.ListDeliveries(ctx, storage.DeliveryPending, 1)
					if err != nil {
						b.Fatal(err)
					}
					if len(pending) == 0 {
						break
					}
					time.Sleep(100 * time.Microsecond)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signals/s")

				if n := reg.Counter("portcullis_signal_enqueue_errors_total", "").Value("user_login_failed"); n != 0 {
					b.Fatalf("%d signals could not be queued", n)
				}
				if n := reg.Counter("portcullis_signal_deliveries_total", "").Value("bench", "delivered"); n != uint64(b.N) {
					b.Fatalf("%d deliveries recorded, want %d", n, b.N)
				}
				delivered, err := store.ListDeliveries(ctx, storage.DeliveryDelivered, b.N+1)
				if err != nil {
					b.Fatal(err)
				}
				if len(delivered) != b.N {
					b.Fatalf("%d outbox rows delivered, want %d", len(delivered), b.N)
				}
			})
		}
	}
}
