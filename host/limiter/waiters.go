package limiter

import (
	"context"
	"sync"
	"time"
)

// waiters lets attempts that found a counter full of attempts in flight
// wait, in line, for one to end. Each end on this host wakes the first in
// line on each of its counters. Room made on another host wakes nobody
// here, so someone must look for it in the database: only the first in
// line does, for all of them, every poll interval. A counter that 30
// attempts wait on then costs one look per interval rather than 30 (on a
// busy host the looks were most of what a waiting login cost).
type waiters struct {
	mu     sync.Mutex
	queues map[string][]*waiter
}

func newWaiters() *waiters { return &waiters{queues: map[string][]*waiter{}} }

// waiter is one attempt's place in line on a counter. It keeps that place
// across its rounds of looking (a poll does not send it to the back);
// being woken by an end takes it out of line, and its next wait joins
// again at the back.
type waiter struct {
	w      *waiters
	key    string
	queued bool          // in w.queues[key]; guarded by w.mu
	wake   chan struct{} // an attempt on key ended here: look now
	lead   chan struct{} // became first in line: start polling
}

// join returns a waiter on key that is not yet in line; its first wait
// puts it there.
func (w *waiters) join(key string) *waiter {
	return &waiter{w: w, key: key, wake: make(chan struct{}, 1), lead: make(chan struct{}, 1)}
}

// wait blocks until an attempt on its key ends here (woken), or, while it
// is first in line, poll passes; or until max passes or ctx ends (then
// ctx's error, and it has left the line). It reports whether it was woken
// by an end, after which room is likely.
func (t *waiter) wait(ctx context.Context, poll, max time.Duration) (bool, error) {
	t.w.mu.Lock()
	if !t.queued {
		t.w.queues[t.key] = append(t.w.queues[t.key], t)
		t.queued = true
	}
	first := t.w.queues[t.key][0] == t
	if !first {
		// A call to lead left over from an earlier place in line.
		select {
		case <-t.lead:
		default:
		}
	}
	t.w.mu.Unlock()

	var polls <-chan time.Time
	if first {
		pt := time.NewTimer(poll)
		defer pt.Stop()
		polls = pt.C
	}
	mt := time.NewTimer(max)
	defer mt.Stop()
	for {
		select {
		case <-t.wake:
			return true, nil
		case <-t.lead:
			if polls == nil {
				pt := time.NewTimer(poll)
				defer pt.Stop()
				polls = pt.C
			}
		case <-polls:
			return false, nil
		case <-mt.C:
			return false, nil
		case <-ctx.Done():
			t.leave()
			return false, ctx.Err()
		}
	}
}

// leave takes t out of line, if it is in it; a waiter that becomes first
// in line is told to poll.
func (t *waiter) leave() {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	if !t.queued {
		return
	}
	t.queued = false
	q := t.w.queues[t.key]
	for i, x := range q {
		if x == t {
			q = append(q[:i:i], q[i+1:]...)
			if i == 0 && len(q) > 0 {
				signal(q[0].lead)
			}
			break
		}
	}
	t.w.set(t.key, q)
}

// wakeOne wakes the first in line on key, if any, taking it out of line;
// the next is told to poll.
func (w *waiters) wakeOne(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queues[key]
	if len(q) == 0 {
		return
	}
	q[0].queued = false
	signal(q[0].wake)
	q = q[1:]
	if len(q) > 0 {
		signal(q[0].lead)
	}
	w.set(key, q)
}

// set stores key's line, forgetting it when it is empty; w.mu is held.
func (w *waiters) set(key string, q []*waiter) {
	if len(q) == 0 {
		delete(w.queues, key)
	} else {
		w.queues[key] = q
	}
}

// signal sends on a channel of one place without blocking: a signal
// already pending says the same.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
