package storagetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func newAuthRequest(t *testing.T, s *storage.Store, expires time.Time) storage.AuthRequest {
	t.Helper()
	r, err := s.CreateAuthRequest(context.Background(), storage.AuthRequest{Slug: "2FA", UserID: "u1", Username: "alice",
		Title: "Log in", Data: []byte(`{"amount":5}`), Backend: "otp", App: "web", Challenge: []byte("c0"), Delivery: "webhook", ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testAuthRequests: every change to an authorization request is one
// conditional statement, so that of two hosts deciding, answering,
// resetting or sweeping at once exactly one wins, and a request that is
// not waiting (or whose time is up) never changes.
func testAuthRequests(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	hour := time.Now().Add(time.Hour)

	t.Run("create and read", func(t *testing.T) {
		r := newAuthRequest(t, s, hour)
		got, err := other.AuthRequestByID(ctx, r.ID)
		if err != nil || got.State != storage.AuthRequestWaiting || got.Slug != "2FA" || !bytes.Equal(got.Data, []byte(`{"amount":5}`)) ||
			!bytes.Equal(got.Challenge, []byte("c0")) || !got.DecidedAt.IsZero() || !got.Waiting(time.Now()) {
			t.Fatalf("read back %+v, %v", got, err)
		}
		if _, err := s.AuthRequestByID(ctx, "nope"); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
	})

	t.Run("one decision wins", func(t *testing.T) {
		r := newAuthRequest(t, s, hour)
		results := make(chan bool, 4)
		var wg sync.WaitGroup
		for i, st := range []*storage.Store{s, other, s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				to := []string{storage.AuthRequestGranted, storage.AuthRequestDenied}[i%2]
				_, won, err := st.DecideAuthRequest(ctx, r.ID, to, "app", time.Now())
				if err != nil {
					t.Error(err)
				}
				results <- won
			}()
		}
		wg.Wait()
		close(results)
		wins := 0
		for w := range results {
			if w {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("%d decisions won, want exactly 1", wins)
		}
		got, _ := s.AuthRequestByID(ctx, r.ID)
		if got.State == storage.AuthRequestWaiting || got.DecidedAt.IsZero() {
			t.Errorf("after the decision: %+v", got)
		}
		if _, won, _ := s.DecideAuthRequest(ctx, r.ID, storage.AuthRequestCancelled, "app", time.Now()); won {
			t.Error("a decided request was decided again")
		}
		if _, _, err := s.DecideAuthRequest(ctx, r.ID, storage.AuthRequestExpired, "", time.Now()); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("deciding 'expired': %v", err)
		}
	})

	t.Run("an expired request is never decided and expires once", func(t *testing.T) {
		r := newAuthRequest(t, s, time.Now().Add(-time.Second))
		if got, won, err := s.DecideAuthRequest(ctx, r.ID, storage.AuthRequestGranted, "app", time.Now()); err != nil || won || got.State != storage.AuthRequestWaiting {
			t.Fatalf("granting a request whose time is up: %+v %v %v", got, won, err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for _, st := range []*storage.Store{s, other, s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				expired, err := st.ExpireAuthRequests(ctx, time.Now(), 100)
				if err != nil {
					t.Error(err)
				}
				_, one, err := st.ExpireAuthRequest(ctx, r.ID, time.Now())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, e := range expired {
					seen[e.ID]++
				}
				if one {
					seen[r.ID]++
				}
			}()
		}
		wg.Wait()
		if seen[r.ID] != 1 {
			t.Fatalf("the request was expired %d times, want exactly once", seen[r.ID])
		}
		got, _ := s.AuthRequestByID(ctx, r.ID)
		if got.State != storage.AuthRequestExpired || !got.DecidedAt.Equal(got.ExpiresAt) {
			t.Errorf("after expiry: %+v", got)
		}
	})

	t.Run("answers", func(t *testing.T) {
		r := newAuthRequest(t, s, hour)
		ok, err := s.AcceptAnswer(ctx, r.ID, r.Version, []byte("used"), time.Now())
		if err != nil || !ok {
			t.Fatalf("AcceptAnswer = %v, %v", ok, err)
		}
		if ok, _ := other.AcceptAnswer(ctx, r.ID, r.Version, []byte("used"), time.Now()); ok {
			t.Error("a second answer at the same version was accepted")
		}
		got, _ := s.AuthRequestByID(ctx, r.ID)
		if got.Version != r.Version+1 || !bytes.Equal(got.Challenge, []byte("used")) {
			t.Errorf("after an answer: %+v", got)
		}
		reset, ok, err := other.ResetAuthRequest(ctx, r.ID, got.Version, []byte("c1"), "webhook", hour.Add(time.Hour), time.Now())
		if err != nil || !ok || reset.Generation != 1 || reset.WrongAnswers != 0 || !bytes.Equal(reset.Challenge, []byte("c1")) {
			t.Fatalf("reset = %+v %v %v", reset, ok, err)
		}
		if _, ok, _ := s.ResetAuthRequest(ctx, r.ID, got.Version, []byte("c2"), "webhook", hour, time.Now()); ok {
			t.Error("a reset at a stale version succeeded")
		}
	})

	t.Run("the wrong answer past the limit denies once", func(t *testing.T) {
		r := newAuthRequest(t, s, hour)
		const limit = 5
		denials := make(chan bool, 2*limit)
		var wg sync.WaitGroup
		for i := range 2 * limit {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := []*storage.Store{s, other}[i%2]
				_, denied, err := st.RejectAnswer(ctx, r.ID, limit, time.Now())
				if err != nil {
					t.Error(err)
				}
				denials <- denied
			}()
		}
		wg.Wait()
		close(denials)
		n := 0
		for d := range denials {
			if d {
				n++
			}
		}
		got, _ := s.AuthRequestByID(ctx, r.ID)
		if n != 1 || got.State != storage.AuthRequestDenied || got.Reason != storage.ReasonTooManyAttempts || got.WrongAnswers != limit+1 {
			t.Fatalf("%d denials, request %+v; want one denial after %d wrong answers", n, got, limit+1)
		}
	})

	t.Run("query and purge", func(t *testing.T) {
		page, total, err := other.QueryAuthRequests(ctx, storage.AuthRequestQuery{State: storage.AuthRequestDenied, Page: storage.Page{Limit: 10}})
		if err != nil || total < 1 || len(page) == 0 {
			t.Fatalf("query denied: %d %d %v", len(page), total, err)
		}
		for _, r := range page {
			if r.State != storage.AuthRequestDenied {
				t.Errorf("a %s request in the denied list", r.State)
			}
		}
		waiting := newAuthRequest(t, s, hour)
		n, err := s.PurgeAuthRequests(ctx, time.Now().Add(time.Minute), 1000)
		if err != nil || n < 3 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if _, err := s.AuthRequestByID(ctx, waiting.ID); err != nil {
			t.Errorf("a waiting request was purged: %v", err)
		}
		if _, total, _ := s.QueryAuthRequests(ctx, storage.AuthRequestQuery{}); total != countWaiting(t, s) {
			t.Errorf("after the purge %d requests are left, want only the waiting ones", total)
		}
	})
}

func countWaiting(t *testing.T, s *storage.Store) int64 {
	_, n, err := s.QueryAuthRequests(context.Background(), storage.AuthRequestQuery{State: storage.AuthRequestWaiting})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
