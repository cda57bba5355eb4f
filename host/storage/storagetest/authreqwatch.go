package storagetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// drain empties ch of wakeups sent within d (a LISTEN connection that
// just came up wakes every watcher once).
func drain(ch <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ch:
		case <-t.C:
			return
		}
	}
}

func woken(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// testAuthRequestWatch: a request announced wakes the long polls of its
// user: on this host always, and on every host sharing a PostgreSQL
// database; the polls of other users sleep on.
func testAuthRequestWatch(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	mine, stopMine := s.WatchAuthRequests("u1")
	defer stopMine()
	stranger, stopStranger := s.WatchAuthRequests("u2")
	defer stopStranger()
	drain(mine, 300*time.Millisecond)
	drain(stranger, 10*time.Millisecond)

	r := newAuthRequest(t, s, time.Now().Add(time.Hour))
	s.AnnounceAuthRequest(ctx, r.UserID)
	if !woken(mine, 2*time.Second) {
		t.Fatal("creating a request did not wake its user's watcher on the same host")
	}
	if woken(stranger, 200*time.Millisecond) {
		t.Fatal("creating a request woke another user's watcher")
	}
	if n := s.Watching(); n != 2 {
		t.Fatalf("Watching = %d; want 2", n)
	}

	if s.Driver() == storage.Postgres {
		far, stopFar := other.WatchAuthRequests("u1")
		drain(far, 500*time.Millisecond)
		s.AnnounceAuthRequest(ctx, newAuthRequest(t, s, time.Now().Add(time.Hour)).UserID)
		if !woken(far, 2*time.Second) {
			t.Fatal("a request created on one host did not wake its user's watcher on another")
		}
		stopFar()
		if n := other.Watching(); n != 0 {
			t.Fatalf("after the watch ended, Watching = %d; want 0", n)
		}
	}

	got, err := other.WaitingAuthRequests(ctx, "u1", "otp", time.Now(), 10)
	if err != nil || len(got) == 0 || got[0].ID != r.ID {
		t.Fatalf("WaitingAuthRequests = %v, %v; want the oldest first, %s", got, err, r.ID)
	}
	if got, _ := other.WaitingAuthRequests(ctx, "u1", "phone", time.Now(), 10); len(got) != 0 {
		t.Fatalf("WaitingAuthRequests of another backend = %d requests; want none", len(got))
	}
	if got, _ := other.WaitingAuthRequests(ctx, "u1", "otp", time.Now().Add(2*time.Hour), 10); len(got) != 0 {
		t.Fatalf("WaitingAuthRequests after their time = %d requests; want none", len(got))
	}

	t.Run("a granted request completes once", func(t *testing.T) {
		r := newAuthRequest(t, s, time.Now().Add(time.Hour))
		if ok, err := s.CompleteAuthRequest(ctx, r.ID, time.Now()); err != nil || ok {
			t.Fatalf("completing a waiting request = %v, %v; want false", ok, err)
		}
		if _, won, err := s.DecideAuthRequest(ctx, r.ID, storage.AuthRequestGranted, "device", time.Now()); err != nil || !won {
			t.Fatalf("grant: %v %v", won, err)
		}
		if ok, err := s.CompleteAuthRequest(ctx, r.ID, time.Now().Add(2*time.Hour)); err != nil || ok {
			t.Fatalf("completing after its time = %v, %v; want false", ok, err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := s
				if i%2 == 1 {
					db = other
				}
				ok, err := db.CompleteAuthRequest(ctx, r.ID, time.Now())
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
			t.Fatalf("%d of 8 concurrent completions won; want exactly 1", wins.Load())
		}
	})
}
