package signals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// emitN emits n login failures (usernames user-0…) and returns their ids in
// order.
func emitN(t *testing.T, d *Dispatcher, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = d.Emit(context.Background(), "local", loginFailed(fmt.Sprintf("user-%d", i)))
	}
	return ids
}

func signalIDs(calls []call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.sig.ID
	}
	return out
}

func TestDelivererDelivers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store)
		rec := &recorder{}
		e.disp.Subscribe(
			&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("hook", nil)},
			&Subscription{Name: "audit", Mode: Async, Signals: []string{"user_login_failed"}, Timeout: time.Second, Receiver: rec.receiver("audit", nil)},
		)
		ids := emitN(t, e.disp, 5)
		other := e.disp.Emit(context.Background(), "local", &signals.UserLoggedIn{UserID: "u1"})
		emittedAt := time.Now()

		run(t, e.newDeliverer(shortOptions()))
		waitFor(t, 10*time.Second, "11 deliveries", func() bool {
			return countState(e.rows(t), storage.DeliveryDelivered) == 11
		})

		if got, want := signalIDs(rec.of("hook")), append(slices.Clone(ids), other); !slices.Equal(got, want) {
			t.Errorf("hook received %q, want each signal once in queue order %q", got, want)
		}
		if got := signalIDs(rec.of("audit")); !slices.Equal(got, ids) {
			t.Errorf("audit received %q, want %q", got, ids)
		}
		for _, r := range e.rows(t) {
			if r.Attempts != 0 || r.LastError != "" || r.DeliveredAt.IsZero() || r.DeliveredAt.Before(emittedAt.Add(-time.Second)) {
				t.Errorf("delivered row %+v: want no attempts counted, no error and a delivery time", r)
			}
		}
		// The receiver gets the signal as emitted.
		first := rec.of("audit")[0]
		if first.sig.Name != "user_login_failed" || first.sig.Sender != "local" || first.sig.Time.Location() != time.UTC {
			t.Errorf("delivered signal %+v", first.sig)
		}
		var args signals.UserLoginFailed
		if err := signals.Decode(&first.sig, &args); err != nil || args != *loginFailed("user-0") {
			t.Errorf("delivered args %+v, %v", args, err)
		}
		if first.deadline <= 0 || first.deadline > time.Second {
			t.Errorf("delivery deadline %s ahead, want within the 1s Timeout", first.deadline)
		}
		if got := e.deliveries("hook", "delivered"); got != 6 {
			t.Errorf(`deliveries{hook,delivered} = %d, want 6`, got)
		}
		if got := e.deliveries("audit", "delivered"); got != 5 {
			t.Errorf(`deliveries{audit,delivered} = %d, want 5`, got)
		}
		// Nothing is delivered twice afterwards.
		time.Sleep(100 * time.Millisecond)
		if n := len(rec.all()); n != 11 {
			t.Errorf("%d receive calls, want 11", n)
		}
	})
}

