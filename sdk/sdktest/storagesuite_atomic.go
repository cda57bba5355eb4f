package sdktest

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The checks of StorageSuite on the atomic calls: Increment and
// CompareAndSwap.

func checkIncrement(t *testing.T, u StorageUnderTest) {
	kv := u.Storage
	// A missing counter starts at zero; delta may be negative.
	for i, delta := range []int64{1, 1, 5, -2} {
		increment(t, kv, "c", delta, 0, []int64{1, 2, 7, 5}[i])
	}
	increment(t, kv, "zero", 0, 0, 0)
	increment(t, kv, "negative", -3, 0, -3)
	e := get(t, kv, "c")
	if string(e.Value) != "5" {
		t.Errorf("Get of a counter = %q, want its decimal, 5", e.Value)
	}
	neverExpires(t, "a counter incremented without ttl", e)

	// A ttl (re)sets the expiry; none keeps it.
	from := u.now()
	increment(t, kv, "c", 1, time.Hour, 6)
	first := get(t, kv, "c")
	expiresIn(t, "a counter incremented with a ttl of an hour", first, time.Hour, from, u.now())
	increment(t, kv, "c", 1, 0, 7)
	if e := get(t, kv, "c"); !e.ExpiresAt.Equal(first.ExpiresAt) {
		t.Errorf("Increment without ttl moved the expiry from %v to %v", first.ExpiresAt, e.ExpiresAt)
	}
	from = u.now()
	increment(t, kv, "c", 1, 2*time.Hour, 8)
	expiresIn(t, "a counter incremented again with a ttl of two hours", get(t, kv, "c"), 2*time.Hour, from, u.now())

	// A deleted counter starts again at zero.
	deleted(t, kv, "c", true)
	increment(t, kv, "c", 1, 0, 1)
	neverExpires(t, "a counter started again without ttl", get(t, kv, "c"))
}

// checkNotACounter: only Increment makes a counter. Incrementing anything
// else, even a decimal stored with Put, is sdk.ErrInvalidArgument and
// changes nothing.
func checkNotACounter(t *testing.T, u StorageUnderTest) {
	ctx := t.Context()
	kv := u.Storage
	put(t, kv, "text", "abc", time.Hour)
	put(t, kv, "decimal", "5", 0)
	increment(t, kv, "was-counter", 1, 0, 1)
	put(t, kv, "was-counter", "7", 0) // Put replaces a counter with a plain value
	if got := value(t, kv, "was-counter"); got != "7" {
		t.Errorf("Put over a counter: %q, want 7", got)
	}
	for _, key := range []string{"text", "decimal", "was-counter"} {
		before := get(t, kv, key)
		_, err := kv.Increment(ctx, key, 1, time.Minute)
		wantErr(t, "Increment of "+key, err, sdk.ErrInvalidArgument)
		after := get(t, kv, key)
		if string(after.Value) != string(before.Value) || !after.ExpiresAt.Equal(before.ExpiresAt) {
			t.Errorf("a refused Increment changed %s from %q expiring at %v to %q expiring at %v",
				key, before.Value, before.ExpiresAt, after.Value, after.ExpiresAt)
		}
	}
}

func checkConcurrentIncrements(t *testing.T, u StorageUnderTest) {
	incrementConcurrently(t, []sdk.Storage{u.Storage})
}

func checkConcurrentIncrementsFromTwoHandles(t *testing.T, u StorageUnderTest) {
	if u.SecondHandle == nil {
		t.Skip("skipping: the store under test offers no second handle on its data (StorageUnderTest.SecondHandle)")
	}
	incrementConcurrently(t, u.handles())
}

