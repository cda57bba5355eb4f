package sdktest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The checks of StorageSuite on entries: reading, writing, listing,
// refusing, expiring, and namespaces.

func checkGetPutDelete(t *testing.T, u StorageUnderTest) {
	ctx := t.Context()
	kv := u.Storage
	absent(t, kv, "k")
	put(t, kv, "k", "v1", 0)
	put(t, kv, "k", "v2", 0)
	e := get(t, kv, "k")
	if string(e.Value) != "v2" {
		t.Errorf("Get after two Puts = %q, want the second, v2", e.Value)
	}
	neverExpires(t, "a value put without ttl", e)

	deleted(t, kv, "k", true)
	deleted(t, kv, "k", false)
	deleted(t, kv, "never-put", false)
	absent(t, kv, "k")
	if entries, err := kv.List(ctx, ""); err != nil || len(entries) != 0 {
		t.Errorf("List after deleting everything = %+v, %v; want nothing", entries, err)
	}
}

// checkValues: any key and value within the limits come back as they went,
// from Get and from List, and an existing value is never nil.
func checkValues(t *testing.T, u StorageUnderTest) {
	ctx := t.Context()
	kv := u.Storage
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"binary", "binary", []byte{0, 0xff, 0xfe, '\n', 0}},
		{"empty", "empty", []byte{}},
		{"nil, stored as empty", "nil", nil},
		{"1 MiB", "big", bytes.Repeat([]byte{0, 1, 0xfe, 0xff}, maxValueBytes/4)},
		{"a key of 1024 bytes", strings.Repeat("k", maxKeyBytes), []byte("long key")},
		{"a key of 1024 bytes in fewer characters", strings.Repeat("é", maxKeyBytes/2), []byte("long key")},
		{"non-ASCII key", "ünï/ключ/鍵", []byte("unicode")},
		{"wildcards in a key", `user:%_*?[\`, []byte("plain characters")},
	}
	for _, tt := range tests {
		if err := kv.Put(ctx, tt.key, tt.value, 0); err != nil {
			t.Errorf("%s: Put: %v", tt.name, err)
			continue
		}
		want := tt.value
		if want == nil {
			want = []byte{}
		}
		e, err := kv.Get(ctx, tt.key)
		switch {
		case err != nil:
			t.Errorf("%s: Get: %v", tt.name, err)
		case e.Value == nil:
			t.Errorf("%s: Get returned a nil value for an entry that exists", tt.name)
		case !bytes.Equal(e.Value, want):
			t.Errorf("%s: Get returned %d bytes %.40q, want the %d put", tt.name, len(e.Value), e.Value, len(want))
		}
		listed, err := kv.List(ctx, tt.key)
		switch {
		case err != nil:
			t.Errorf("%s: List: %v", tt.name, err)
		case len(listed) != 1 || listed[0].Key != tt.key:
			t.Errorf("%s: List(key) returned %d entries, want the one", tt.name, len(listed))
		case listed[0].Value == nil:
			t.Errorf("%s: List returned a nil value for an entry that exists", tt.name)
		case !bytes.Equal(listed[0].Value, want):
			t.Errorf("%s: List returned %d bytes %.40q, want the %d put", tt.name, len(listed[0].Value), listed[0].Value, len(want))
		}
	}
}

// checkInvalidArguments: a key that is empty, over 1024 bytes, not UTF-8 or
// with a NUL byte, and a value over 1 MiB, are refused by every call with
// sdk.ErrInvalidArgument, and change nothing.
func checkInvalidArguments(t *testing.T, u StorageUnderTest) {
	ctx := t.Context()
	kv := u.Storage
	put(t, kv, "kept", "v", 0)
	badKeys := map[string]string{
		"an empty key":                          "",
		"a key over 1024 bytes":                 strings.Repeat("k", maxKeyBytes+1),
		"a key over 1024 bytes in 1024 letters": strings.Repeat("k", maxKeyBytes-1) + "é",
		"a key that is not UTF-8":               "k\xff",
		"a key with a NUL byte":                 "k\x00",
	}
	for what, key := range badKeys {
		_, err := kv.Get(ctx, key)
		wantErr(t, "Get with "+what, err, sdk.ErrInvalidArgument)
		wantErr(t, "Put with "+what, kv.Put(ctx, key, []byte("v"), 0), sdk.ErrInvalidArgument)
		_, err = kv.Delete(ctx, key)
		wantErr(t, "Delete with "+what, err, sdk.ErrInvalidArgument)
		_, err = kv.Increment(ctx, key, 1, 0)
		wantErr(t, "Increment with "+what, err, sdk.ErrInvalidArgument)
		_, err = kv.CompareAndSwap(ctx, key, nil, []byte("v"), 0)
		wantErr(t, "CompareAndSwap with "+what, err, sdk.ErrInvalidArgument)
		if what != "an empty key" { // the empty prefix lists everything
			_, err = kv.List(ctx, key)
			wantErr(t, "List with "+what+" as the prefix", err, sdk.ErrInvalidArgument)
		}
	}

	tooBig := make([]byte, maxValueBytes+1)
	wantErr(t, "Put of a value over 1 MiB", kv.Put(ctx, "kept", tooBig, 0), sdk.ErrInvalidArgument)
	_, err := kv.CompareAndSwap(ctx, "kept", []byte("v"), tooBig, 0)
	wantErr(t, "CompareAndSwap to a value over 1 MiB", err, sdk.ErrInvalidArgument)
	_, err = kv.CompareAndSwap(ctx, "new", nil, tooBig, 0)
	wantErr(t, "CompareAndSwap creating a value over 1 MiB", err, sdk.ErrInvalidArgument)

	if got := keys(t, kv, ""); got != "kept" {
		t.Errorf("after refused calls the store lists %.200q, want only kept", got)
	}
	if got := value(t, kv, "kept"); got != "v" {
		t.Errorf("after refused calls kept = %.40q, want v", got)
	}
}

// checkList: List returns the entries under a prefix, taken literally, in
// byte order of their keys, with their values and expiries.
func checkList(t *testing.T, u StorageUnderTest) {
	kv := u.Storage
	for _, k := range []string{"user:b", "user:a", "user:A", "user:%", "user:ü", "user:z", "user_x", "usera", "ip:1", "ünï:1"} {
		put(t, kv, k, k, 0)
	}
	put(t, kv, "user:ttl", "t", time.Hour)
	increment(t, kv, "user:n", 3, 0, 3)

	for prefix, want := range map[string]string{
		"user:": "user:%,user:A,user:a,user:b,user:n,user:ttl,user:z,user:ü",
		"user_": "user_x",
		"user%": "",
		"ünï":   "ünï:1",
		"none":  "",
		"":      "ip:1,user:%,user:A,user:a,user:b,user:n,user:ttl,user:z,user:ü,user_x,usera,ünï:1",
	} {
		if got := keys(t, kv, prefix); got != want {
			t.Errorf("List(%q) = %s, want %s", prefix, got, want)
		}
	}

	entries, err := kv.List(t.Context(), "user:")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		want, expires := e.Key, false
		switch e.Key {
		case "user:n":
			want = "3" // a counter reads as its decimal
		case "user:ttl":
			want, expires = "t", true
		}
		if string(e.Value) != want || e.ExpiresAt.IsZero() == expires {
			t.Errorf("listed %s = %q expiring at %v; want %q, expiring: %v", e.Key, e.Value, e.ExpiresAt, want, expires)
		}
	}
}

// checkLargeList: a List returns every entry, in key order, however many
// there are and however large together: more than fit in one message
// between a plugin and its host (4 MiB), and more entries than a store
// reads at once.
func checkLargeList(t *testing.T, u StorageUnderTest) {
	kv := u.Storage
	var want []string
	for i := range 6 {
		key := fmt.Sprintf("big:%d", i)
		v := bytes.Repeat([]byte{byte('a' + i)}, maxValueBytes)
		if err := kv.Put(t.Context(), key, v, 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, key)
	}
	for i := range 1200 {
		key := fmt.Sprintf("small:%04d", i)
		put(t, kv, key, key, 0)
		want = append(want, key)
	}
	entries, err := kv.List(t.Context(), "")
	if err != nil {
		t.Fatalf("List of %d entries, 6 MiB in all: %v", len(want), err)
	}
	if len(entries) != len(want) {
		t.Fatalf("List returned %d entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		if e.Key != want[i] {
			t.Fatalf("List's entry %d is %s, want %s", i, e.Key, want[i])
		}
		if i < 6 && (len(e.Value) != maxValueBytes || e.Value[0] != byte('a'+i)) {
			t.Errorf("listed %s: %d bytes starting %q, want %d of %q", e.Key, len(e.Value), e.Value[:1], maxValueBytes, rune('a'+i))
		}
		if i >= 6 && string(e.Value) != e.Key {
			t.Errorf("listed %s = %q", e.Key, e.Value)
		}
	}
	if got := keys(t, kv, "small:11"); got != strings.Join(want[6+1100:], ",") {
		t.Errorf("List(small:11) = %s", got)
	}
}

// checkExpiry: an entry lives until its ttl has passed, and then is absent
// to every call; a ttl of zero is no expiry. Each call meets its own
// expired key first, as a store may clear an expired entry when it meets
// it.
func checkExpiry(t *testing.T, u StorageUnderTest) {
	clk := u.clock(t)
	kv := u.Storage
	const ttl = time.Minute
	start := clk.Now()
	for _, key := range []string{"get", "list:expiring", "delete", "swap-from", "swap-create", "text"} {
		put(t, kv, key, "x", ttl)
	}
	increment(t, kv, "counter", 2, ttl, 2)
	put(t, kv, "list:forever", "f", 0)
	put(t, kv, "renewed", "r", ttl)
	put(t, kv, "renewed", "r", 0)
	expiresIn(t, "a value put with a ttl", get(t, kv, "get"), ttl, start, start)
	expiresIn(t, "a counter incremented with a ttl", get(t, kv, "counter"), ttl, start, start)
	neverExpires(t, "a value put again without ttl", get(t, kv, "renewed"))

	const all = "counter,delete,get,list:expiring,list:forever,renewed,swap-create,swap-from,text"
	clk.Advance(ttl - time.Second)
	if got := keys(t, kv, ""); got != all {
		t.Fatalf("List a second before the ttl has passed = %s, want %s", got, all)
	}
	clk.Advance(time.Second)
	if got := keys(t, kv, "list:"); got != "list:forever" {
		t.Errorf("List once the ttl has passed = %s, want list:forever", got)
	}
	absent(t, kv, "get")
	deleted(t, kv, "delete", false)
	swap(t, kv, "swap-from", []byte("x"), []byte("y"), 0, false)
	absent(t, kv, "swap-from")
	swap(t, kv, "swap-create", nil, []byte("again"), 0, true)
	if e := get(t, kv, "swap-create"); string(e.Value) != "again" {
		t.Errorf("created over an expired entry: %q, want again", e.Value)
	}
	// An expired counter, or an expired value, is absent to Increment too.
	increment(t, kv, "counter", 5, 0, 5)
	neverExpires(t, "a counter started again without ttl", get(t, kv, "counter"))
	increment(t, kv, "text", 1, 0, 1)
	if got := keys(t, kv, ""); got != "counter,list:forever,renewed,swap-create,text" {
		t.Errorf("List at the end = %s, want counter,list:forever,renewed,swap-create,text", got)
	}
}

// checkNamespaces: two namespaces on the same data see nothing of each
// other's.
func checkNamespaces(t *testing.T, u StorageUnderTest) {
	if u.OtherNamespace == nil {
		t.Skip("skipping: the store under test offers no second namespace (StorageUnderTest.OtherNamespace)")
	}
	a, b := u.Storage, u.OtherNamespace
	put(t, a, "shared", "a", 0)
	put(t, b, "shared", "b", 0)
	increment(t, a, "count", 2, 0, 2)
	increment(t, b, "count", 1, 0, 1)
	swap(t, a, "lock", nil, []byte("a"), 0, true)
	swap(t, b, "lock", nil, []byte("b"), 0, true)
	put(t, a, "only-a", "x", 0)

	absent(t, b, "only-a")
	deleted(t, b, "only-a", false)
	if got := keys(t, b, ""); got != "count,lock,shared" {
		t.Errorf("the other namespace lists %s, want count,lock,shared", got)
	}
	if got := keys(t, a, ""); got != "count,lock,only-a,shared" {
		t.Errorf("the namespace lists %s, want count,lock,only-a,shared", got)
	}
	for _, kv := range []struct {
		s    sdk.Storage
		want string
	}{{a, "a"}, {b, "b"}} {
		if got := value(t, kv.s, "shared"); got != kv.want {
			t.Errorf("shared = %q, want %q", got, kv.want)
		}
	}
	deleted(t, a, "shared", true)
	if got := value(t, b, "shared"); got != "b" {
		t.Errorf("the other namespace's shared = %q after this one deleted its own, want b", got)
	}
}
