package lockout

import (
	"context"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/coalesce"
)

// counter counts attempts in host storage: concurrent attempts on one key
// are coalesced (package coalesce), so a burst costs a few database round
// trips instead of one per attempt, and each attempt still gets its own
// exact count.
type counter struct {
	storage sdk.Storage
	batches *coalesce.Counter
	inc     coalesce.Increment
}

// newCounter returns a counter whose increments keep a live key's expiry
// (so that an attempt later given back leaves no trace), give a new
// counter window(n), and afterwards renew the expiry to what renew says for
// the counts first to last (attempts refused while locked), 0 meaning
// leave it.
func newCounter(st sdk.Storage, window func(n int64) time.Duration, renew func(first, last int64) time.Duration) *counter {
	inc := func(ctx context.Context, key string, n int64) (int64, error) {
		v, err := st.IncrementWindow(ctx, key, n, window(n))
		if err == nil {
			if ttl := renew(v-n+1, v); ttl > 0 {
				// An increment by zero only sets the expiry.
				_, err = st.Increment(ctx, key, 0, ttl)
			}
		}
		return v, err
	}
	return &counter{storage: st, batches: coalesce.New(), inc: inc}
}

// add counts one attempt on key and returns the count including it.
func (c *counter) add(ctx context.Context, key string) (int64, error) {
	return c.batches.Add(ctx, key, c.inc)
}

// refund gives one attempt back on key: one atomic decrement, which keeps
// the expiry. If the counter had gone meanwhile (expired, or reset by an
// operator) the decrement made it negative: that is undone, so a counter
// never stays below zero (what is left is a zero that soon expires).
func (c *counter) refund(ctx context.Context, key string) error {
	n, err := c.storage.Increment(ctx, key, -1, 0)
	if err != nil || n >= 0 {
		return err
	}
	_, err = c.storage.Increment(ctx, key, 1, time.Minute)
	return err
}
