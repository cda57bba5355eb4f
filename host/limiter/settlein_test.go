package limiter

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// A success can be settled in the transaction that stores the login's
// session (Attempt.SuccessWrite): one commit for both. Once it has
// committed, End settles nothing again (one access record, the counter
// reset once, the reservation gone); if the transaction failed, nothing
// of the settlement stays, and End with the failure the login then is
// settles the attempt as before (its reservation given back).
func TestSuccessSettledWithTheSession(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, commits := range []bool{true, false} {
			t.Run(fmt.Sprintf("commits=%v", commits), func(t *testing.T) {
				ctx := context.Background()
				h := newHarness(t, db, `{"failure_limit":2,"cooloff":"10m","max_wait":"50ms","reset_on_success":true}`)
				h.tryN(alice, wrong, 1)
				v := h.mustCheck(alice)
				if v.Attempt == nil {
					t.Fatalf("login: %s, want it admitted", describe(v))
				}
				sess := storage.Session{ID: fmt.Sprintf("session-%d", sessionSeq.Add(1)), Subject: "u-alice", Username: "alice", ExpiresAt: h.now().Add(time.Hour)}
				writes := []storage.SessionWrite{v.Attempt.SuccessWrite()}
				broken := errors.New("the session's last write failed")
				if !commits {
					writes = append(writes, func(*storage.Tx, string) error { return broken })
				}
				_, err := h.store.CreateSessionWith(ctx, sess, writes)
				if commits != (err == nil) || (!commits && !errors.Is(err, broken)) {
					t.Fatalf("CreateSessionWith: %v", err)
				}
				result := sdk.LoginSucceeded
				if !commits {
					result = sdk.LoginUnavailable
				}
				if err := v.Attempt.End(ctx, result, sess.ID); err != nil {
					t.Fatal(err)
				}
				recs := h.accessRecords(false)
				wantFailures := int64(0)
				if commits {
					if len(recs) != 1 || recs[0].SessionID != sess.ID || recs[0].Username != "alice" {
						t.Fatalf("access records %+v; want alice's one, of session %s", recs, sess.ID)
					}
				} else {
					if len(recs) != 0 {
						t.Fatalf("access records %+v of a session rolled back", recs)
					}
					if _, err := h.store.SessionByID(ctx, sess.ID); !errors.Is(err, sdk.ErrNotFound) {
						t.Fatalf("the rolled back session: %v; want not found", err)
					}
					wantFailures = 1 // not reset
				}
				if got := h.failures("ip_address", alice); got != wantFailures {
					t.Fatalf("counter %d; want %d", got, wantFailures)
				}
				// The reservation is gone: as many attempts as the counter
				// has room for are admitted at once (a leaked one would
				// answer the last busy after max_wait).
				for i := wantFailures; i < 2; i++ {
					if v := h.mustCheck(alice); v.Attempt == nil {
						t.Fatalf("attempt %d in flight: %s; want admitted", i+1, describe(v))
					}
				}
			})
		}
	})
}
