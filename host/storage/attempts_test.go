package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
)

// The attempt counters (attempts.go) and the access log (access.go) are
// tested on SQLite and PostgreSQL, each test on a database of its own
// (PostgreSQL is skipped, saying why, without PORTCULLIS_TEST_POSTGRES_DSN).

// db is one test database; open opens another host's store on it.
type db struct {
	store *storage.Store
	open  func(t testing.TB) *storage.Store
}

func eachDatabase(t *testing.T, f func(t *testing.T, d db)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		path := storagetest.SQLitePath(t)
		open := func(t testing.TB) *storage.Store { return storagetest.Open(t, storage.SQLite, path) }
		f(t, db{store: open(t), open: open})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storagetest.PostgresDSN(t)
		open := func(t testing.TB) *storage.Store { return storagetest.Open(t, storage.Postgres, dsn) }
		f(t, db{store: open(t), open: open})
	})
}

// clock is a settable clock, read from many goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *clock { return &clock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const lease = time.Minute

// counter is a counter that locks at limit and lives cooloff.
func counter(key string, limit int64, cooloff time.Duration) storage.AttemptCounter {
	return storage.AttemptCounter{Key: key, LockAt: limit, Cooloffs: []storage.CooloffStep{{From: limit, Cooloff: cooloff}}, ResetOnSuccess: true}
}

func admit(t *testing.T, a *storage.Attempts, id string, cs ...storage.AttemptCounter) (storage.Admission, storage.CounterState) {
	t.Helper()
	adm, st, err := a.Admit(context.Background(), cs, id, lease)
	if err != nil {
		t.Fatalf("Admit(%s): %v", id, err)
	}
	return adm, st
}

func settle(t *testing.T, a *storage.Attempts, s storage.Settlement, cs ...storage.AttemptCounter) []storage.CounterState {
	t.Helper()
	states, err := a.Settle(context.Background(), cs, s)
	if err != nil {
		t.Fatalf("Settle(%+v): %v", s, err)
	}
	return states
}

