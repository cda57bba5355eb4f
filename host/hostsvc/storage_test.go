package hostsvc_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func testGetPutDelete(t *testing.T, db database) {
	ctx := t.Context()
	kv := newHost(t, db).storage(t, "kv")

	_, err := kv.Get(ctx, "k")
	wantErr(t, "Get of a missing key", err, sdk.ErrNotFound)

	put(t, kv, "k", "v1", 0)
	put(t, kv, "k", "v2", 0)
	if e, err := kv.Get(ctx, "k"); err != nil || e.Key != "k" || string(e.Value) != "v2" || !e.ExpiresAt.IsZero() {
		t.Fatalf("Get after two Puts = %+v, %v; want v2 without expiry", e, err)
	}

	// Any bytes up to the limit come back as they went.
	big := bytes.Repeat([]byte("0123456789abcdef"), storage.MaxValueBytes/16)
	for key, value := range map[string][]byte{
		"binary":    {0, 0xff, 0xfe, '\n', 0},
		"big":       big,
		"ünï/ключ":  []byte("unicode key"),
		"user:%_*?": []byte("wildcards in a key are plain characters"),
	} {
		if err := kv.Put(ctx, key, value, 0); err != nil {
			t.Fatalf("Put(%q, %d bytes): %v", key, len(value), err)
		}
		if e, err := kv.Get(ctx, key); err != nil || !bytes.Equal(e.Value, value) {
			t.Errorf("Get(%q) = %d bytes, %v; want the %d bytes put", key, len(e.Value), err, len(value))
		}
	}

	// Malformed requests are ErrInvalidArgument on the plugin's side, and
	// change nothing.
	err = kv.Put(ctx, "k", make([]byte, storage.MaxValueBytes+1), 0)
	wantErr(t, "Put of an oversized value", err, sdk.ErrInvalidArgument)
	for _, key := range []string{"", strings.Repeat("k", storage.MaxKeyBytes+1)} {
		_, err := kv.Get(ctx, key)
		wantErr(t, "Get with a bad key", err, sdk.ErrInvalidArgument)
		err = kv.Put(ctx, key, []byte("v"), 0)
		wantErr(t, "Put with a bad key", err, sdk.ErrInvalidArgument)
		_, err = kv.Delete(ctx, key)
		wantErr(t, "Delete with a bad key", err, sdk.ErrInvalidArgument)
		_, err = kv.Increment(ctx, key, 1, 0)
		wantErr(t, "Increment with a bad key", err, sdk.ErrInvalidArgument)
		_, err = kv.CompareAndSwap(ctx, key, nil, []byte("v"), 0)
		wantErr(t, "CompareAndSwap with a bad key", err, sdk.ErrInvalidArgument)
	}
	_, err = kv.List(ctx, strings.Repeat("p", storage.MaxKeyBytes+1))
	wantErr(t, "List with an oversized prefix", err, sdk.ErrInvalidArgument)
	if got := value(t, kv, "k"); got != "v2" {
		t.Fatalf("after refused requests k = %q, want v2", got)
	}

	if ok, err := kv.Delete(ctx, "k"); err != nil || !ok {
		t.Fatalf("Delete = %v, %v; want true", ok, err)
	}
	if ok, err := kv.Delete(ctx, "k"); err != nil || ok {
		t.Fatalf("Delete twice = %v, %v; want false", ok, err)
	}
	_, err = kv.Get(ctx, "k")
	wantErr(t, "Get after Delete", err, sdk.ErrNotFound)
}

