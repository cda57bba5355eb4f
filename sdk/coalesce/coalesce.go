// Package coalesce batches concurrent increments of the same counter.
//
// A counter in host storage costs one round trip per increment. Under a
// burst on one key (a brute-force attack on one account, say) most of
// those round trips can be saved: while one increment of a key is on its
// way, the increments that arrive meanwhile wait and go together in the
// next one. Each caller still gets its own count, as if the increments had
// gone one by one, so a decision made per caller stays exact; nothing is
// held back in memory: a caller returns only after its increment is
// stored.
package coalesce

import (
	"context"
	"sync"
	"time"
)

// flushTimeout bounds one stored increment made for a batch.
const flushTimeout = 5 * time.Second

// idleForget is when a key's queue is dropped from memory.
const idleForget = time.Minute

// Increment stores n increments of key and returns the count after them.
type Increment func(ctx context.Context, key string, n int64) (int64, error)

// Counter coalesces increments. The zero value is not usable; use New. It
// is safe for concurrent use.
type Counter struct {
	mu   sync.Mutex
	keys map[string]*queue
}

type queue struct {
	flushing  bool
	next      *batch
	lastFlush time.Time
}

type batch struct {
	inc    Increment
	n      int64
	done   chan struct{}
	result int64
	err    error
}

// New returns a Counter.
func New() *Counter { return &Counter{keys: map[string]*queue{}} }

// Add counts one on key and returns the count including it, once it is
// stored. The batch it joins is stored with the inc of the call that
// opened the batch, so calls for one key should pass equivalent incs. Add
// waits for its increment even if ctx ends first (a stored batch is bounded
// by its own timeout): a caller that stopped waiting could not tell whether
// it counted, and so could not take its count back.
func (c *Counter) Add(ctx context.Context, key string, inc Increment) (int64, error) {
	c.mu.Lock()
	q := c.keys[key]
	if q == nil {
		q = &queue{}
		c.keys[key] = q
	}
	b := q.next
	if b == nil {
		b = &batch{inc: inc, done: make(chan struct{})}
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

	<-b.done
	if b.err != nil {
		return 0, b.err
	}
	return b.result - b.n + mine, nil
}

// flush stores the key's batches one after the other until none is left.
func (c *Counter) flush(key string, q *queue) {
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
		b.result, b.err = b.inc(ctx, key, b.n)
		cancel()
		c.mu.Lock()
		q.lastFlush = time.Now()
		c.mu.Unlock()
		close(b.done)
	}
}

// forgetIdle drops the queues of keys not used for a while; c.mu is held.
func (c *Counter) forgetIdle() {
	for k, q := range c.keys {
		if !q.flushing && q.next == nil && time.Since(q.lastFlush) > idleForget {
			delete(c.keys, k)
		}
	}
}