// incrementConcurrently increments one counter from many goroutines spread
// over handles: every value from 1 to the total must be returned once, and
// the counter must end at the total.
func incrementConcurrently(t *testing.T, handles []sdk.Storage) {
	const workers, each = 16, 20
	const total = workers * each
	var seen [total + 1]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		kv := handles[w%len(handles)]
		wg.Go(func() {
			for range each {
				n, err := kv.Increment(t.Context(), "hits", 1, time.Hour)
				if err != nil || n < 1 || n > total {
					t.Errorf("concurrent Increment = %d, %v", n, err)
					return
				}
				seen[n].Add(1)
			}
		})
	}
	wg.Wait()
	for n := 1; n <= total; n++ {
		if c := seen[n].Load(); c != 1 {
			t.Errorf("concurrent increments returned %d %d times, want once", n, c)
		}
	}
	for i, kv := range handles {
		if got := value(t, kv, "hits"); got != strconv.Itoa(total) {
			t.Errorf("handle %d reads the counter as %s after %d increments", i, got, total)
		}
	}
}

func checkCompareAndSwap(t *testing.T, u StorageUnderTest) {
	kv := u.Storage
	// A nil old value creates the key only if it is absent; a lost swap is
	// a result (false), not an error.
	swap(t, kv, "k", nil, []byte("v1"), 0, true)
	swap(t, kv, "k", nil, []byte("v2"), 0, false)
	if got := value(t, kv, "k"); got != "v1" {
		t.Fatalf("k = %q after a lost create, want v1", got)
	}
	neverExpires(t, "a value created without ttl", get(t, kv, "k"))

	// Otherwise it swaps only if the value is the old one, and sets the
	// expiry from ttl (none for zero).
	swap(t, kv, "k", []byte("v2"), []byte("v3"), 0, false)
	if got := value(t, kv, "k"); got != "v1" {
		t.Fatalf("k = %q after a swap from the wrong value, want v1", got)
	}
	from := u.now()
	swap(t, kv, "k", []byte("v1"), []byte("v3"), time.Hour, true)
	expiresIn(t, "a value swapped with a ttl of an hour", get(t, kv, "k"), time.Hour, from, u.now())
	swap(t, kv, "k", []byte("v3"), []byte("v4"), 0, true)
	if e := get(t, kv, "k"); string(e.Value) != "v4" {
		t.Errorf("after a swap: %q, want v4", e.Value)
	} else {
		neverExpires(t, "a value swapped without ttl", e)
	}
	swap(t, kv, "absent", []byte("v1"), []byte("x"), 0, false)
	absent(t, kv, "absent")

	// An empty old value is a value, not "absent".
	swap(t, kv, "absent", []byte{}, []byte("x"), 0, false)
	absent(t, kv, "absent")
	put(t, kv, "empty", "", 0)
	swap(t, kv, "empty", nil, []byte("x"), 0, false)
	swap(t, kv, "empty", []byte{}, []byte("full"), 0, true)
	swap(t, kv, "empty", []byte("full"), []byte{}, 0, true)
	if e := get(t, kv, "empty"); e.Value == nil || len(e.Value) != 0 {
		t.Errorf("swapped to an empty value: %q (nil: %v), want empty", e.Value, e.Value == nil)
	}
	swap(t, kv, "nil", nil, nil, 0, true)
	if e := get(t, kv, "nil"); e.Value == nil || len(e.Value) != 0 {
		t.Errorf("created with a nil value: %q (nil: %v), want empty", e.Value, e.Value == nil)
	}

	// Read, modify, swap: the value Get or List returns is the one to swap
	// from, an empty one too.
	for _, v := range []string{"x", ""} {
		put(t, kv, "rmw", v, 0)
		e := get(t, kv, "rmw")
		swap(t, kv, "rmw", e.Value, append(e.Value, '+'), 0, true)
		if got := value(t, kv, "rmw"); got != v+"+" {
			t.Errorf("after read, modify, swap from %q: %q, want %q", v, got, v+"+")
		}
		put(t, kv, "rmw", v, 0)
		listed, err := kv.List(t.Context(), "rmw")
		if err != nil || len(listed) != 1 {
			t.Fatalf("List(rmw) = %+v, %v", listed, err)
		}
		swap(t, kv, "rmw", listed[0].Value, []byte("listed"), 0, true)
	}
}