func counters(t *testing.T, a *storage.Attempts) []storage.CounterState {
	t.Helper()
	list, err := a.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func admissionName(a storage.Admission) string {
	return map[storage.Admission]string{storage.Admitted: "admitted", storage.Locked: "locked", storage.Busy: "busy"}[a]
}

func TestAttemptAdmission(t *testing.T) {
	// Admit reserves room on a counter while its failures and attempts in
	// flight stay under its lock; Settle gives the room back, counting a
	// failure or not; a counter at its lock is Locked.
	eachDatabase(t, func(t *testing.T, d db) {
		ck := newTestClock()
		a := d.store.Attempts("guard").WithClock(ck.now)
		c := counter("c|ip_address|192.0.2.1", 3, 10*time.Minute)
		steps := []struct {
			do   func() string
			want string
		}{
			{func() string { adm, _ := admit(t, a, "a1", c); return admissionName(adm) }, "admitted"},
			{func() string { adm, _ := admit(t, a, "a2", c); return admissionName(adm) }, "admitted"},
			{func() string { adm, _ := admit(t, a, "a3", c); return admissionName(adm) }, "admitted"},
			// Three in flight: the room is full, nothing counted.
			{func() string {
				adm, st := admit(t, a, "a4", c)
				return fmt.Sprintf("%s %d", admissionName(adm), st.Failures)
			}, "busy 0"},
			{func() string { return fmt.Sprint(len(counters(t, a))) }, "0"},
			// A success gives its room back.
			{func() string { settle(t, a, storage.Settlement{ID: "a1"}, c); return "" }, ""},
			{func() string { adm, _ := admit(t, a, "a4", c); return admissionName(adm) }, "admitted"},
			// A failure is counted, and takes the room for good.
			{func() string {
				st := settle(t, a, storage.Settlement{ID: "a2", Failed: true}, c)
				return fmt.Sprintf("%d %v", st[0].Failures, st[0].ExpiresAt.Sub(ck.now()))
			}, "1 10m0s"},
			{func() string { adm, _ := admit(t, a, "a5", c); return admissionName(adm) }, "busy"},
			{func() string {
				settle(t, a, storage.Settlement{ID: "a3", Failed: true}, c)
				st := settle(t, a, storage.Settlement{ID: "a4", Failed: true}, c)
				return fmt.Sprint(st[0].Failures)
			}, "3"},
			{func() string {
				adm, st := admit(t, a, "a5", c)
				return fmt.Sprintf("%s %d %v", admissionName(adm), st.Failures, st.ExpiresAt.Sub(ck.now()))
			}, "locked 3 10m0s"},
			// Settling an attempt never admitted, without a failure,
			// changes nothing.
			{func() string {
				settle(t, a, storage.Settlement{ID: "never"}, c)
				return fmt.Sprint(counters(t, a)[0].Failures)
			}, "3"},
		}
		for i, s := range steps {
			if got := s.do(); got != s.want {
				t.Fatalf("step %d: %q, want %q", i, got, s.want)
			}
		}
	})
}

func TestAttemptLook(t *testing.T) {
	// Look says what Admit would, without reserving.
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		ck := newTestClock()
		a := d.store.Attempts("guard").WithClock(ck.now)
		c := counter("k", 2, time.Minute)
		look := func() string {
			adm, st, err := a.Look(ctx, []storage.AttemptCounter{c})
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%s %d", admissionName(adm), st.Failures)
		}
		for i, step := range []struct {
			do   func()
			want string
		}{
			{func() {}, "admitted 0"},
			{func() { admit(t, a, "a1", c) }, "admitted 0"},
			{func() { admit(t, a, "a2", c) }, "busy 0"},
			{func() { settle(t, a, storage.Settlement{ID: "a1", Failed: true}, c) }, "busy 1"},
			{func() { settle(t, a, storage.Settlement{ID: "a2", Failed: true}, c) }, "locked 2"},
			{func() { ck.add(time.Minute) }, "admitted 0"},
		} {
			step.do()
			if got := look(); got != step.want {
				t.Fatalf("step %d: Look = %q, want %q", i, got, step.want)
			}
		}
		if adm, _, err := a.Look(ctx, []storage.AttemptCounter{{Key: "never", LockAt: 0}}); err != nil || adm != storage.Admitted {
			t.Fatalf("Look of a counter that never locks = %v, %v", adm, err)
		}
	})
}

// A counter locked is told before one busy, whatever their keys' order:
// the attempt is refused at once rather than waiting for room on the busy
// counter that it could not use.
func TestAttemptLockedBeforeBusy(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		a := d.store.Attempts("guard").WithClock(newTestClock().now)
		busy := counter("a-busy", 1, time.Minute)
		locked := counter("b-locked", 1, time.Minute)
		admit(t, a, "in-flight", busy)
		admit(t, a, "wrong", locked)
		settle(t, a, storage.Settlement{ID: "wrong", Failed: true}, locked)
		if adm, st := admit(t, a, "both", busy, locked); adm != storage.Locked || st.Key != locked.Key {
			t.Fatalf("Admit on a busy and a locked counter: %s on %q, want locked on %q", admissionName(adm), st.Key, locked.Key)
		}
		if adm, st, err := a.Look(ctx, []storage.AttemptCounter{busy, locked}); err != nil || adm != storage.Locked || st.Key != locked.Key {
			t.Fatalf("Look on a busy and a locked counter: %s on %q, %v; want locked on %q", admissionName(adm), st.Key, err, locked.Key)
		}
		if adm, st, err := a.Look(ctx, []storage.AttemptCounter{busy}); err != nil || adm != storage.Busy || st.Key != busy.Key {
			t.Fatalf("Look on the busy counter: %s on %q, %v; want busy", admissionName(adm), st.Key, err)
		}
	})
}

