// Package coalesce batches concurrent writes to the same key.
//
// A counter in host storage costs one round trip per write. Under a burst
// on one key (a brute-force attack on one account, say) most of those round
// trips can be saved: while one write of a key is on its way, the callers
// that arrive meanwhile wait and go together in the next one, as one write
// of n. Each caller learns the batch's result, the batch's size and its own
// place in it, so that a decision made per caller stays exact; nothing is
// held back in memory: a caller returns only after its batch is stored.
//
// A write takes less time than the callers of a busy key take to arrive, so
// on its own the next batch rarely holds more than one or two. A Batcher
// may therefore gather: a write to a key that is busy (written within the
// last hotFor gather periods) first yields to the callers on their way to
// it, for as long as they keep coming and at most the gather
// period, so that they go with it. It is group commit, as databases
// do it: a little latency, only under a burst, for far fewer writes. A
// write to a key that was quiet goes at once.
package coalesce

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// flushTimeout bounds one stored write made for a batch.
const flushTimeout = 5 * time.Second

// idleForget is when a key's queue is dropped from memory.
const idleForget = time.Minute

// hotFor is how many gather periods after its last write a key counts as
// busy.
const hotFor = 10

// Flush stores a batch of n writes to key and returns its result.
type Flush[R any] func(ctx context.Context, key string, n int64) (R, error)

// Batcher coalesces writes. The zero value is not usable; use New. It is
// safe for concurrent use.
type Batcher[R any] struct {
	gather time.Duration
	mu     sync.Mutex
	keys   map[string]*queue[R]
}

type queue[R any] struct {
	flushing  bool
	next      *batch[R]
	lastFlush time.Time
}

type batch[R any] struct {
	flush  Flush[R]
	n      int64
	done   chan struct{}
	result R
	err    error
}

// New returns a Batcher whose writes to a busy key wait gather for more
// callers to join them (0: never wait).
func New[R any](gather time.Duration) *Batcher[R] {
	return &Batcher[R]{gather: gather, keys: map[string]*queue[R]{}}
}

// Place is a caller's place in its batch: the batch held N writes and the
// caller's was the Index-th (1-based), as if they had been stored one by
// one in that order.
type Place struct{ Index, N int64 }

// Add joins key's next batch and returns the batch's result and the
// caller's place in it, once the batch is stored. The batch is stored with
// the flush of the call that opened it, so calls for one key should pass
// equivalent flushes. Add waits for its batch even if ctx ends first (a
// stored batch is bounded by its own timeout): a caller that stopped
// waiting could not tell whether its write was stored.
func (c *Batcher[R]) Add(ctx context.Context, key string, flush Flush[R]) (R, Place, error) {
	c.mu.Lock()
	q := c.keys[key]
	if q == nil {
		q = &queue[R]{}
		c.keys[key] = q
	}
	b := q.next
	if b == nil {
		b = &batch[R]{flush: flush, done: make(chan struct{})}
		q.next = b
	}
	b.n++
	mine := b.n
	lead := !q.flushing
	hot := false
	if lead {
		q.flushing = true
		hot = c.gather > 0 && time.Since(q.lastFlush) < hotFor*c.gather
	}
	if len(c.keys) > 4096 {
		c.forgetIdle()
	}
	c.mu.Unlock()

	if lead {
		// The caller that finds the key idle stores its own batch, without
		// handing it to another goroutine: at once if the key was quiet,
		// after the gather period if it is busy. Batches that gather
		// meanwhile are stored by a goroutine of their own.
		if hot {
			c.wait(q)
		}
		c.store(key, q)
	}
	<-b.done
	return b.result, Place{Index: mine, N: b.n}, b.err
}

// store stores the key's next batch, then hands any later one to a
// goroutine that stores them one after the other.
func (c *Batcher[R]) store(key string, q *queue[R]) {
	if c.flushOne(key, q) {
		go func() {
			for more := true; more; more = c.flushOne(key, q) {
				c.wait(q) // callers arrived during a write: busy
			}
		}()
	}
}

// flushOne stores the key's next batch and reports whether another is
// waiting; when none is, the key is idle again.
func (c *Batcher[R]) flushOne(key string, q *queue[R]) bool {
	c.mu.Lock()
	b := q.next
	if b == nil {
		q.flushing = false
		c.mu.Unlock()
		return false
	}
	q.next = nil
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	b.result, b.err = b.flush(ctx, key, b.n)
	cancel()
	c.mu.Lock()
	q.lastFlush = time.Now()
	more := q.next != nil
	if !more {
		q.flushing = false
	}
	c.mu.Unlock()
	close(b.done)
	return more
}

// idleYields is how many yields in a row that bring no caller may end a
// wait: one is not enough, since a caller just made runnable may not have
// run by the time the scheduler comes back to the waiting write.
const idleYields = 4

// quietShare is the share of the gather period that must also pass
// without a new caller before a wait ends: on a loaded machine a few
// yields can pass before a runnable caller gets a core.
const quietShare = 10

// wait gives the callers on their way to q's next batch time to join it:
// it yields to them for as long as they keep coming (until idleYields
// yields in a row and a tenth of the gather period bring none), at most
// the gather period.
func (c *Batcher[R]) wait(q *queue[R]) {
	now := time.Now()
	deadline, quiet := now.Add(c.gather), c.gather/quietShare
	last, idle, lastArrival := int64(-1), 0, now
	for now.Before(deadline) {
		c.mu.Lock()
		n := int64(0)
		if q.next != nil {
			n = q.next.n
		}
		c.mu.Unlock()
		if n != last {
			last, idle, lastArrival = n, 0, now
		} else if idle++; idle >= idleYields && now.Sub(lastArrival) >= quiet {
			return
		}
		runtime.Gosched()
		now = time.Now()
	}
}

// forgetIdle drops the queues of keys not used for a while; c.mu is held.
func (c *Batcher[R]) forgetIdle() {
	for k, q := range c.keys {
		if !q.flushing && q.next == nil && time.Since(q.lastFlush) > idleForget {
			delete(c.keys, k)
		}
	}
}