func TestDelivererRetries(t *testing.T) {
	opts := shortOptions()
	tests := []struct {
		name         string
		failures     int // failed calls before one succeeds; -1: always
		wantState    string
		wantAttempts int
		wantCalls    int
		wantLastErr  string
		wantMetrics  map[string]uint64
	}{
		{"succeeds at once", 0, storage.DeliveryDelivered, 0, 1, "",
			map[string]uint64{"delivered": 1, "failed": 0, "dead": 0}},
		{"succeeds at the last attempt", 2, storage.DeliveryDelivered, 2, 3, "",
			map[string]uint64{"delivered": 1, "failed": 2, "dead": 0}},
		{"always fails", -1, storage.DeliveryDead, 3, 3, "receiver down (call 3)",
			map[string]uint64{"delivered": 0, "failed": 2, "dead": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, store *storage.Store) {
				e := newEnv(t, store)
				rec := &recorder{}
				var n atomic.Int32
				e.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Second,
					Receiver: rec.receiver("hook", func(context.Context, *sdk.Signal) error {
						c := int(n.Add(1))
						if tt.failures < 0 || c <= tt.failures {
							return fmt.Errorf("receiver down (call %d)", c)
						}
						return nil
					})})
				id := e.disp.Emit(context.Background(), "local", loginFailed("alice"))
				run(t, e.newDeliverer(opts))
				waitFor(t, 10*time.Second, "the delivery to settle", func() bool {
					return countState(e.rows(t), storage.DeliveryPending) == 0
				})
				time.Sleep(150 * time.Millisecond) // several polls: no further attempts
				calls := rec.all()
				if len(calls) != tt.wantCalls {
					t.Fatalf("receiver called %d times, want %d", len(calls), tt.wantCalls)
				}
				for _, c := range calls {
					if c.sig.ID != id {
						t.Fatalf("receiver got %s, want %s", c.sig.ID, id)
					}
				}
				// Each retry waits at least the back-off's lower bound:
				// Backoff·2^(k-1)·0.8, less a millisecond the outbox
				// rounds away.
				for k := 1; k < len(calls); k++ {
					base := min(opts.Backoff<<(k-1), opts.BackoffMax)
					least := time.Duration(float64(base)*0.8) - 2*time.Millisecond
					if gap := calls[k].at.Sub(calls[k-1].at); gap < least {
						t.Errorf("retry %d came %s after the previous attempt, want at least %s", k, gap, least)
					}
				}
				rows := e.rows(t)
				if len(rows) != 1 {
					t.Fatalf("outbox has %d rows", len(rows))
				}
				r := rows[0]
				if r.State != tt.wantState || r.Attempts != tt.wantAttempts || r.LastError != tt.wantLastErr {
					t.Errorf("row: state %s, attempts %d, last error %q; want %s, %d, %q",
						r.State, r.Attempts, r.LastError, tt.wantState, tt.wantAttempts, tt.wantLastErr)
				}
				for result, want := range tt.wantMetrics {
					if got := e.deliveries("hook", result); got != want {
						t.Errorf("deliveries{hook,%s} = %d, want %d", result, got, want)
					}
				}
			})
		})
	}
}

// TestDelivererReleasesTheRestOfAFailedBatch: when a subscriber fails one
// delivery, the rest of its share of the batch goes back to the queue
// without an attempt counted, to be tried after the same back-off; another
// subscriber in the batch is served all the same.
func TestDelivererReleasesTheRestOfAFailedBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store)
		rec := &recorder{}
		var down atomic.Bool
		down.Store(true)
		e.disp.Subscribe(
			&Subscription{Name: "flaky", Mode: Async, Signals: []string{"*"}, Timeout: time.Second,
				Receiver: rec.receiver("flaky", func(context.Context, *sdk.Signal) error {
					if down.Load() {
						return errors.New("flaky is down")
					}
					return nil
				})},
			&Subscription{Name: "steady", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("steady", nil)},
		)
		ids := emitN(t, e.disp, 4)
		opts := shortOptions()
		// A long back-off, so that "not due yet" is not a race even on a
		// loaded machine: the retry is 1.2s to 1.8s after the failure.
		opts.Backoff, opts.BackoffMax = 1500*time.Millisecond, 3*time.Second
		d := e.newDeliverer(opts)
		ctx := context.Background()

		before := time.Now()
		n, err := d.deliverBatch(ctx)
		after := time.Now()
		if err != nil || n != 8 {
			t.Fatalf("deliverBatch = %d, %v; want the 8 deliveries in one batch", n, err)
		}
		if got := signalIDs(rec.of("flaky")); !slices.Equal(got, ids[:1]) {
			t.Fatalf("flaky was called for %q, want only the first signal %q", got, ids[:1])
		}
		if got := signalIDs(rec.of("steady")); !slices.Equal(got, ids) {
			t.Fatalf("steady was called for %q, want all four in order %q", got, ids)
		}
		byKey := map[string]storage.Delivery{}
		for _, r := range e.rows(t) {
			byKey[r.Subscriber+"/"+r.SignalID] = r
		}
		failed := byKey["flaky/"+ids[0]]
		if failed.State != storage.DeliveryPending || failed.Attempts != 1 || failed.LastError != "flaky is down" {
			t.Errorf("failed delivery: %+v; want pending, 1 attempt, its error", failed)
		}
		// The failure happened during the batch; times are kept in milliseconds.
		if lo, hi := before.Add(1200*time.Millisecond-time.Millisecond), after.Add(1800*time.Millisecond); failed.NextAttemptAt.Before(lo) || failed.NextAttemptAt.After(hi) {
			t.Errorf("failed delivery retries at %v, want 1.2s to 1.8s after the failure, between %v and %v", failed.NextAttemptAt, lo, hi)
		}
		for _, id := range ids[1:] {
			r := byKey["flaky/"+id]
			if r.State != storage.DeliveryPending || r.Attempts != 0 || r.LastError != "" {
				t.Errorf("released delivery %+v: want pending with no attempt and no error", r)
			}
			if !r.NextAttemptAt.Equal(failed.NextAttemptAt) {
				t.Errorf("released delivery is due at %v, want with the failed one at %v", r.NextAttemptAt, failed.NextAttemptAt)
			}
		}
		for _, id := range ids {
			if r := byKey["steady/"+id]; r.State != storage.DeliveryDelivered || r.Attempts != 0 {
				t.Errorf("steady's delivery %+v: want delivered", r)
			}
		}
		if got := e.deliveries("flaky", "failed"); got != 1 {
			t.Errorf("deliveries{flaky,failed} = %d, want 1", got)
		}

		// Not due before the back-off ends...
		if n, err := d.deliverBatch(ctx); err != nil || n != 0 {
			t.Fatalf("deliverBatch before the back-off ended = %d, %v; want 0", n, err)
		}
		// ...and then claimable at once: the release ended the lease.
		time.Sleep(time.Until(failed.NextAttemptAt) + 20*time.Millisecond)
		down.Store(false)
		if n, err := d.deliverBatch(ctx); err != nil || n != 4 {
			t.Fatalf("deliverBatch after the back-off = %d, %v; want the 4 flaky deliveries", n, err)
		}
		if got, want := signalIDs(rec.of("flaky")), append(ids[:1:1], ids...); !slices.Equal(got, want) {
			t.Errorf("flaky calls %q, want %q", got, want)
		}
		for _, r := range e.rows(t) {
			wantAttempts := 0
			if r.Subscriber == "flaky" && r.SignalID == ids[0] {
				wantAttempts = 1
			}
			if r.State != storage.DeliveryDelivered || r.Attempts != wantAttempts {
				t.Errorf("row %s/%s: %s with %d attempts, want delivered with %d", r.Subscriber, r.SignalID, r.State, r.Attempts, wantAttempts)
			}
		}
	})
}