func TestAttemptAdmissionIsAllOrNothing(t *testing.T) {
	// An attempt on two counters is reserved on both or on neither.
	eachDatabase(t, func(t *testing.T, d db) {
		a := d.store.Attempts("guard").WithClock(newTestClock().now)
		ip := counter("c|ip_address|192.0.2.1", 2, time.Minute)
		pair := counter("c|ip_address+username|192.0.2.1|alice", 5, time.Minute)
		admit(t, a, "x1", ip)
		admit(t, a, "x2", ip)
		for i := range 3 {
			if adm, st := admit(t, a, fmt.Sprint("both", i), pair, ip); adm != storage.Busy || st.Key != ip.Key {
				t.Fatalf("attempt on a full and a free counter: %s on %q, want busy on the full one", admissionName(adm), st.Key)
			}
		}
		// Nothing was reserved on the free counter: its whole room is left.
		for i := range 5 {
			if adm, _ := admit(t, a, fmt.Sprint("pair", i), pair); adm != storage.Admitted {
				t.Fatalf("attempt %d on the pair: %s, want admitted", i+1, admissionName(adm))
			}
		}
		if adm, _ := admit(t, a, "pair5", pair); adm != storage.Busy {
			t.Fatalf("sixth attempt on the pair: %s, want busy", admissionName(adm))
		}
	})
}

func TestAttemptLease(t *testing.T) {
	// A reservation nobody settles (its host died) stops taking room when
	// its lease ends, and PurgeAttempts removes it with expired counters.
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		// PurgeAttempts reads the real clock: write in the past.
		ck := &clock{t: time.Now().Add(-time.Hour).Truncate(time.Millisecond)}
		a := d.store.Attempts("guard").WithClock(ck.now)
		c := counter("k", 1, 10*time.Minute)
		admit(t, a, "dead", c)
		if adm, _ := admit(t, a, "next", c); adm != storage.Busy {
			t.Fatalf("while leased: %s, want busy", admissionName(adm))
		}
		ck.add(lease - time.Millisecond)
		if adm, _ := admit(t, a, "next", c); adm != storage.Busy {
			t.Fatalf("a millisecond before the lease ends: %s, want busy", admissionName(adm))
		}
		ck.add(time.Millisecond)
		if adm, _ := admit(t, a, "next", c); adm != storage.Admitted {
			t.Fatalf("at the lease's end: %s, want admitted", admissionName(adm))
		}
		settle(t, a, storage.Settlement{ID: "next", Failed: true}, c) // expires at -1h+1m+10m
		other := d.store.Attempts("other")
		live := counter("live", 3, time.Hour)
		if adm, _, err := other.Admit(ctx, []storage.AttemptCounter{live}, "r", lease); err != nil || adm != storage.Admitted {
			t.Fatalf("Admit on a live counter = %v, %v", adm, err)
		}
		if _, err := other.Settle(ctx, []storage.AttemptCounter{live}, storage.Settlement{ID: "r", Failed: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := other.Admit(ctx, []storage.AttemptCounter{live}, "in-flight", lease); err != nil {
			t.Fatal(err)
		}
		// Expired: guard's counter and the dead host's reservation. Not the
		// live counter nor its reservation in flight.
		n, err := d.store.PurgeAttempts(ctx, 100)
		if err != nil || n != 2 {
			t.Fatalf("PurgeAttempts = %d, %v; want 2", n, err)
		}
		if n, err := d.store.PurgeAttempts(ctx, 100); err != nil || n != 0 {
			t.Fatalf("PurgeAttempts again = %d, %v; want 0", n, err)
		}
		if got := counters(t, other); len(got) != 1 || got[0].Failures != 1 {
			t.Fatalf("other's counters %+v, want the live one", got)
		}
		// The live reservation still takes room: 1 failure + 1 in flight
		// + 1 more fill a limit of 3.
		if adm, _, err := other.Admit(ctx, []storage.AttemptCounter{live}, "r2", lease); err != nil || adm != storage.Admitted {
			t.Fatalf("Admit = %v, %v", adm, err)
		}
		if adm, _, err := other.Admit(ctx, []storage.AttemptCounter{live}, "r3", lease); err != nil || adm != storage.Busy {
			t.Fatalf("Admit with the room full = %v, %v; want busy (the live reservation was kept)", adm, err)
		}
	})
}

