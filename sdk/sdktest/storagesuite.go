package sdktest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// StorageSuite is the conformance suite for sdk.Storage. Every store a
// plugin can be handed runs it: the host's storage on each database it
// supports, the plugin's client of the host over gRPC, and MemoryHost, so
// that a plugin tested against one behaves the same against the others.
//
//	func TestStorageContract(t *testing.T) {
//		sdktest.StorageSuite{New: func(t testing.TB) sdktest.StorageUnderTest {
//			clock := sdktest.NewClock(time.Unix(1e9, 0))
//			h := sdktest.NewMemoryHost()
//			h.SetClock(clock.Now)
//			return sdktest.StorageUnderTest{Storage: h.Storage(), Clock: clock}
//		}}.Run(t)
//	}
type StorageSuite struct {
	// New returns a fresh, empty store for one subtest, and what else it
	// offers. Whatever it starts must stop when t ends.
	New func(t testing.TB) StorageUnderTest
}

// StorageUnderTest is one store for StorageSuite, and the handles that let
// the suite check more of the contract. The checks that need a handle the
// store does not offer are skipped, saying which.
type StorageUnderTest struct {
	// Storage is the store under test, empty.
	Storage sdk.Storage
	// Clock, if set, is the time Storage and the other handles read: the
	// suite advances it to see entries expire.
	Clock *Clock
	// SecondHandle, if set, is another handle on Storage's data, as a
	// second host on the same database has one: increments through both
	// must add up, and of swaps through both exactly one must win.
	SecondHandle sdk.Storage
	// OtherNamespace, if set, is a store on the same data in another
	// namespace (another plugin instance): neither may see the other's
	// entries.
	OtherNamespace sdk.Storage
}

// Run runs the suite as subtests of t, each on a store of its own.
func (s StorageSuite) Run(t *testing.T) {
	checks := []struct {
		name  string
		check func(t *testing.T, u StorageUnderTest)
	}{
		{"GetPutDelete", checkGetPutDelete},
		{"Values", checkValues},
		{"InvalidArguments", checkInvalidArguments},
		{"List", checkList},
		{"LargeList", checkLargeList},
		{"Increment", checkIncrement},
		{"NotACounter", checkNotACounter},
		{"ConcurrentIncrements", checkConcurrentIncrements},
		{"ConcurrentIncrementsFromTwoHandles", checkConcurrentIncrementsFromTwoHandles},
		{"CompareAndSwap", checkCompareAndSwap},
		{"CompareAndSwapCounters", checkCompareAndSwapCounters},
		{"ConcurrentSwaps", checkConcurrentSwaps},
		{"Expiry", checkExpiry},
		{"CounterExpiry", checkCounterExpiry},
		{"Namespaces", checkNamespaces},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			u := s.New(t)
			if u.Storage == nil {
				t.Fatal("StorageSuite.New returned no Storage")
			}
			c.check(t, u)
		})
	}
}

// now is the time of the store under test: its clock, or the wall clock.
func (u StorageUnderTest) now() time.Time {
	if u.Clock != nil {
		return u.Clock.Now()
	}
	return time.Now()
}

// clock returns the store's clock, or skips the test without one.
func (u StorageUnderTest) clock(t *testing.T) *Clock {
	t.Helper()
	if u.Clock == nil {
		t.Skip("skipping: the store under test offers no clock to advance (StorageUnderTest.Clock)")
	}
	return u.Clock
}

// handles returns Storage and, if offered, the second handle on its data.
func (u StorageUnderTest) handles() []sdk.Storage {
	if u.SecondHandle == nil {
		return []sdk.Storage{u.Storage}
	}
	return []sdk.Storage{u.Storage, u.SecondHandle}
}

// sentinels are the errors a plugin tells apart with errors.Is.
var sentinels = []error{sdk.ErrNotFound, sdk.ErrConflict, sdk.ErrInvalidArgument, sdk.ErrPermissionDenied, sdk.ErrUnavailable, sdk.ErrUnimplemented}