// TestDelivererServesSubscribersSideBySide: one subscriber waiting does not
// hold up another in the same batch.
func TestDelivererServesSubscribersSideBySide(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := &recorder{}
	fastDone := make(chan struct{})
	var fastCalls atomic.Int32
	e.disp.Subscribe(
		// slow waits for fast to have received all three signals; run one
		// after the other, slow would time out instead.
		&Subscription{Name: "slow", Mode: Async, Signals: []string{"*"}, Timeout: 3 * time.Second,
			Receiver: rec.receiver("slow", func(ctx context.Context, _ *sdk.Signal) error {
				select {
				case <-fastDone:
					return nil
				case <-ctx.Done():
					return errors.New("fast was not served while slow was waiting")
				}
			})},
		&Subscription{Name: "fast", Mode: Async, Signals: []string{"*"}, Timeout: time.Second,
			Receiver: rec.receiver("fast", func(context.Context, *sdk.Signal) error {
				if fastCalls.Add(1) == 3 {
					close(fastDone)
				}
				return nil
			})},
	)
	emitN(t, e.disp, 3)
	n, err := e.newDeliverer(shortOptions()).deliverBatch(context.Background())
	if err != nil || n != 6 {
		t.Fatalf("deliverBatch = %d, %v", n, err)
	}
	if got := countState(e.rows(t), storage.DeliveryDelivered); got != 6 {
		t.Fatalf("%d of 6 delivered; rows: %+v", got, e.rows(t))
	}
}

