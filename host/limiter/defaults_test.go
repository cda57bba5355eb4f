package limiter

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// A lock of a group without ip_address is one anyone can cause from
// anywhere: it ends on time however long an attacker goes on, because
// refused attempts do not extend it (unless the group says otherwise).
func TestUsernameLockEndsOnTimeUnderAttack(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"lockout_parameters":[{"group":"username","failure_limit":3,"cooloff":"15m"}]}`)
		victim := attempt{"victim", "203.0.113.1", "attacker"}
		for i := range 3 {
			from := victim
			from.ip = fmt.Sprintf("203.0.113.%d", 10+i)
			h.try(from, sdk.LoginFailed)
		}
		// The attacker keeps trying from new addresses every minute.
		for minute := range 14 {
			h.advance(time.Minute)
			from := victim
			from.ip = fmt.Sprintf("198.51.100.%d", minute)
			if v := h.mustCheck(from); !locked(v) {
				t.Fatalf("minute %d of the lock: %s, want refused", minute+1, describe(v))
			}
		}
		h.advance(time.Minute + time.Second)
		owner := attempt{"victim", "192.0.2.50", "Mozilla/5.0"}
		if v := h.try(owner, sdk.LoginSucceeded); !through(v) {
			t.Fatalf("15 minutes after the third failure, under attack all along: %s, want the owner let in", describe(v))
		}
	})
}

// With reset_on_success false, a group keeps its count across others'
// successes: one valid login from an office address does not reset an
// attacker's count there.
func TestGroupWithoutResetOnSuccessKeepsItsCount(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"cooloff":"30m","reset_on_success":true,"lockout_parameters":[
			{"group":["username","ip_address"],"failure_limit":5},
			{"group":"ip_address","failure_limit":4,"reset_on_success":false}]}`)
		office := "198.51.100.20"
		for i := range 3 {
			h.try(attempt{fmt.Sprintf("sprayed%d", i), office, "x"}, sdk.LoginFailed)
		}
		h.try(attempt{"staff", office, "x"}, sdk.LoginSucceeded)
		if got := h.failures("ip_address", attempt{"", office, ""}); got != 3 {
			t.Fatalf("the address's count after a colleague's success: %d, want still 3", got)
		}
		h.try(attempt{"sprayed9", office, "x"}, sdk.LoginFailed)
		if v := h.mustCheck(attempt{"sprayed10", office, "x"}); !locked(v) {
			t.Fatalf("the 5th sprayed attempt: %s, want refused", describe(v))
		}
	})
}

// A flood of refusals under the built-in groups is counted exactly once on
// each counter that is locked and counts refusals, and never on one that
// is not locked: the counters are read together, and only the locked ones
// written.
func TestRefusalFloodOnTheDefaultGroups(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"cooloff":"30m","reset_on_success":true,"lockout_parameters":[
			{"group":["username","ip_address"],"failure_limit":5},
			{"group":"ip_address","failure_limit":20,"reset_on_success":false},
			{"group":"username","failure_limit":20,"cooloff":"15m"}]}`)
		client := attempt{"victim", "203.0.113.7", "x"}
		for range 5 {
			h.try(client, sdk.LoginFailed)
		}
		const flood = 200
		var wg sync.WaitGroup
		var refused atomic.Int64
		for range flood {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if v, err := h.check(client); err == nil && locked(v) {
					refused.Add(1)
				}
			}()
		}
		wg.Wait()
		if refused.Load() != flood {
			t.Fatalf("%d of %d attempts refused", refused.Load(), flood)
		}
		for _, c := range []struct {
			group string
			of    attempt
			want  int64
		}{
			{"ip_address+username", client, 5 + flood},    // locked, counts refusals
			{"ip_address", attempt{"", client.ip, ""}, 5}, // not locked
			{"username", attempt{client.user, "", ""}, 5},
		} {
			if got := h.failures(c.group, c.of); got != c.want {
				t.Errorf("group [%s]: %d failures, want %d", c.group, got, c.want)
			}
		}
	})
}
