package limiter

import (
	"context"
	"sync"
	"time"
)

// waiters lets attempts that found a counter full of attempts in flight
// wait for one to end on this host. Each end wakes one waiter of each of
// its counters (the one that has waited longest); a waiter also looks again
// after its own timeout, which finds attempts that ended on another host.
type waiters struct {
	mu     sync.Mutex
	queues map[string][]chan struct{}
}

func newWaiters() *waiters { return &waiters{queues: map[string][]chan struct{}{}} }

// wait blocks until an attempt on key ends here, d passes or ctx ends
// (then ctx's error).
func (w *waiters) wait(ctx context.Context, key string, d time.Duration) error {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.queues[key] = append(w.queues[key], ch)
	w.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	w.remove(key, ch)
	return ctx.Err()
}

func (w *waiters) remove(key string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queues[key]
	for i, c := range q {
		if c == ch {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(w.queues, key)
	} else {
		w.queues[key] = q
	}
}

// wakeOne wakes the longest waiter on key, if any.
func (w *waiters) wakeOne(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queues[key]
	if len(q) == 0 {
		return
	}
	q[0] <- struct{}{}
	if len(q) == 1 {
		delete(w.queues, key)
	} else {
		w.queues[key] = q[1:]
	}
}