// TestDelivererUnconfiguredSubscriber: a row for a subscriber this host
// does not have as async cannot ever be delivered here: it is dead at once,
// with a cause saying so, and other rows are still served.
func TestDelivererUnconfiguredSubscriber(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store)
		rec := &recorder{}
		e.disp.Subscribe(
			&Subscription{Name: "synced", Mode: Sync, Signals: []string{"user_logged_in"}, Timeout: time.Second, Receiver: rec.receiver("synced", nil)},
			&Subscription{Name: "good", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("good", nil)},
		)
		// Rows as another host (or an older configuration) queued them.
		sig := sdk.Signal{ID: "00000000-0000-4000-8000-000000000001", Name: "user_login_failed", Sender: "local",
			Time: time.Now().UTC().Truncate(time.Millisecond), Args: []byte(`{}`)}
		if err := store.Enqueue(context.Background(), sig, []string{"ghost", "synced", "good", "ghost2"}); err != nil {
			t.Fatal(err)
		}
		run(t, e.newDeliverer(shortOptions()))
		waitFor(t, 10*time.Second, "every row to settle", func() bool {
			return countState(e.rows(t), storage.DeliveryPending) == 0
		})
		for _, r := range e.rows(t) {
			switch r.Subscriber {
			case "good":
				if r.State != storage.DeliveryDelivered {
					t.Errorf("good's row: %+v", r)
				}
			default:
				want := fmt.Sprintf("subscriber %q is not configured (as async) on this host", r.Subscriber)
				if r.State != storage.DeliveryDead || r.Attempts != 1 || r.LastError != want {
					t.Errorf("row for %s: state %s, attempts %d, error %q; want dead after 1 attempt with %q",
						r.Subscriber, r.State, r.Attempts, r.LastError, want)
				}
				if got := e.deliveries(r.Subscriber, "dead"); got != 1 {
					t.Errorf("deliveries{%s,dead} = %d, want 1", r.Subscriber, got)
				}
			}
		}
		if calls := rec.of("synced"); len(calls) != 0 {
			t.Errorf("the sync receiver was called by the deliverer: %+v", calls)
		}
		if calls := rec.of("good"); len(calls) != 1 {
			t.Errorf("good received %d calls, want 1", len(calls))
		}
	})
}

// TestDelivererWakesOnEmit: with a long Poll, a signal queued through the
// dispatcher is delivered at once, while a row written behind its back waits
// for the poll (which shows what delivered the first).
func TestDelivererWakesOnEmit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store)
		rec := &recorder{}
		e.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("hook", nil)})
		opts := shortOptions()
		opts.Poll = time.Hour
		run(t, e.newDeliverer(opts))
		time.Sleep(200 * time.Millisecond) // the deliverer's first look finds nothing

		quiet := sdk.Signal{ID: "00000000-0000-4000-8000-000000000002", Name: "lockout_reset", Sender: "cli",
			Time: time.Now().UTC().Truncate(time.Millisecond), Args: []byte(`{"removed":1}`)}
		if err := store.Enqueue(context.Background(), quiet, []string{"hook"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if calls := rec.all(); len(calls) != 0 {
			t.Fatalf("a row queued without waking the deliverer was delivered before Poll: %+v", calls)
		}

		start := time.Now()
		id := e.disp.Emit(context.Background(), "local", loginFailed("alice"))
		waitFor(t, 10*time.Second, "the emitted signal to be delivered", func() bool {
			return slices.Contains(signalIDs(rec.all()), id)
		})
		t.Logf("delivered %s after Emit", time.Since(start))
		// The wake-up claims whatever is due, the quiet row included.
		waitFor(t, 10*time.Second, "the quiet row too", func() bool {
			return countState(e.rows(t), storage.DeliveryDelivered) == 2
		})
	})
}

// TestDelivererStopLosesNothing stops the deliverer in the middle of a
// delivery: every row stays pending with no attempt counted, and another
// host delivers them all.
func TestDelivererStopLosesNothing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open := b.newDB(t)
			hostA := newEnv(t, open(t))
			hostB := newEnv(t, open(t))
			recA, recB := &recorder{}, &recorder{}
			hostA.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Minute,
				Receiver: recA.receiver("hook", func(ctx context.Context, _ *sdk.Signal) error {
					<-ctx.Done() // hangs until the host stops
					return ctx.Err()
				})})
			hostB.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Second,
				Receiver: recB.receiver("hook", nil)})
			ids := emitN(t, hostA.disp, 3)

			stop := run(t, hostA.newDeliverer(shortOptions()))
			waitFor(t, 10*time.Second, "host A to start a delivery", func() bool { return len(recA.all()) == 1 })
			stop()

			rows := hostA.rows(t)
			if len(rows) != 3 {
				t.Fatalf("outbox has %d rows, want 3", len(rows))
			}
			for _, r := range rows {
				if r.State != storage.DeliveryPending || r.Attempts != 0 {
					t.Errorf("after stopping: %+v; want pending with no attempt counted", r)
				}
			}
			for _, result := range []string{"delivered", "failed", "dead"} {
				if got := hostA.deliveries("hook", result); got != 0 {
					t.Errorf("deliveries{hook,%s} = %d after a stop, want 0", result, got)
				}
			}

			run(t, hostB.newDeliverer(shortOptions()))
			waitFor(t, 10*time.Second, "host B to deliver everything", func() bool {
				return countState(hostB.rows(t), storage.DeliveryDelivered) == 3
			})
			got := signalIDs(recB.all())
			slices.Sort(got)
			want := slices.Clone(ids)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("host B delivered %q, want %q once each", got, want)
			}
		})
	}
}

