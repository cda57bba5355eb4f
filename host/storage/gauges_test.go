package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func TestOutboxStats(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		st, err := d.store.OutboxStats(ctx)
		if err != nil || st != (storage.OutboxStats{}) {
			t.Fatalf("empty outbox: %+v %v", st, err)
		}
		old := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		for i, at := range []time.Time{old, old.Add(time.Minute), old.Add(2 * time.Minute), old.Add(3 * time.Minute)} {
			sig := sdk.Signal{ID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Name: "user_logged_in", Sender: "local", Time: at, Args: []byte("{}")}
			if err := d.store.Enqueue(ctx, sig, []string{"hook"}); err != nil {
				t.Fatal(err)
			}
		}
		// The oldest is delivered, the next given up on: two wait, the
		// oldest of them from old+2m.
		got, err := d.store.Claim(ctx, "host", 2, time.Minute)
		if err != nil || len(got) != 2 {
			t.Fatalf("claim: %v %v", got, err)
		}
		if err := d.store.MarkDelivered(ctx, got[0].ID, "host"); err != nil {
			t.Fatal(err)
		}
		if err := d.store.MarkFailed(ctx, got[1].ID, "host", "refused", time.Now(), 1); err != nil {
			t.Fatal(err)
		}
		st, err = d.store.OutboxStats(ctx)
		want := storage.OutboxStats{Pending: 2, OldestPending: old.Add(2 * time.Minute).UTC(), Dead: 1}
		if err != nil || st != want {
			t.Fatalf("OutboxStats = %+v, %v; want %+v", st, err, want)
		}
	})
}

func TestLockedCounters(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		hour := []storage.CooloffStep{{Cooloff: time.Hour}}
		for _, c := range []struct {
			ns, key  string
			failures int
			lockAt   int64
			cooloff  []storage.CooloffStep
		}{
			{"a", "k1", 1, 3, hour},
			{"a", "k2", 3, 3, hour}, // locked
			{"a", "k3", 4, 3, nil},  // locked, no expiry
			{"a", "k4", 5, 0, nil},  // never locks
			{"b", "k1", 3, 3, hour}, // locked
			{"c", "k1", 9, 3, hour}, // not asked for
			{"a", "gone", 5, 3, []storage.CooloffStep{{Cooloff: time.Millisecond}}},
		} {
			counter := storage.AttemptCounter{Key: c.key, LockAt: c.lockAt, Cooloffs: c.cooloff}
			for range c.failures {
				if _, err := d.store.Attempts(c.ns).Settle(ctx, []storage.AttemptCounter{counter}, storage.Settlement{ID: "x", Failed: true}); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(5 * time.Millisecond) // "gone" expires
		got, err := d.store.LockedCounters(ctx, []string{"a", "b", "empty"})
		if err != nil || len(got) != 2 || got["a"] != 2 || got["b"] != 1 {
			t.Fatalf("LockedCounters = %v, %v; want a:2 b:1", got, err)
		}
		if got, err := d.store.LockedCounters(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("no namespaces: %v, %v", got, err)
		}
	})
}