func testExpiry(t *testing.T, db database) {
	ctx := t.Context()
	kv := newHost(t, db).storage(t, "expiry")

	before := time.Now()
	put(t, kv, "hour", "h", time.Hour)
	after := time.Now()
	if e := expiresAt(t, kv, "hour"); e.Before(before.Add(time.Hour).Truncate(time.Millisecond)) || e.After(after.Add(time.Hour)) {
		t.Fatalf("Put with a ttl of an hour between %v and %v expires at %v", before, after, e)
	}

	// Everything written with a short ttl is gone once it has passed.
	const ttl = 300 * time.Millisecond
	put(t, kv, "forever", "f", 0)
	put(t, kv, "short", "s", ttl)
	if _, err := kv.Increment(ctx, "counter", 2, ttl); err != nil {
		t.Fatal(err)
	}
	if ok, err := kv.CompareAndSwap(ctx, "created", nil, []byte("c"), ttl); err != nil || !ok {
		t.Fatalf("CompareAndSwap creating a key = %v, %v", ok, err)
	}
	gone := time.Now().Add(ttl)
	time.Sleep(time.Until(gone) + 20*time.Millisecond)

	for _, key := range []string{"short", "counter", "created"} {
		_, err := kv.Get(ctx, key)
		wantErr(t, "Get of expired "+key, err, sdk.ErrNotFound)
	}
	if got := keys(t, kv, ""); got != "forever,hour" {
		t.Errorf("List after expiry = %s, want forever,hour", got)
	}
	if ok, err := kv.Delete(ctx, "short"); err != nil || ok {
		t.Errorf("Delete of an expired key = %v, %v; want false", ok, err)
	}
	if ok, err := kv.CompareAndSwap(ctx, "short", []byte("s"), []byte("x"), 0); err != nil || ok {
		t.Errorf("CompareAndSwap against an expired value = %v, %v; want false", ok, err)
	}
	if ok, err := kv.CompareAndSwap(ctx, "created", nil, []byte("again"), 0); err != nil || !ok {
		t.Errorf("CompareAndSwap creating over an expired key = %v, %v; want true", ok, err)
	}
	// An expired counter starts again from zero, and with the new ttl.
	if n, err := kv.Increment(ctx, "counter", 5, 0); err != nil || n != 5 {
		t.Errorf("Increment of an expired counter = %d, %v; want 5", n, err)
	}
	if e := expiresAt(t, kv, "counter"); !e.IsZero() {
		t.Errorf("a counter restarted without ttl expires at %v", e)
	}
}

func testList(t *testing.T, db database) {
	ctx := t.Context()
	kv := newHost(t, db).storage(t, "list")
	for _, k := range []string{"user:b", "user:a", "user:A", "user:%", "user_x", "usera", "ip:1", "ünï:1"} {
		put(t, kv, k, k, 0)
	}
	put(t, kv, "user:ttl", "t", time.Hour)
	if _, err := kv.Increment(ctx, "user:n", 3, 0); err != nil {
		t.Fatal(err)
	}

	// LIKE wildcards in a prefix are literal; the order is byte order.
	for prefix, want := range map[string]string{
		"user:": "user:%,user:A,user:a,user:b,user:n,user:ttl",
		"user_": "user_x",
		"user%": "",
		"ünï":   "ünï:1",
		"none":  "",
		"":      "ip:1,user:%,user:A,user:a,user:b,user:n,user:ttl,user_x,usera,ünï:1",
	} {
		if got := keys(t, kv, prefix); got != want {
			t.Errorf("List(%q) = %s, want %s", prefix, got, want)
		}
	}

	// Entries carry their value (a counter's is its decimal) and expiry.
	entries, err := kv.List(ctx, "user:")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		want, expires := e.Key, false
		switch e.Key {
		case "user:n":
			want = "3"
		case "user:ttl":
			want, expires = "t", true
		}
		if string(e.Value) != want || e.ExpiresAt.IsZero() == expires {
			t.Errorf("listed %s = %q expiring at %v; want %q, expiring: %v", e.Key, e.Value, e.ExpiresAt, want, expires)
		}
	}
}