func TestPurgeAttemptsLimit(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		a := d.store.Attempts("guard").WithClock(func() time.Time { return time.Now().Add(-time.Hour) })
		for i := range 5 {
			c := counter(fmt.Sprint("k", i), 3, time.Minute)
			admit(t, a, "r", c)
			settle(t, a, storage.Settlement{ID: "r", Failed: true}, c)
		}
		if n, err := d.store.PurgeAttempts(ctx, 2); err != nil || n != 2 {
			t.Fatalf("PurgeAttempts(2) = %d, %v; want 2", n, err)
		}
		if n, err := d.store.PurgeAttempts(ctx, 100); err != nil || n != 3 {
			t.Fatalf("PurgeAttempts(100) = %d, %v; want the 3 left", n, err)
		}
	})
}

func TestRefuseIfLocked(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		ck := newTestClock()
		a := d.store.Attempts("guard").WithClock(ck.now)
		c := counter("k", 2, 10*time.Minute)
		refuse := func(n int64) string {
			st, locked, err := a.RefuseIfLocked(ctx, c, n)
			if err != nil {
				t.Fatal(err)
			}
			if !locked {
				return "open"
			}
			return fmt.Sprintf("locked %d %v", st.Failures, st.ExpiresAt.Sub(ck.now()))
		}
		fail := func() {
			id := fmt.Sprint("r", ck.now().UnixNano())
			if adm, _ := admit(t, a, id, c); adm != storage.Admitted {
				t.Fatalf("admission before the lock: %s", admissionName(adm))
			}
			settle(t, a, storage.Settlement{ID: id, Failed: true}, c)
		}
		for i, step := range []struct {
			do   func()
			n    int64
			want string
		}{
			{func() {}, 0, "open"}, // no counter
			{func() {}, 1, "open"}, // counting needs a lock
			{fail, 1, "open"},
			{func() { ck.add(time.Minute) }, 0, "open"},
			{fail, 0, "locked 2 10m0s"}, // looking changes nothing
			{func() { ck.add(4 * time.Minute) }, 0, "locked 2 6m0s"},
			{func() {}, 1, "locked 3 10m0s"}, // counted, cool-off from now
			{func() {}, 5, "locked 8 10m0s"},
			{func() { ck.add(10 * time.Minute) }, 1, "open"}, // expired
			{func() {}, 0, "open"},
		} {
			step.do()
			if got := refuse(step.n); got != step.want {
				t.Fatalf("step %d: RefuseIfLocked(%d) = %q, want %q", i, step.n, got, step.want)
			}
		}
		// A counter that never locks is never refused.
		if _, locked, err := a.RefuseIfLocked(ctx, storage.AttemptCounter{Key: "k", LockAt: 0}, 1); err != nil || locked {
			t.Fatalf("RefuseIfLocked of a counter that never locks = %v, %v", locked, err)
		}
	})
}

func TestAttemptTiers(t *testing.T) {
	// A counter's expiry is the cool-off of the tier its count reached,
	// from its last counted attempt, whether counted by a failure or by a
	// refusal while locked, one at a time or many at once.
	tiered := storage.AttemptCounter{Key: "k", LockAt: 3, Cooloffs: []storage.CooloffStep{
		{From: 3, Cooloff: time.Minute}, {From: 5, Cooloff: 10 * time.Minute}, {From: 8, Cooloff: time.Hour}}}
	for _, tt := range []struct {
		n    int64
		want time.Duration
	}{{0, time.Minute}, {1, time.Minute}, {3, time.Minute}, {4, time.Minute}, {5, 10 * time.Minute}, {7, 10 * time.Minute}, {8, time.Hour}, {1000, time.Hour}} {
		if got := tiered.CooloffFor(tt.n); got != tt.want {
			t.Errorf("CooloffFor(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := (storage.AttemptCounter{}).CooloffFor(5); got != 0 {
		t.Errorf("CooloffFor without steps = %v, want 0", got)
	}
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		for _, tt := range []struct {
			name   string
			refuse []int64 // batches refused while locked, after 3 failures
			want   []time.Duration
		}{
			{"one at a time", []int64{1, 1, 1, 1, 1, 1}, []time.Duration{time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour, time.Hour}},
			{"in batches", []int64{3, 4}, []time.Duration{10 * time.Minute, time.Hour}},
			{"past every tier at once", []int64{50}, []time.Duration{time.Hour}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ck := newTestClock()
				a := d.store.Attempts(tt.name).WithClock(ck.now)
				for i := range 3 {
					id := fmt.Sprint("f", i)
					admit(t, a, id, tiered)
					st := settle(t, a, storage.Settlement{ID: id, Failed: true}, tiered)
					if !st[0].ExpiresAt.Equal(ck.now().Add(time.Minute)) || st[0].Locked() != (i == 2) {
						t.Fatalf("failure %d: %+v, want a minute's expiry, locked at 3", i+1, st[0])
					}
				}
				for i, n := range tt.refuse {
					ck.add(time.Second)
					st, locked, err := a.RefuseIfLocked(ctx, tiered, n)
					if err != nil || !locked {
						t.Fatalf("refusal %d: %v, %v", i+1, locked, err)
					}
					if got := st.ExpiresAt.Sub(ck.now()); got != tt.want[i] {
						t.Fatalf("refusal %d at %d failures: cool-off %v, want %v", i+1, st.Failures, got, tt.want[i])
					}
				}
			})
		}
	})
}

