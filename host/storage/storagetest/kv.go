package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// clock is a settable time source for expiry tests.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func testKVBasics(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	clk := newClock()
	kv := s.KV("ns1").WithClock(clk.now)
	other := s.KV("ns2").WithClock(clk.now)

	if _, err := kv.Get(ctx, "missing"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if err := kv.Put(ctx, "a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(ctx, "a", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "a"); err != nil || string(e.Value) != "2" || !e.ExpiresAt.IsZero() {
		t.Fatalf("Get after two puts = %+v, %v", e, err)
	}
	if _, err := other.Get(ctx, "a"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("namespaces are not separate: %v", err)
	}
	// Binary values and the empty value survive.
	bin := []byte{0, 1, 2, 0xff, 0}
	if err := kv.Put(ctx, "bin", bin, 0); err != nil {
		t.Fatal(err)
	}
	if e, _ := kv.Get(ctx, "bin"); string(e.Value) != string(bin) {
		t.Fatalf("binary value = %v", e.Value)
	}
	if err := kv.Put(ctx, "empty", []byte{}, 0); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "empty"); err != nil || len(e.Value) != 0 {
		t.Fatalf("empty value = %+v, %v", e, err)
	}

	// Expiry.
	if err := kv.Put(ctx, "ttl", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if e, _ := kv.Get(ctx, "ttl"); !e.ExpiresAt.Equal(clk.now().Add(time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("ExpiresAt = %v, want %v", e.ExpiresAt, clk.now().Add(time.Minute))
	}
	clk.advance(time.Minute)
	if _, err := kv.Get(ctx, "ttl"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("an expired entry is returned: %v", err)
	}

	// Delete reports whether a live entry existed.
	if ok, err := kv.Delete(ctx, "a"); err != nil || !ok {
		t.Fatalf("Delete of a live key = %v, %v", ok, err)
	}
	if ok, err := kv.Delete(ctx, "a"); err != nil || ok {
		t.Fatalf("Delete twice = %v, %v", ok, err)
	}
	if ok, err := kv.Delete(ctx, "ttl"); err != nil || ok {
		t.Fatalf("Delete of an expired key = %v, %v", ok, err)
	}

	// Bad keys and values change nothing.
	for _, key := range []string{"", strings.Repeat("k", storage.MaxKeyBytes+1), "bad\xffutf8"} {
		if err := kv.Put(ctx, key, []byte("v"), 0); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("Put with key %.10q: %v, want ErrInvalidArgument", key, err)
		}
	}
	if err := kv.Put(ctx, "big", make([]byte, storage.MaxValueBytes+1), 0); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("Put of an oversized value: %v", err)
	}
}