// checkCompareAndSwapCounters: a counter compares as its decimal text, and
// stays a counter when swapped to another decimal as Increment writes it;
// whatever is swapped in reads back as it was written.
func checkCompareAndSwapCounters(t *testing.T, u StorageUnderTest) {
	ctx := t.Context()
	kv := u.Storage
	increment(t, kv, "n", 41, 0, 41)
	swap(t, kv, "n", []byte("41"), []byte("42"), 0, true)
	increment(t, kv, "n", 1, 0, 43)
	swap(t, kv, "n", []byte("43"), []byte("-7"), 0, true)
	increment(t, kv, "n", 1, 0, -6)

	// Swapped to anything else, it is a plain value, as written.
	for i, v := range []string{"text", "007", "+8", "-0", "9 ", ""} {
		key := "m" + strconv.Itoa(i)
		increment(t, kv, key, 1, 0, 1)
		swap(t, kv, key, []byte("1"), []byte(v), 0, true)
		if got := value(t, kv, key); got != v {
			t.Errorf("a counter swapped to %q reads %q", v, got)
		}
		_, err := kv.Increment(ctx, key, 1, 0)
		wantErr(t, "Increment of a counter swapped to "+strconv.Quote(v), err, sdk.ErrInvalidArgument)
		swap(t, kv, key, []byte(v), []byte("swapped"), 0, true)
	}

	// A plain decimal stays a plain value when swapped.
	put(t, kv, "p", "5", 0)
	swap(t, kv, "p", []byte("5"), []byte("6"), 0, true)
	_, err := kv.Increment(ctx, "p", 1, 0)
	wantErr(t, "Increment of a decimal from Put, swapped", err, sdk.ErrInvalidArgument)
}

// checkConcurrentSwaps: of many concurrent swaps from the same value,
// through every handle, exactly one wins.
func checkConcurrentSwaps(t *testing.T, u StorageUnderTest) {
	handles := u.handles()
	put(t, u.Storage, "race", "0", 0)
	const racers = 16
	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for i := range racers {
		kv := handles[i%len(handles)]
		mine := "racer-" + strconv.Itoa(i)
		wg.Go(func() {
			ok, err := kv.CompareAndSwap(t.Context(), "race", []byte("0"), []byte(mine), 0)
			if err != nil {
				t.Errorf("concurrent CompareAndSwap: %v", err)
			}
			if ok {
				wins.Add(1)
				winner.Store(mine)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of %d concurrent swaps from the same value won, want 1", n, racers)
	}
	if got := value(t, u.Storage, "race"); got != winner.Load() {
		t.Errorf("after the race the value is %q, the winner wrote %q", got, winner.Load())
	}
}

// checkCounterExpiry: Increment with a ttl (re)starts the expiry, without
// one keeps it, and an expired counter starts again at zero.
func checkCounterExpiry(t *testing.T, u StorageUnderTest) {
	clk := u.clock(t)
	kv := u.Storage
	increment(t, kv, "kept", 1, time.Minute, 1)
	increment(t, kv, "reset", 1, time.Minute, 1)
	clk.Advance(40 * time.Second)
	increment(t, kv, "kept", 1, 0, 2)
	increment(t, kv, "reset", 1, time.Minute, 2)
	clk.Advance(20 * time.Second)
	increment(t, kv, "kept", 1, 0, 1) // expired: it starts again
	if got := value(t, kv, "reset"); got != "2" {
		t.Errorf("a counter whose ttl an Increment restarted = %s, want 2", got)
	}
	clk.Advance(40 * time.Second)
	absent(t, kv, "reset")
	increment(t, kv, "reset", 1, time.Minute, 1)
}