func TestAttemptCounterExpiry(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		ck := newTestClock()
		a := d.store.Attempts("guard").WithClock(ck.now)
		c := counter("k", 3, 10*time.Minute)
		permanent := storage.AttemptCounter{Key: "p", LockAt: 3}
		for _, cc := range []storage.AttemptCounter{c, permanent} {
			admit(t, a, "r1", cc)
			settle(t, a, storage.Settlement{ID: "r1", Failed: true}, cc)
		}
		ck.add(9 * time.Minute)
		// An attempt in flight or given back does not move the expiry.
		admit(t, a, "r2", c)
		settle(t, a, storage.Settlement{ID: "r2"}, c)
		got := counters(t, a)
		if len(got) != 2 || got[0].Key != "k" || !got[0].ExpiresAt.Equal(ck.now().Add(time.Minute)) || !got[1].ExpiresAt.IsZero() {
			t.Fatalf("counters %+v, want k expiring in a minute, p never", got)
		}
		ck.add(time.Minute)
		got = counters(t, a)
		if len(got) != 1 || got[0].Key != "p" {
			t.Fatalf("counters at k's expiry: %+v, want only p", got)
		}
		// An expired counter starts again from nothing.
		admit(t, a, "r3", c)
		if st := settle(t, a, storage.Settlement{ID: "r3", Failed: true}, c); st[0].Failures != 1 {
			t.Fatalf("failure on an expired counter: %+v, want 1", st[0])
		}
		// A permanent counter outlives any cool-off.
		ck.add(1000 * 24 * time.Hour)
		if got := counters(t, a); len(got) != 1 || got[0].Key != "p" || got[0].Failures != 1 {
			t.Fatalf("counters 1000 days later: %+v, want p", got)
		}
		if deleted, err := a.DeleteCounter(ctx, "k"); err != nil || deleted {
			t.Fatalf("DeleteCounter of an expired counter = %v, %v; want false", deleted, err)
		}
	})
}

