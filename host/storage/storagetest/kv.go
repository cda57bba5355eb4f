package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// clockStart is where the storage suite's clocks start: a whole second, as
// the store keeps expiries to the millisecond.
var clockStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// kvSuite is the SDK's storage suite on the plugin storage of fresh
// databases from newDB: two stores on one database are two hosts, and
// every handle reads the suite's clock.
func kvSuite(newDB func(t testing.TB) Opener) sdktest.StorageSuite {
	return sdktest.StorageSuite{New: func(t testing.TB) sdktest.StorageUnderTest {
		open := newDB(t)
		first, second := open(t), open(t)
		clk := sdktest.NewClock(clockStart)
		return sdktest.StorageUnderTest{
			Storage:        first.KV("suite").WithClock(clk.Now),
			SecondHandle:   second.KV("suite").WithClock(clk.Now),
			OtherNamespace: first.KV("suite-other").WithClock(clk.Now),
			Clock:          clk,
		}
	}}
}

// testKVIncrementWindow: IncrementWindow, the host's own counting call,
// starts the expiry of a counter it creates and never moves a live one's.
func testKVIncrementWindow(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	clk := sdktest.NewClock(clockStart)
	kv := s.KV("window").WithClock(clk.Now)
	expiresAt := func(key string) time.Time {
		t.Helper()
		e, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return e.ExpiresAt
	}
	if _, err := kv.IncrementWindow(ctx, "fw", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	clk.Advance(40 * time.Second)
	if n, err := kv.IncrementWindow(ctx, "fw", 1, time.Minute); err != nil || n != 2 {
		t.Fatalf("IncrementWindow on a live counter = %d, %v", n, err)
	}
	if e := expiresAt("fw"); !e.Equal(start.Add(time.Minute)) {
		t.Fatalf("IncrementWindow moved a live counter's expiry to %v", e)
	}
	clk.Advance(20 * time.Second)
	if n, err := kv.IncrementWindow(ctx, "fw", 1, time.Minute); err != nil || n != 1 {
		t.Fatalf("IncrementWindow after the window = %d, %v; want a new counter at 1", n, err)
	}
	if e := expiresAt("fw"); !e.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("a restarted window expires at %v", e)
	}
	// A counter made by Increment without ttl gets none from a later
	// IncrementWindow either.
	if _, err := kv.Increment(ctx, "plain", 1, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := kv.IncrementWindow(ctx, "plain", 1, time.Minute); err != nil || n != 2 {
		t.Fatalf("IncrementWindow on a counter without expiry = %d, %v", n, err)
	}
	if e := expiresAt("plain"); !e.IsZero() {
		t.Fatalf("IncrementWindow gave a live counter an expiry: %v", e)
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
