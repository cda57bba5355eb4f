package signals

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/internal/redact"
)

// DeliveryOptions tune async delivery.
type DeliveryOptions struct {
	// MaxAttempts before a delivery becomes a dead letter.
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles per attempt
	// up to BackoffMax, with ±20% jitter.
	Backoff, BackoffMax time.Duration
	// Lease is how long a claimed delivery is reserved for this host; a host
	// that dies mid-delivery releases it when the lease ends.
	Lease time.Duration
	// Poll is how often the queue is checked when nothing woke the
	// deliverer.
	Poll time.Duration
	// BatchSize is the number of deliveries claimed at once.
	BatchSize int
	// RetainDelivered is how long delivered rows are kept (for `signals
	// list`) before they are purged.
	RetainDelivered time.Duration
	// TracerProvider, if set, gives each attempt a span (asyncSpan).
	TracerProvider trace.TracerProvider
}

// Deliverer moves queued signals to their async subscribers. Run one per
// host; several hosts share the queue safely.
type Deliverer struct {
	store *storage.Store
	disp  *Dispatcher
	opts  DeliveryOptions
	log   *slog.Logger
	owner string

	results *metrics.Counter
}

// NewDeliverer returns a deliverer for the dispatcher's async subscribers.
func NewDeliverer(store *storage.Store, disp *Dispatcher, opts DeliveryOptions, log *slog.Logger, reg *metrics.Registry) *Deliverer {
	return &Deliverer{
		store: store, disp: disp, opts: opts, log: log,
		owner:   uuid.NewString(),
		results: reg.Counter("portcullis_signal_deliveries_total", "Async delivery attempts, by subscriber and result.", "subscriber", "result"),
	}
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	purge := time.NewTicker(time.Minute)
	defer purge.Stop()
	for {
		n, err := d.deliverBatch(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("signal delivery: claiming from the outbox", "error", err)
		}
		if n > 0 {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-d.disp.queued:
		case <-time.After(d.opts.Poll):
		case <-purge.C:
			if _, err := d.store.PurgeDelivered(ctx, time.Now().Add(-d.opts.RetainDelivered), 1000); err != nil {
				d.log.Warn("purging delivered signals", "error", err)
			}
		}
	}
}

// deliverBatch claims and delivers one batch and returns its size.
func (d *Deliverer) deliverBatch(ctx context.Context) (int, error) {
	claimed := time.Now()
	batch, err := d.store.Claim(ctx, d.owner, d.opts.BatchSize, d.opts.Lease)
	if err != nil {
		return 0, err
	}
	leaseEnds := claimed.Add(d.opts.Lease)
	subs := d.disp.Subscriptions()
	// Subscribers are served side by side, each in queue order; one that
	// fails gets the rest of its share back without losing attempts.
	bySub := map[string][]storage.Delivery{}
	for _, del := range batch {
		bySub[del.Subscriber] = append(bySub[del.Subscriber], del)
	}
	var wg sync.WaitGroup
	for name, dels := range bySub {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, del := range dels {
				if ctx.Err() != nil {
					return // the lease runs out and another host (or the next start) delivers
				}
				if time.Until(leaseEnds) < minDeliveryWindow {
					// The lease is nearly over: give the rest back rather
					// than risk another host delivering them too.
					d.release(ctx, dels[i:], time.Now())
					return
				}
				if next, failed := d.deliver(ctx, subs[name], del, leaseEnds); failed {
					d.release(ctx, dels[i+1:], next)
					return
				}
			}
		}()
	}
	wg.Wait()
	return len(batch), nil
}

// release gives claimed deliveries back, due at next, without counting an
// attempt.
func (d *Deliverer) release(ctx context.Context, dels []storage.Delivery, next time.Time) {
	for _, del := range dels {
		if err := d.store.Release(context.WithoutCancel(ctx), del.ID, d.owner, next); err != nil {
			d.log.Error("signal delivery: releasing a delivery", "id", del.ID, "error", err)
		}
	}
}

// minDeliveryWindow is the least lease time left in which a delivery is
// still started.
const minDeliveryWindow = 50 * time.Millisecond

// deliver makes one attempt, which must end by leaseEnds (after that
// another host may claim the delivery). On failure it reports when to try
// again.
func (d *Deliverer) deliver(ctx context.Context, sub *Subscription, del storage.Delivery, leaseEnds time.Time) (next time.Time, failed bool) {
	// Acknowledgements must land even while the host is stopping.
	ackCtx := context.WithoutCancel(ctx)
	if sub == nil || sub.Mode != Async {
		d.results.Inc(del.Subscriber, "dead")
		cause := fmt.Sprintf("subscriber %q is not configured (as async) on this host", del.Subscriber)
		if err := d.store.MarkFailed(ackCtx, del.ID, d.owner, cause, time.Now(), 1); err != nil {
			d.log.Error("signal delivery: recording a failure", "id", del.ID, "error", err)
		}
		return time.Time{}, false
	}
	sig := del.Signal()
	deadline := time.Now().Add(sub.Timeout)
	if leaseEnds.Before(deadline) {
		deadline = leaseEnds
	}
	attempt := del.Attempts + 1
	callCtx, cancel := context.WithDeadline(ctx, deadline)
	callCtx, span := d.asyncSpan(callCtx, sub, &sig, attempt)
	err := sub.Receiver.Receive(callCtx, &sig)
	cancel()
	endDeliverySpan(span, err, attempt >= d.opts.MaxAttempts)
	if err == nil {
		d.results.Inc(sub.Name, "delivered")
		if err := d.store.MarkDelivered(ackCtx, del.ID, d.owner); err != nil {
			d.log.Error("signal delivery: recording a delivery", "id", del.ID, "error", err)
		}
		return time.Time{}, false
	}
	if ctx.Err() != nil {
		return time.Now(), true // stopping: release the rest for the next start
	}
	// The error is logged and stored (last_error, shown by `signals
	// list`): a URL in it, which may carry credentials, is shown redacted.
	cause := redact.URLs(err.Error())
	if attempt >= d.opts.MaxAttempts {
		d.results.Inc(sub.Name, "dead")
		d.log.Error("signal delivery failed for the last time: dead letter", "subscriber", sub.Name, "signal", del.Name, "delivery", del.ID, "attempts", attempt, "error", cause)
	} else {
		d.results.Inc(sub.Name, "failed")
		d.log.Warn("signal delivery failed; will retry", "subscriber", sub.Name, "signal", del.Name, "delivery", del.ID, "attempt", attempt, "error", cause)
	}
	next = time.Now().Add(d.backoff(attempt))
	if err := d.store.MarkFailed(ackCtx, del.ID, d.owner, cause, next, d.opts.MaxAttempts); err != nil {
		d.log.Error("signal delivery: recording a failure", "id", del.ID, "error", err)
	}
	return next, true
}

// backoff is the wait before retry number attempt (1-based).
func (d *Deliverer) backoff(attempt int) time.Duration {
	wait := d.opts.Backoff
	for i := 1; i < attempt && wait < d.opts.BackoffMax; i++ {
		wait *= 2
	}
	wait = min(wait, d.opts.BackoffMax)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(wait) * jitter)
}