func testIncrement(t *testing.T, db database) {
	ctx := t.Context()
	kv := newHost(t, db).storage(t, "increment")
	for i, delta := range []int64{1, 1, 5, -2} {
		want := []int64{1, 2, 7, 5}[i]
		if n, err := kv.Increment(ctx, "c", delta, 0); err != nil || n != want {
			t.Fatalf("Increment #%d by %d = %d, %v; want %d", i, delta, n, err, want)
		}
	}
	if e, err := kv.Get(ctx, "c"); err != nil || string(e.Value) != "5" || !e.ExpiresAt.IsZero() {
		t.Fatalf("Get of a counter = %+v, %v; want 5 without expiry", e, err)
	}

	// A ttl (re)sets the expiry; no ttl keeps it.
	increment(t, kv.Increment, "c", time.Hour, 6)
	first := expiresAt(t, kv, "c")
	if time.Until(first) < 59*time.Minute {
		t.Fatalf("Increment with a ttl of an hour: expires at %v", first)
	}
	increment(t, kv.Increment, "c", 0, 7)
	if e := expiresAt(t, kv, "c"); !e.Equal(first) {
		t.Errorf("Increment without ttl moved the expiry from %v to %v", first, e)
	}
	increment(t, kv.Increment, "c", 2*time.Hour, 8)
	if e := expiresAt(t, kv, "c"); e.Sub(first) < 59*time.Minute {
		t.Errorf("Increment with a ttl of two hours: expires at %v, was %v", e, first)
	}

	// Only counters count: a value from Put, even a decimal, is refused
	// and left as it is.
	put(t, kv, "text", "abc", 0)
	put(t, kv, "decimal", "5", 0)
	for _, key := range []string{"text", "decimal"} {
		_, err := kv.Increment(ctx, key, 1, 0)
		wantErr(t, "Increment of "+key, err, sdk.ErrInvalidArgument)
	}
	if a, b := value(t, kv, "text"), value(t, kv, "decimal"); a != "abc" || b != "5" {
		t.Errorf("after refused increments: text = %q, decimal = %q", a, b)
	}
}

// Increments from many goroutines on two host processes, each serving the
// same instance to a plugin of its own, add up exactly: every value from 1
// to the total is returned once.
func testConcurrentIncrements(t *testing.T, db database) {
	const hosts, workers, each = 2, 16, 20
	const total = hosts * workers * each
	var kvs []sdk.Storage
	for range hosts {
		kvs = append(kvs, newHost(t, db).storage(t, "counters"))
	}
	for _, tt := range []struct {
		name string
		inc  func(kv sdk.Storage) incrementFunc
	}{
		{"Increment", func(kv sdk.Storage) incrementFunc { return kv.Increment }},
	} {
		var seen [total + 1]atomic.Int32
		var wg sync.WaitGroup
		for w := range hosts * workers {
			inc := tt.inc(kvs[w%hosts])
			wg.Go(func() {
				for range each {
					n, err := inc(t.Context(), tt.name, 1, time.Hour)
					if err != nil || n < 1 || n > total {
						t.Errorf("%s = %d, %v", tt.name, n, err)
						return
					}
					seen[n].Add(1)
				}
			})
		}
		wg.Wait()
		for n := 1; n <= total; n++ {
			if c := seen[n].Load(); c != 1 {
				t.Errorf("%s returned %d %d times, want once", tt.name, n, c)
			}
		}
		if got := value(t, kvs[0], tt.name); got != strconv.Itoa(total) {
			t.Errorf("%s: counter = %s after %d increments", tt.name, got, total)
		}
	}
}