func TestAttemptSettlementReset(t *testing.T) {
	// A success with reset removes the attempt's counters, and only
	// theirs; attempts in flight on them keep their room.
	eachDatabase(t, func(t *testing.T, d db) {
		a := d.store.Attempts("guard").WithClock(newTestClock().now)
		ip := counter("ip", 5, time.Hour)
		pair := counter("pair", 5, time.Hour)
		other := counter("other", 5, time.Hour)
		for i := range 2 {
			id := fmt.Sprint("f", i)
			admit(t, a, id, ip, pair, other)
			settle(t, a, storage.Settlement{ID: id, Failed: true}, ip, pair, other)
		}
		admit(t, a, "in-flight", ip)
		admit(t, a, "ok", ip, pair)
		// A counter that does not reset on success keeps its count.
		kept := counter("other", 5, time.Hour)
		kept.ResetOnSuccess = false
		admit(t, a, "ok", kept)
		if st := settle(t, a, storage.Settlement{ID: "ok", Reset: true}, ip, pair, kept); len(st) != 0 {
			t.Fatalf("a reset returned states %+v", st)
		}
		got := counters(t, a)
		if len(got) != 1 || got[0].Key != "other" || got[0].Failures != 2 {
			t.Fatalf("counters after the reset: %+v, want only other at 2", got)
		}
		// ip: no failures, one attempt in flight: four more fill its room.
		for i := range 4 {
			if adm, _ := admit(t, a, fmt.Sprint("n", i), ip); adm != storage.Admitted {
				t.Fatalf("attempt %d after the reset: %s, want admitted", i+1, admissionName(adm))
			}
		}
		if adm, _ := admit(t, a, "n5", ip); adm != storage.Busy {
			t.Fatalf("after the reset: %s, want busy (the attempt in flight keeps its room)", admissionName(adm))
		}
	})
}

func TestAttemptCountersThatNeverLock(t *testing.T) {
	// A counter with LockAt 0 counts failures but reserves nothing and
	// never refuses.
	eachDatabase(t, func(t *testing.T, d db) {
		a := d.store.Attempts("guard").WithClock(newTestClock().now)
		c := storage.AttemptCounter{Key: "k", Cooloffs: []storage.CooloffStep{{From: 2, Cooloff: time.Minute}}}
		for i := range 10 {
			if adm, _ := admit(t, a, fmt.Sprint("r", i), c); adm != storage.Admitted {
				t.Fatalf("attempt %d: %s", i+1, admissionName(adm))
			}
		}
		for i := range 10 {
			settle(t, a, storage.Settlement{ID: fmt.Sprint("r", i), Failed: true}, c)
		}
		got := counters(t, a)
		if len(got) != 1 || got[0].Failures != 10 || got[0].Locked() || got[0].LockAt != 0 {
			t.Fatalf("counters %+v, want one at 10, never locked", got)
		}
	})
}

func TestDeleteCounter(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		a := d.store.Attempts("guard").WithClock(newTestClock().now)
		c := counter("k", 2, time.Hour)
		admit(t, a, "f", c)
		settle(t, a, storage.Settlement{ID: "f", Failed: true}, c)
		admit(t, a, "in-flight", c)
		if deleted, err := a.DeleteCounter(ctx, "k"); err != nil || !deleted {
			t.Fatalf("DeleteCounter = %v, %v; want true", deleted, err)
		}
		for _, key := range []string{"k", "never"} {
			if deleted, err := a.DeleteCounter(ctx, key); err != nil || deleted {
				t.Fatalf("DeleteCounter(%q) again = %v, %v; want false", key, deleted, err)
			}
		}
		// The attempt in flight keeps its room: one more fills a limit of 2.
		admit(t, a, "n1", c)
		if adm, _ := admit(t, a, "n2", c); adm != storage.Busy {
			t.Fatalf("after the delete: %s, want busy", admissionName(adm))
		}
		// An attempt in flight on a counter with no failures leaves
		// nothing to delete.
		z := counter("z", 2, time.Hour)
		admit(t, a, "z1", z)
		if deleted, err := a.DeleteCounter(ctx, "z"); err != nil || deleted {
			t.Fatalf("DeleteCounter of a counter with no failures = %v, %v; want false", deleted, err)
		}
	})
}

func TestAttemptNamespaces(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		c := counter("k", 1, time.Hour)
		for _, ns := range []string{"b", "a"} {
			a := d.store.Attempts(ns)
			admit(t, a, "r", c)
			settle(t, a, storage.Settlement{ID: "r", Failed: true}, c)
		}
		if err := d.store.RecordAccess(ctx, "c", storage.AccessRecord{Username: "u"}, 0); err != nil {
			t.Fatal(err)
		}
		// Each namespace counts on its own.
		if got := counters(t, d.store.Attempts("a")); len(got) != 1 || got[0].Failures != 1 {
			t.Fatalf("a's counters %+v, want one at 1", got)
		}
		if got := counters(t, d.store.Attempts("z")); len(got) != 0 {
			t.Fatalf("z's counters %+v, want none", got)
		}
		names, err := d.store.AttemptNamespaces(ctx)
		if err != nil || !slices.Equal(names, []string{"a", "b", "c"}) {
			t.Fatalf("AttemptNamespaces = %v, %v; want [a b c]", names, err)
		}
	})
}