// TestDeliverersShareTheQueue runs two hosts' deliverers on one database:
// every delivery is made, each once.
func TestDeliverersShareTheQueue(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open := b.newDB(t)
			var mu sync.Mutex
			seen := map[string][]string{}
			hosts := []*env{newEnv(t, open(t)), newEnv(t, open(t))}
			for i, h := range hosts {
				host := fmt.Sprintf("host-%d", i)
				h.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Second,
					Receiver: &fakeReceiver{receive: func(_ context.Context, sig *sdk.Signal) error {
						mu.Lock()
						seen[sig.ID] = append(seen[sig.ID], host)
						mu.Unlock()
						return nil
					}}})
			}
			opts := shortOptions()
			opts.BatchSize = 3
			for _, h := range hosts {
				run(t, h.newDeliverer(opts))
			}
			var ids []string
			for i := range 40 {
				ids = append(ids, hosts[i%2].disp.Emit(context.Background(), "local", loginFailed(fmt.Sprint(i))))
			}
			waitFor(t, 20*time.Second, "40 deliveries", func() bool {
				return countState(hosts[0].rows(t), storage.DeliveryDelivered) == 40
			})
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if len(seen[id]) != 1 {
					t.Errorf("signal %s delivered by %q, want exactly once", id, seen[id])
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name         string
		backoff, max time.Duration
		attempt      int
		want         time.Duration // before jitter
	}{
		{"first retry", 10 * time.Millisecond, 40 * time.Millisecond, 1, 10 * time.Millisecond},
		{"doubles", 10 * time.Millisecond, 40 * time.Millisecond, 2, 20 * time.Millisecond},
		{"doubles again up to the cap", 10 * time.Millisecond, 40 * time.Millisecond, 3, 40 * time.Millisecond},
		{"capped", 10 * time.Millisecond, 40 * time.Millisecond, 4, 40 * time.Millisecond},
		{"capped after many", 10 * time.Millisecond, 40 * time.Millisecond, 1000, 40 * time.Millisecond},
		{"cap not a power of two", time.Second, time.Minute, 6, 32 * time.Second},
		{"cap between doublings", time.Second, time.Minute, 7, time.Minute},
		{"first wait above the cap", time.Minute, time.Second, 1, time.Second},
		{"large attempt does not overflow", time.Second, time.Hour, 1 << 20, time.Hour},
	}
	const samples = 2000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Deliverer{opts: DeliveryOptions{Backoff: tt.backoff, BackoffMax: tt.max}}
			lo := time.Duration(float64(tt.want) * 0.8)
			hi := time.Duration(float64(tt.want) * 1.2)
			minSeen, maxSeen := time.Duration(1<<62), time.Duration(0)
			for range samples {
				got := d.backoff(tt.attempt)
				if got < lo || got > hi {
					t.Fatalf("backoff(%d) = %s, want %s ±20%% (%s..%s)", tt.attempt, got, tt.want, lo, hi)
				}
				minSeen, maxSeen = min(minSeen, got), max(maxSeen, got)
			}
			// The jitter is spread over the range, not a constant.
			if minSeen > time.Duration(float64(tt.want)*0.85) || maxSeen < time.Duration(float64(tt.want)*1.15) {
				t.Errorf("over %d samples backoff(%d) stayed within %s..%s: want jitter spread over ±20%% of %s",
					samples, tt.attempt, minSeen, maxSeen, tt.want)
			}
		})
	}
}

// TestDelivererLogsDeadLetters: the last failure is logged as an error
// naming the subscriber and the delivery.
func TestDelivererLogsDeadLetters(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	e.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Second,
		Receiver: &fakeReceiver{receive: func(context.Context, *sdk.Signal) error { return errors.New("410 gone") }}})
	e.disp.Emit(context.Background(), "local", loginFailed("alice"))
	run(t, e.newDeliverer(shortOptions()))
	waitFor(t, 10*time.Second, "a dead letter", func() bool {
		return countState(e.rows(t), storage.DeliveryDead) == 1
	})
	log := e.log.String()
	if !strings.Contains(log, "dead letter") || !strings.Contains(log, "subscriber=hook") || !strings.Contains(log, "410 gone") {
		t.Errorf("log does not report the dead letter:\n%s", log)
	}
}