func testCompareAndSwap(t *testing.T, db database) {
	ctx := t.Context()
	kv := newHost(t, db).storage(t, "cas")
	cas := func(key string, oldValue, newValue []byte, ttl time.Duration, want bool) {
		t.Helper()
		if ok, err := kv.CompareAndSwap(ctx, key, oldValue, newValue, ttl); err != nil || ok != want {
			t.Fatalf("CompareAndSwap(%q, %q → %q) = %v, %v; want %v", key, oldValue, newValue, ok, err, want)
		}
	}
	absent := func(key string) {
		t.Helper()
		_, err := kv.Get(ctx, key)
		wantErr(t, key, err, sdk.ErrNotFound)
	}

	// A nil old value creates the key only if it is absent; a lost swap is
	// a result (false), not an error.
	cas("k", nil, []byte("v1"), 0, true)
	cas("k", nil, []byte("v2"), 0, false)
	if got := value(t, kv, "k"); got != "v1" {
		t.Fatalf("k = %q after a lost create, want v1", got)
	}

	// Otherwise it swaps only if the value is still the old one, and sets
	// the expiry from ttl (none for zero).
	cas("k", []byte("v2"), []byte("v3"), 0, false)
	cas("k", []byte("v1"), []byte("v3"), time.Hour, true)
	if e := expiresAt(t, kv, "k"); time.Until(e) < 59*time.Minute {
		t.Errorf("swap with a ttl of an hour: expires at %v", e)
	}
	cas("k", []byte("v3"), []byte("v4"), 0, true)
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value) != "v4" || !e.ExpiresAt.IsZero() {
		t.Errorf("after a swap without ttl: %+v, %v; want v4 without expiry", e, err)
	}
	cas("absent", []byte("v1"), []byte("x"), 0, false)
	absent("absent")

	// An empty old value is a value, not "absent" (protobuf sends both as
	// nothing; the wire keeps them apart).
	cas("absent", []byte{}, []byte("x"), 0, false)
	absent("absent")
	put(t, kv, "empty", "", 0)
	cas("empty", nil, []byte("x"), 0, false)
	cas("empty", []byte{}, []byte("full"), 0, true)
	cas("empty", []byte("full"), []byte{}, 0, true)
	if e, err := kv.Get(ctx, "empty"); err != nil || len(e.Value) != 0 {
		t.Errorf("swapped to an empty value: %+v, %v", e, err)
	}

	// A counter swapped to a decimal stays a counter; to anything else it
	// becomes a plain value. A decimal from Put is a plain value.
	increment(t, kv.Increment, "n", 0, 1)
	cas("n", []byte("1"), []byte("42"), 0, true)
	increment(t, kv.Increment, "n", 0, 43)
	cas("n", []byte("43"), []byte("text"), 0, true)
	_, err := kv.Increment(ctx, "n", 1, 0)
	wantErr(t, "Increment of a counter swapped to text", err, sdk.ErrInvalidArgument)
	put(t, kv, "p", "5", 0)
	cas("p", []byte("5"), []byte("6"), 0, true)
	_, err = kv.Increment(ctx, "p", 1, 0)
	wantErr(t, "Increment of a decimal from Put, swapped", err, sdk.ErrInvalidArgument)

	// Of many concurrent swaps from the same value, exactly one wins.
	put(t, kv, "race", "0", 0)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ok, err := kv.CompareAndSwap(ctx, "race", []byte("0"), []byte{'a' + byte(i)}, 0)
			if err != nil {
				t.Errorf("concurrent CompareAndSwap: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of 16 concurrent swaps from the same value won, want 1", n)
	}

	// Read, modify, swap: the value Get returns is the one to swap from.
	put(t, kv, "rmw", "x", 0)
	e, err := kv.Get(ctx, "rmw")
	if err != nil {
		t.Fatal(err)
	}
	cas("rmw", e.Value, append(e.Value, '+'), 0, true)
	if got := value(t, kv, "rmw"); got != "x+" {
		t.Errorf("after read, modify, swap: %q, want x+", got)
	}
	// Also from an empty value, which Get and List return as empty, not
	// nil (nil would ask to swap only if the key were absent).
	put(t, kv, "rmw-empty", "", 0)
	if e, err = kv.Get(ctx, "rmw-empty"); err != nil || e.Value == nil {
		t.Fatalf("Get of an empty value: %+v, %v; want a non-nil empty value", e, err)
	}
	cas("rmw-empty", e.Value, append(e.Value, '+'), 0, true)
	put(t, kv, "rmw-empty", "", 0)
	listed, err := kv.List(ctx, "rmw-empty")
	if err != nil || len(listed) != 1 || listed[0].Value == nil {
		t.Fatalf("List of an empty value: %+v, %v; want one entry with a non-nil empty value", listed, err)
	}
	cas("rmw-empty", listed[0].Value, []byte("+"), 0, true)
}

