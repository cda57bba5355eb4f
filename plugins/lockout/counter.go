package lockout

import (
	"context"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// flushTimeout bounds one storage increment made for a batch of attempts.
const flushTimeout = 5 * time.Second

// idleForget is when a key's queue is dropped from memory.
const idleForget = time.Minute

// counter increments attempt counters in host storage, coalescing
// concurrent increments of the same key: while one increment of a key is on
// its way to the database, the attempts that arrive meanwhile wait and go
// together in the next one (Increment by n). Each attempt still gets its own
// count, as if they had gone one by one, so the decision per attempt is
// exact; a burst just costs a few database round trips instead of one per
// attempt. Nothing is held back in memory: an attempt is answered only after
// its increment is stored.
type counter struct {
	storage sdk.Storage
	// window is the expiry a counter gets when a batch of n attempts
	// creates it (0: none).
	window func(n int64) time.Duration
	// renew says, for a stored batch whose attempts got the counts first
	// to last, what expiry to give the key afterwards (0: leave it).
	renew func(first, last int64) time.Duration
	mu    sync.Mutex
	keys  map[string]*keyQueue
}

type keyQueue struct {
	flushing  bool
	next      *batch
	lastFlush time.Time
}

type batch struct {
	n      int64
	done   chan struct{}
	result int64
	err    error
}

func newCounter(s sdk.Storage, window func(n int64) time.Duration, renew func(first, last int64) time.Duration) *counter {
	return &counter{storage: s, window: window, renew: renew, keys: map[string]*keyQueue{}}
}

// add counts one attempt on key and returns the count including it. The
// increment keeps a live key's expiry, so that an attempt that is later
// given back leaves no trace; a new counter gets its window, and the expiry
// is renewed afterwards when c.renew says so (attempts refused while
// locked).
func (c *counter) add(ctx context.Context, key string) (int64, error) {
	c.mu.Lock()
	q := c.keys[key]
	if q == nil {
		q = &keyQueue{}
		c.keys[key] = q
	}
	b := q.next
	if b == nil {
		b = &batch{done: make(chan struct{})}
		q.next = b
	}
	b.n++
	mine := b.n
	if !q.flushing {
		q.flushing = true
		go c.flush(key, q)
	}
	if len(c.keys) > 4096 {
		c.forgetIdle()
	}
	c.mu.Unlock()

	select {
	case <-b.done:
	case <-ctx.Done():
		// The increment still happens; this attempt just stops waiting.
		return 0, ctx.Err()
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.result - b.n + mine, nil
}

// flush stores the key's batches one after the other until none is left.
func (c *counter) flush(key string, q *keyQueue) {
	for {
		c.mu.Lock()
		b := q.next
		if b == nil {
			q.flushing = false
			c.mu.Unlock()
			return
		}
		q.next = nil
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		b.result, b.err = c.storage.IncrementWindow(ctx, key, b.n, c.window(b.n))
		if b.err == nil {
			if ttl := c.renew(b.result-b.n+1, b.result); ttl > 0 {
				// An increment by zero only sets the expiry.
				_, b.err = c.storage.Increment(ctx, key, 0, ttl)
			}
		}
		cancel()
		c.mu.Lock()
		q.lastFlush = time.Now()
		c.mu.Unlock()
		close(b.done)
	}
}

// forgetIdle drops the queues of keys not used for a while; c.mu is held.
func (c *counter) forgetIdle() {
	for k, q := range c.keys {
		if !q.flushing && q.next == nil && time.Since(q.lastFlush) > idleForget {
			delete(c.keys, k)
		}
	}
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