func TestAttemptsFromTwoHosts(t *testing.T) {
	// Two stores on one database are two hosts: their admissions, failures
	// and refusals add up exactly.
	const limit, n = 5, 40
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		hosts := []*storage.Store{d.store, d.open(t)}
		c := counter("k", limit, time.Hour)
		run := func(f func(i int, a *storage.Attempts) error) {
			t.Helper()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if err := f(i, hosts[i%2].Attempts("guard")); err != nil {
						errs <- err
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		// Exactly the limit admitted at once; the rest busy, none reserved.
		var admitted atomic.Int64
		var ids sync.Map
		run(func(i int, a *storage.Attempts) error {
			adm, _, err := a.Admit(ctx, []storage.AttemptCounter{c}, fmt.Sprint("r", i), lease)
			if err != nil {
				return err
			}
			switch adm {
			case storage.Admitted:
				admitted.Add(1)
				ids.Store(i, true)
			case storage.Busy:
			default:
				return fmt.Errorf("attempt %d: %s", i, admissionName(adm))
			}
			return nil
		})
		if got := admitted.Load(); got != limit {
			t.Fatalf("%d of %d concurrent attempts admitted, want %d", got, n, limit)
		}
		// The admitted ones fail, settled from both hosts at once.
		run(func(i int, a *storage.Attempts) error {
			if _, ok := ids.Load(i); !ok {
				return nil
			}
			_, err := a.Settle(ctx, []storage.AttemptCounter{c}, storage.Settlement{ID: fmt.Sprint("r", i), Failed: true})
			return err
		})
		// Every refusal counts once.
		run(func(i int, a *storage.Attempts) error {
			_, locked, err := a.RefuseIfLocked(ctx, c, 1)
			if err == nil && !locked {
				err = fmt.Errorf("refusal %d: not locked", i)
			}
			return err
		})
		if got := counters(t, d.store.Attempts("guard")); len(got) != 1 || got[0].Failures != limit+n {
			t.Fatalf("counters %+v, want one at %d", got, limit+n)
		}
		// Failures on a counter that never locks, from both hosts.
		free := storage.AttemptCounter{Key: "free"}
		run(func(i int, a *storage.Attempts) error {
			_, err := a.Settle(ctx, []storage.AttemptCounter{free}, storage.Settlement{ID: fmt.Sprint("f", i), Failed: true})
			return err
		})
		for _, st := range counters(t, d.store.Attempts("guard")) {
			if st.Key == "free" && st.Failures != n {
				t.Fatalf("counter of failures %+v, want %d", st, n)
			}
		}
	})
}

// TestRefusalsKeepTheLogBounded: a flood of counted refusals on a locked
// counter keeps SQLite's write-ahead log to its usual size (about 1000
// pages, checkpointed and started again), rather than growing it by two
// pages a refusal until the disk is full.
func TestRefusalsKeepTheLogBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s := storagetest.Open(t, storage.SQLite, path)
	a := s.Attempts("lockout")
	c := storage.AttemptCounter{Key: "victim", LockAt: 1, Cooloffs: []storage.CooloffStep{{From: 1, Cooloff: time.Hour}}}
	ctx := context.Background()
	if _, err := a.Settle(ctx, []storage.AttemptCounter{c}, storage.Settlement{Failed: true}); err != nil {
		t.Fatal(err)
	}
	const refusals = 10000
	for i := range refusals {
		if _, locked, err := a.RefuseIfLocked(ctx, c, 1); err != nil || !locked {
			t.Fatalf("refusal %d: locked %v, %v", i, locked, err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if limit := int64(16 << 20); fi.Size() > limit {
		t.Errorf("after %d refusals the write-ahead log is %d MiB; it is checkpointed at about 4 MiB", refusals, fi.Size()>>20)
	}
}