// testInvalidKeys: a key protobuf cannot carry is refused as an invalid
// argument on the plugin's side, by every call that takes one.
func testInvalidKeys(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	kv := h.storage(t, "keys")
	bad := "k\xff"
	_, err := kv.Get(ctx, bad)
	wantErr(t, "Get", err, sdk.ErrInvalidArgument)
	wantErr(t, "Put", kv.Put(ctx, bad, []byte("v"), 0), sdk.ErrInvalidArgument)
	_, err = kv.Delete(ctx, bad)
	wantErr(t, "Delete", err, sdk.ErrInvalidArgument)
	_, err = kv.List(ctx, bad)
	wantErr(t, "List", err, sdk.ErrInvalidArgument)
	_, err = kv.Increment(ctx, bad, 1, 0)
	wantErr(t, "Increment", err, sdk.ErrInvalidArgument)
	_, err = kv.CompareAndSwap(ctx, bad, nil, []byte("v"), 0)
	wantErr(t, "CompareAndSwap", err, sdk.ErrInvalidArgument)
	_, err = h.plugin(t, "users", role{authenticator: true}).Users().LookupUser(ctx, bad)
	wantErr(t, "LookupUser", err, sdk.ErrInvalidArgument)
	if got := keys(t, kv, ""); got != "" {
		t.Errorf("refused calls stored keys: %s", got)
	}
}

func testNamespaces(t *testing.T, db database) {
	ctx := t.Context()
	h := newHost(t, db)
	// "alpha" is a prefix of "alphabet": namespaces must not be prefixes.
	names := []string{"alpha", "alphabet", "beta"}
	kvs := map[string]sdk.Storage{}
	for i, name := range names {
		kv := h.storage(t, name)
		kvs[name] = kv
		put(t, kv, "shared", name, 0)
		increment(t, kv.Increment, "count", 0, 1)
		if i == 0 {
			increment(t, kv.Increment, "count", 0, 2)
		}
		if ok, err := kv.CompareAndSwap(ctx, "lock", nil, []byte(name), 0); err != nil || !ok {
			t.Fatalf("%s: create-if-absent of a key other instances hold = %v, %v", name, ok, err)
		}
	}
	put(t, kvs["alpha"], "only-alpha", "a", 0)

	for _, name := range names {
		kv := kvs[name]
		want := "count,lock,shared"
		if name == "alpha" {
			want = "count,lock,only-alpha,shared"
		}
		if got := keys(t, kv, ""); got != want {
			t.Errorf("%s lists %s, want %s", name, got, want)
		}
		if got := value(t, kv, "shared"); got != name {
			t.Errorf("%s reads shared = %q", name, got)
		}
	}
	if got := value(t, kvs["beta"], "count"); got != "1" {
		t.Errorf("beta's count = %s after alpha counted to 2", got)
	}
	_, err := kvs["alphabet"].Get(ctx, "only-alpha")
	wantErr(t, "alphabet reading alpha's key", err, sdk.ErrNotFound)
	if ok, err := kvs["beta"].Delete(ctx, "only-alpha"); err != nil || ok {
		t.Errorf("beta deleting alpha's key = %v, %v; want false", ok, err)
	}
	if ok, err := kvs["alpha"].Delete(ctx, "shared"); err != nil || !ok {
		t.Fatalf("alpha deleting its key = %v, %v", ok, err)
	}
	if got := value(t, kvs["beta"], "shared"); got != "beta" {
		t.Errorf("beta's shared = %q after alpha deleted its own", got)
	}

	// The same instance on another host process has the same namespace.
	again := newHost(t, db).storage(t, "alpha")
	if got := keys(t, again, ""); got != "count,lock,only-alpha" {
		t.Errorf("alpha on a second host lists %s", got)
	}
}

// incrementFunc is sdk.Storage's Increment.
type incrementFunc func(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)

// increment adds one to key with inc and wants the counter to be want.
func increment(t testing.TB, inc incrementFunc, key string, ttl time.Duration, want int64) {
	t.Helper()
	if n, err := inc(context.Background(), key, 1, ttl); err != nil || n != want {
		t.Fatalf("incrementing %s = %d, %v; want %d", key, n, err, want)
	}
}

func put(t testing.TB, kv sdk.Storage, key, value string, ttl time.Duration) {
	t.Helper()
	if err := kv.Put(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func value(t testing.TB, kv sdk.Storage, key string) string {
	t.Helper()
	e, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(e.Value)
}

func expiresAt(t testing.TB, kv sdk.Storage, key string) time.Time {
	t.Helper()
	e, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return e.ExpiresAt
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
