package coalesce

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// store is a counter store that is slow enough for batches to form and
// records how many increments reached it.
type store struct {
	mu     sync.Mutex
	counts map[string]int64
	calls  atomic.Int64
	fail   error
}

func (s *store) inc(_ context.Context, key string, n int64) (int64, error) {
	s.calls.Add(1)
	time.Sleep(2 * time.Millisecond)
	if s.fail != nil {
		return 0, s.fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[key] += n
	return s.counts[key], nil
}

func TestEveryCallerGetsItsOwnCount(t *testing.T) {
	s := &store{counts: map[string]int64{}}
	c := New[int64](0)
	const callers = 200
	got := make([]int64, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := add(c, context.Background(), "k", s.inc)
			if err != nil {
				t.Error(err)
			}
			got[i] = n
		}()
	}
	wg.Wait()
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("counts handed out %v..., want exactly 1..%d once each", got[:i+1], callers)
		}
	}
	if s.counts["k"] != callers {
		t.Fatalf("stored count %d, want %d", s.counts["k"], callers)
	}
	if calls := s.calls.Load(); calls >= callers {
		t.Fatalf("%d stored increments for %d concurrent callers: nothing was coalesced", calls, callers)
	}
}

func TestKeysAreIndependentAndErrorsReachEveryCaller(t *testing.T) {
	s := &store{counts: map[string]int64{}}
	c := New[int64](0)
	if n, _ := add(c, context.Background(), "a", s.inc); n != 1 {
		t.Fatalf("a = %d", n)
	}
	if n, _ := add(c, context.Background(), "b", s.inc); n != 1 {
		t.Fatalf("b = %d", n)
	}
	bad := errors.New("database gone")
	failing := &store{counts: map[string]int64{}, fail: bad}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := add(c, context.Background(), "c", failing.inc); !errors.Is(err, bad) {
				t.Errorf("got %v, want the store's error", err)
			}
		}()
	}
	wg.Wait()
}

func TestCancelledCallerStillGetsItsCount(t *testing.T) {
	s := &store{counts: map[string]int64{}}
	c := New[int64](0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := add(c, ctx, "k", s.inc); err != nil || n != 1 {
		t.Fatalf("Add with a cancelled context = %d, %v; want its count, 1", n, err)
	}
	if n, _ := add(c, context.Background(), "k", s.inc); n != 2 {
		t.Fatalf("the next count is %d, want 2", n)
	}
}

// add counts one on key through c and returns the caller's own count.
func add(c *Batcher[int64], ctx context.Context, key string, f Flush[int64]) (int64, error) {
	total, place, err := c.Add(ctx, key, f)
	return total - place.N + place.Index, err
}

// TestBusyKeyGathers: once a key has been written, callers that arrive
// together go in one write, where without the gather period the first of
// them would go alone. A key written for the first time goes at once.
func TestBusyKeyGathers(t *testing.T) {
	c := New[int64](200 * time.Millisecond)
	var flushes []int64
	var mu sync.Mutex
	flush := func(_ context.Context, _ string, n int64) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		flushes = append(flushes, n)
		return n, nil
	}
	start := time.Now()
	if _, p, err := c.Add(context.Background(), "k", flush); err != nil || p.N != 1 {
		t.Fatalf("first write: %+v %v", p, err)
	}
	if took := time.Since(start); took >= 200*time.Millisecond {
		t.Errorf("the first write to a quiet key waited %v", took)
	}
	// The callers arrive together: all of them are running, held at a
	// gate, before any calls Add.
	const callers = 10
	var ready, wg sync.WaitGroup
	gate := make(chan struct{})
	for range callers {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-gate
			if _, _, err := c.Add(context.Background(), "k", flush); err != nil {
				t.Error(err)
			}
		}()
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	// Without the gather period the burst's first caller goes alone and
	// the rest follow in a second write ([1 1 9]). With it, the first
	// write of the burst carries most of them; a caller the scheduler kept
	// from running for a while (a loaded machine) may still follow alone,
	// so the test asks for most, not all.
	if len(flushes) < 2 || flushes[0] != 1 || flushes[1] <= callers/2 || len(flushes) > 3 {
		t.Errorf("writes of %v, want [1 %d] or close to it: the busy key's callers did not go together", flushes, callers)
	}
}
