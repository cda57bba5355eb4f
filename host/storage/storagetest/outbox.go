package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func signal(i int) sdk.Signal {
	return sdk.Signal{
		ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: "user_login_failed", Sender: "local",
		Time: time.Now().UTC().Truncate(time.Millisecond), Args: []byte(fmt.Sprintf(`{"n":%d}`, i)),
	}
}

func testOutboxLifecycle(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	if err := s.Enqueue(ctx, signal(1), []string{"hook", "audit"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(ctx, "host-a", 10, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("Claim = %d deliveries, %v; want 2", len(got), err)
	}
	if got[0].Subscriber != "hook" || got[0].Name != "user_login_failed" || string(got[0].Args) != `{"n":1}` {
		t.Fatalf("claimed %+v", got[0])
	}
	// Leased deliveries are not claimed again.
	if again, _ := s.Claim(ctx, "host-b", 10, time.Minute); len(again) != 0 {
		t.Fatalf("leased deliveries were claimed again: %d", len(again))
	}
	if err := s.MarkDelivered(ctx, got[0].ID, "host-a"); err != nil {
		t.Fatal(err)
	}
	// A failure is retried at the given time, and dies after max attempts.
	if err := s.MarkFailed(ctx, got[1].ID, "host-a", "connection refused", time.Now().Add(-time.Millisecond), 2); err != nil {
		t.Fatal(err)
	}
	retry, _ := s.Claim(ctx, "host-b", 10, time.Minute)
	if len(retry) != 1 || retry[0].Attempts != 1 || retry[0].LastError != "connection refused" {
		t.Fatalf("retry claim = %+v", retry)
	}
	if err := s.MarkFailed(ctx, retry[0].ID, "host-b", "still refused", time.Now(), 2); err != nil {
		t.Fatal(err)
	}
	dead, err := s.ListDeliveries(ctx, storage.DeliveryDead, 10)
	if err != nil || len(dead) != 1 || dead[0].Attempts != 2 {
		t.Fatalf("dead letters = %+v, %v", dead, err)
	}
	if none, _ := s.Claim(ctx, "host-a", 10, time.Minute); len(none) != 0 {
		t.Fatal("a dead delivery was claimed")
	}
	// Retry puts it back with fresh attempts.
	if err := s.RetryDelivery(ctx, dead[0].ID); err != nil {
		t.Fatal(err)
	}
	if back, _ := s.Claim(ctx, "host-a", 10, time.Minute); len(back) != 1 || back[0].Attempts != 0 {
		t.Fatalf("after retry: %+v", back)
	}
	if err := s.RetryDelivery(ctx, got[0].ID); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("retry of a delivered signal: %v", err)
	}
	if err := s.RetryDelivery(ctx, 999999); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("retry of an unknown delivery: %v", err)
	}
	// A lease that has run out can be claimed by another host.
	if err := s.Enqueue(ctx, signal(2), []string{"hook"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Claim(ctx, "crashed-host", 10, time.Millisecond); len(c) != 1 {
		t.Fatalf("claim = %d", len(c))
	}
	time.Sleep(5 * time.Millisecond)
	c, _ := s.Claim(ctx, "host-b", 10, time.Minute)
	if len(c) != 1 {
		t.Fatalf("an expired lease was not reclaimed: %d", len(c))
	}
	// The crashed host's late acknowledgement does not count.
	if err := s.MarkDelivered(ctx, c[0].ID, "crashed-host"); err != nil {
		t.Fatal(err)
	}
	if pending, _ := s.ListDeliveries(ctx, storage.DeliveryPending, 10); len(pending) == 0 {
		t.Fatal("a delivery was acknowledged by a host that no longer held its lease")
	}
	n, err := s.PurgeDelivered(ctx, time.Now().Add(time.Second), 100)
	if err != nil || n != 1 {
		t.Fatalf("PurgeDelivered = %d, %v", n, err)
	}
}

// testOutboxClaimsAreExclusive has two hosts claim from one queue at once:
// every delivery is claimed exactly once.
func testOutboxClaimsAreExclusive(t *testing.T, open Opener) {
	ctx := context.Background()
	hosts := []*storage.Store{open(t), open(t)}
	const n = 300
	for i := range n {
		if err := hosts[i%2].Enqueue(ctx, signal(i), []string{"hook"}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for h, s := range hosts {
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("host-%d-%d", h, w)
				for {
					batch, err := s.Claim(ctx, owner, 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(batch) == 0 {
						return
					}
					for _, d := range batch {
						mu.Lock()
						seen[d.SignalID]++
						mu.Unlock()
						if err := s.MarkDelivered(ctx, d.ID, owner); err != nil {
							t.Error(err)
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d deliveries claimed", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("delivery of %s claimed %d times", id, c)
		}
	}
}