// wantErr fails unless err matches want under errors.Is, and no other
// sentinel.
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, want)
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) != (s == want) {
			t.Errorf("%s: errors.Is(%.120q, %v) = %v", what, err, s, s != want)
		}
	}
}

func put(t testing.TB, kv sdk.Storage, key, value string, ttl time.Duration) {
	t.Helper()
	if err := kv.Put(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Put(%.40q): %v", key, err)
	}
}

func get(t testing.TB, kv sdk.Storage, key string) sdk.Entry {
	t.Helper()
	e, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%.40q): %v", key, err)
	}
	if e.Key != key {
		t.Errorf("Get(%.40q) returned the key %.40q", key, e.Key)
	}
	return e
}

// value returns the value at key, which must exist.
func value(t testing.TB, kv sdk.Storage, key string) string {
	t.Helper()
	return string(get(t, kv, key).Value)
}

// absent fails unless key is missing.
func absent(t testing.TB, kv sdk.Storage, key string) {
	t.Helper()
	e, err := kv.Get(context.Background(), key)
	wantErr(t, "Get("+key+")", err, sdk.ErrNotFound)
	if err == nil {
		t.Errorf("Get(%s) = %q, want no entry", key, e.Value)
	}
}

func deleted(t testing.TB, kv sdk.Storage, key string, want bool) {
	t.Helper()
	if ok, err := kv.Delete(context.Background(), key); err != nil || ok != want {
		t.Errorf("Delete(%s) = %v, %v; want %v", key, ok, err, want)
	}
}

func increment(t testing.TB, kv sdk.Storage, key string, delta int64, ttl time.Duration, want int64) {
	t.Helper()
	if n, err := kv.Increment(context.Background(), key, delta, ttl); err != nil || n != want {
		t.Fatalf("Increment(%s, %d) = %d, %v; want %d", key, delta, n, err, want)
	}
}

func swap(t testing.TB, kv sdk.Storage, key string, oldValue, newValue []byte, ttl time.Duration, want bool) {
	t.Helper()
	if ok, err := kv.CompareAndSwap(context.Background(), key, oldValue, newValue, ttl); err != nil || ok != want {
		t.Fatalf("CompareAndSwap(%s, %s → %s) = %v, %v; want %v", key, show(oldValue), show(newValue), ok, err, want)
	}
}

// show prints a value, telling nil from empty.
func show(b []byte) string {
	if b == nil {
		return "nil"
	}
	return strings.ToValidUTF8(string(bytes.ReplaceAll(b, []byte{0}, []byte(`\0`))), "?")
}

// keys lists the keys under prefix, comma-separated.
func keys(t testing.TB, kv sdk.Storage, prefix string) string {
	t.Helper()
	entries, err := kv.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	ks := make([]string, len(entries))
	for i, e := range entries {
		ks[i] = e.Key
	}
	return strings.Join(ks, ",")
}

// expiresIn fails unless e expires ttl after a moment between from and to,
// the store's time before and after the call that set it. A store may keep
// the expiry to the millisecond.
func expiresIn(t testing.TB, what string, e sdk.Entry, ttl time.Duration, from, to time.Time) {
	t.Helper()
	earliest, latest := from.Add(ttl).Add(-time.Millisecond), to.Add(ttl)
	if e.ExpiresAt.Before(earliest) || e.ExpiresAt.After(latest) {
		t.Errorf("%s: expires at %v, want %v after a moment between %v and %v", what, e.ExpiresAt, ttl, from, to)
	}
}

// neverExpires fails unless e has no expiry.
func neverExpires(t testing.TB, what string, e sdk.Entry) {
	t.Helper()
	if !e.ExpiresAt.IsZero() {
		t.Errorf("%s: expires at %v, want never", what, e.ExpiresAt)
	}
}
