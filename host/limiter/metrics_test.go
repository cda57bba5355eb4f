package limiter

import (
	"testing"

	"github.com/portcullis-auth/portcullis/host/metrics"
)

func TestLockoutsAndTheirRefusalsAreCounted(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		reg := metrics.New()
		h := newHarness(t, db, `{"failure_limit":2,"cooloff":"10m","lockout_parameters":[["username","ip_address"]],"block_ips":["198.51.100.0/24"]}`,
			func(o *Options) { o.Metrics = reg })
		lockouts := func() uint64 { return reg.Counter("portcullis_lockouts_total", "", "backend").Value(h.name) }
		refusals := func() uint64 { return reg.Counter("portcullis_lockout_refusals_total", "", "backend").Value(h.name) }

		h.tryN(alice, wrong, 1)
		if lockouts() != 0 || refusals() != 0 {
			t.Fatalf("below the limit: lockouts %d, refusals %d", lockouts(), refusals())
		}
		h.tryN(alice, wrong, 1) // the second failure locks alice
		if lockouts() != 1 || len(h.lockouts()) != 1 {
			t.Fatalf("at the limit: lockouts %d, %d user_locked_out sent; want 1 and 1", lockouts(), len(h.lockouts()))
		}
		for range 3 {
			if v := h.try(alice, wrong); !locked(v) {
				t.Fatalf("a locked client's login: %s", describe(v))
			}
		}
		if refusals() != 3 || lockouts() != 1 {
			t.Fatalf("after 3 refused logins: refusals %d, lockouts %d; want 3 and 1", refusals(), lockouts())
		}
		// A blocked address is refused, but by no lockout.
		if v := h.try(attempt{"bob", "198.51.100.9", "ua"}, wrong); v.Refusal == nil || v.Refusal.Reason != ReasonIPBlocked {
			t.Fatalf("a blocked address: %s", describe(v))
		}
		if refusals() != 3 {
			t.Fatalf("a blocked address counted as a lockout refusal: %d", refusals())
		}
	})
}