func testKVList(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	clk := newClock()
	kv := s.KV("list").WithClock(clk.now)
	for _, k := range []string{"user:b", "user:a", "user:A", "user:%", "user_x", "usera", "ip:1", "ünï:1"} {
		if err := kv.Put(ctx, k, []byte(k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Put(ctx, "user:expired", []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.KV("list-other").Put(ctx, "user:z", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Second)
	keys := func(prefix string) string {
		entries, err := kv.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, e := range entries {
			ks = append(ks, e.Key)
		}
		return strings.Join(ks, ",")
	}
	// LIKE wildcards in the prefix are literal; order is byte order.
	tests := map[string]string{
		"user:": "user:%,user:A,user:a,user:b",
		"user_": "user_x",
		"user%": "",
		"ünï":   "ünï:1",
		"":      "ip:1,user:%,user:A,user:a,user:b,user_x,usera,ünï:1",
	}
	for prefix, want := range tests {
		if got := keys(prefix); got != want {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func testKVIncrement(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	clk := newClock()
	kv := s.KV("inc").WithClock(clk.now)
	for i, want := range []int64{1, 2, 7} {
		delta := []int64{1, 1, 5}[i]
		got, err := kv.Increment(ctx, "c", delta, 0)
		if err != nil || got != want {
			t.Fatalf("Increment #%d = %d, %v, want %d", i, got, err, want)
		}
	}
	if e, err := kv.Get(ctx, "c"); err != nil || string(e.Value) != "7" {
		t.Fatalf("Get of a counter = %+v, %v", e, err)
	}
	// A ttl sets the expiry; a later increment without ttl keeps it.
	if _, err := kv.Increment(ctx, "w", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.advance(30 * time.Second)
	if n, _ := kv.Increment(ctx, "w", 1, 0); n != 2 {
		t.Fatalf("second increment = %d", n)
	}
	clk.advance(30 * time.Second)
	if n, _ := kv.Increment(ctx, "w", 1, 0); n != 1 {
		t.Fatalf("increment after expiry = %d, want a fresh counter at 1", n)
	}
	if e, _ := kv.Get(ctx, "w"); !e.ExpiresAt.IsZero() {
		t.Fatalf("a counter restarted without ttl kept an expiry: %v", e.ExpiresAt)
	}
	// A ttl on a later increment extends the window.
	if _, err := kv.Increment(ctx, "w", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if e, _ := kv.Get(ctx, "w"); !e.ExpiresAt.Equal(clk.now().Add(time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("expiry after increment with ttl = %v", e.ExpiresAt)
	}
	// IncrementWindow starts the expiry of a new counter only.
	if _, err := kv.IncrementWindow(ctx, "fw", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	start := clk.now()
	clk.advance(40 * time.Second)
	if n, err := kv.IncrementWindow(ctx, "fw", 1, time.Minute); err != nil || n != 2 {
		t.Fatalf("IncrementWindow on a live counter = %d, %v", n, err)
	}
	if e, _ := kv.Get(ctx, "fw"); !e.ExpiresAt.Equal(start.Add(time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("IncrementWindow moved a live counter's expiry to %v", e.ExpiresAt)
	}
	clk.advance(20 * time.Second)
	if n, _ := kv.IncrementWindow(ctx, "fw", 1, time.Minute); n != 1 {
		t.Fatalf("IncrementWindow after the window = %d, want a new counter at 1", n)
	}
	if e, _ := kv.Get(ctx, "fw"); !e.ExpiresAt.Equal(clk.now().Add(time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("a restarted window expires at %v", e.ExpiresAt)
	}
	// Incrementing a non-counter is refused and changes nothing.
	if err := kv.Put(ctx, "s", []byte("text"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Increment(ctx, "s", 1, time.Minute); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("Increment of a non-counter: %v", err)
	}
	if e, _ := kv.Get(ctx, "s"); string(e.Value) != "text" || !e.ExpiresAt.IsZero() {
		t.Fatalf("a refused increment changed the entry: %+v", e)
	}
	// Put replaces a counter.
	if err := kv.Put(ctx, "c", []byte("raw"), 0); err != nil {
		t.Fatal(err)
	}
	if e, _ := kv.Get(ctx, "c"); string(e.Value) != "raw" {
		t.Fatalf("Put over a counter = %q", e.Value)
	}
}

func testKVCompareAndSwap(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	clk := newClock()
	kv := s.KV("cas").WithClock(clk.now)
	swap := func(old, new string, oldNil bool) bool {
		t.Helper()
		var o []byte
		if !oldNil {
			o = []byte(old)
		}
		ok, err := kv.CompareAndSwap(ctx, "k", o, []byte(new), 0)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !swap("", "v1", true) {
		t.Fatal("create-if-absent on a missing key failed")
	}
	if swap("", "v2", true) {
		t.Fatal("create-if-absent on an existing key succeeded")
	}
	if swap("wrong", "v2", false) {
		t.Fatal("swap with the wrong old value succeeded")
	}
	if !swap("v1", "v2", false) {
		t.Fatal("swap with the right old value failed")
	}
	if e, _ := kv.Get(ctx, "k"); string(e.Value) != "v2" {
		t.Fatalf("value after swap = %q", e.Value)
	}
	// On a counter the old value is its decimal text.
	if _, err := kv.Increment(ctx, "n", 41, 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := kv.CompareAndSwap(ctx, "n", []byte("41"), []byte("42"), 0); !ok {
		t.Fatal("swap on a counter with its decimal value failed")
	}
	// It is still a counter.
	if n, err := kv.Increment(ctx, "n", 1, 0); err != nil || n != 43 {
		t.Fatalf("Increment after a swap to a decimal = %d, %v; want 43", n, err)
	}
	// An expired entry counts as absent.
	if ok, _ := kv.CompareAndSwap(ctx, "e", nil, []byte("x"), time.Second); !ok {
		t.Fatal("create with ttl failed")
	}
	clk.advance(time.Second)
	if ok, _ := kv.CompareAndSwap(ctx, "e", []byte("x"), []byte("y"), 0); ok {
		t.Fatal("swap of an expired entry succeeded")
	}
	if ok, _ := kv.CompareAndSwap(ctx, "e", nil, []byte("y"), 0); !ok {
		t.Fatal("create-if-absent over an expired entry failed")
	}
	// Of racers swapping from the same value, exactly one wins.
	const racers = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := kv.CompareAndSwap(ctx, "k", []byte("v2"), []byte(fmt.Sprintf("r%d", i)), 0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d racers won the swap, want exactly 1", wins.Load())
	}
}

// testConcurrentIncrements increments one counter from two hosts (two
// separate stores, each with its own connection pool) at once; the total
// must be exact.
func testConcurrentIncrements(t *testing.T, open Opener) {
	ctx := context.Background()
	hosts := []*storage.Store{open(t), open(t)}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for h := range hosts {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kv := hosts[h].KV("shared")
				for range each {
					if _, err := kv.Increment(ctx, "hits", 1, time.Hour); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	want := int64(len(hosts) * workers * each)
	got, err := hosts[1].KV("shared").Increment(ctx, "hits", 0, 0)
	if err != nil || got != want {
		t.Fatalf("after %d concurrent increments from 2 hosts the counter is %d (%v)", want, got, err)
	}
}

func testPurgeExpired(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	kv := s.KV("purge")
	if err := kv.Put(ctx, "old", []byte("x"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(ctx, "keep", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	n, err := s.PurgeExpired(ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v; want 1", n, err)
	}
	if _, err := kv.Get(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
}
