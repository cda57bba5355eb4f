package storage_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/host/storage"
)

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func record(t *testing.T, s *storage.Store, backend string, r storage.AccessRecord, perUser int) {
	t.Helper()
	if err := s.RecordAccess(context.Background(), backend, r, perUser); err != nil {
		t.Fatalf("RecordAccess(%+v): %v", r, err)
	}
}

func accessLog(t *testing.T, s *storage.Store, backend string, failed bool) []storage.AccessRecord {
	t.Helper()
	recs, err := s.AccessLog(context.Background(), backend, failed)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// names lists records as "username/user agent", in the order given.
func names(recs []storage.AccessRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Username+"/"+r.UserAgent)
	}
	return out
}

func TestAccessLogRecords(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ok := storage.AccessRecord{Username: "alice", IPAddress: "192.0.2.1", UserAgent: "ua", SessionID: "s-1", Time: t0}
		fail := storage.AccessRecord{Failed: true, Username: "alice", IPAddress: "2001:db8::1", UserAgent: "ua", Time: t0.Add(time.Second)}
		locked := storage.AccessRecord{Failed: true, LockedOut: true, Username: "alice", IPAddress: "192.0.2.1", Time: t0.Add(2 * time.Second)}
		record(t, d.store, "guard", ok, 0)
		record(t, d.store, "guard", fail, 0)
		record(t, d.store, "guard", locked, 0)
		record(t, d.store, "other", ok, 0)

		got := accessLog(t, d.store, "guard", false)
		want := ok
		want.Backend = "guard"
		if len(got) != 1 || got[0].ID == "" {
			t.Fatalf("successes %+v, want alice's", got)
		}
		want.ID = got[0].ID
		if got[0] != want {
			t.Fatalf("success %+v, want %+v", got[0], want)
		}
		// Failures, newest first, with their locked-out flag.
		got = accessLog(t, d.store, "guard", true)
		if len(got) != 2 || !got[0].LockedOut || got[1].LockedOut || got[1].IPAddress != fail.IPAddress || !got[1].Time.Equal(fail.Time) {
			t.Fatalf("failures %+v, want the refusal then the wrong password", got)
		}
		if got := accessLog(t, d.store, "other", true); len(got) != 0 {
			t.Fatalf("other backend's failures: %+v", got)
		}
		// A record without a time gets the current one.
		before := time.Now().Add(-time.Second)
		record(t, d.store, "now", storage.AccessRecord{Username: "u"}, 0)
		if got := accessLog(t, d.store, "now", false); len(got) != 1 || got[0].Time.Before(before) || got[0].Time.After(time.Now().Add(time.Second)) {
			t.Fatalf("record without a time: %+v, want about now", got)
		}
	})
}

func TestAccessFailureLogPerUser(t *testing.T) {
	// Writing a failure drops the username's oldest failure records beyond
	// the limit: not its successes, not other users', not another
	// backend's.
	tests := []struct {
		name        string
		perUser     int
		n           int
		sameInstant bool
		want        int
	}{
		{"under the limit", 5, 3, false, 3},
		{"at the limit", 5, 5, false, 5},
		{"over the limit", 3, 8, false, 3},
		{"limit 1", 1, 4, false, 1},
		{"no limit", 0, 12, false, 12},
		{"over the limit at one instant", 5, 10, true, 5},
	}
	eachDatabase(t, func(t *testing.T, d db) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				be := "guard " + tt.name
				for _, u := range []string{"alice|x", "alicex", "Alice"} {
					record(t, d.store, be, storage.AccessRecord{Failed: true, Username: u, Time: t0}, tt.perUser)
				}
				record(t, d.store, be, storage.AccessRecord{Username: "alice", UserAgent: "success", Time: t0}, tt.perUser)
				record(t, d.store, be+" elsewhere", storage.AccessRecord{Failed: true, Username: "alice", Time: t0}, tt.perUser)
				for i := 1; i <= tt.n; i++ {
					at := t0.Add(time.Duration(i) * time.Second)
					if tt.sameInstant {
						at = t0
					}
					record(t, d.store, be, storage.AccessRecord{Failed: true, Username: "alice", UserAgent: fmt.Sprintf("ua-%02d", i), Time: at}, tt.perUser)
				}
				var agents []string
				others := 0
				for _, r := range accessLog(t, d.store, be, true) {
					if r.Username == "alice" {
						agents = append(agents, r.UserAgent)
					} else {
						others++
					}
				}
				var want []string
				for i := tt.n; i > tt.n-tt.want; i-- {
					want = append(want, fmt.Sprintf("ua-%02d", i))
				}
				if !slices.Equal(agents, want) {
					t.Fatalf("alice's failure records %v (newest first), want %v", agents, want)
				}
				if others != 3 {
					t.Fatalf("%d failure records of other users, want 3", others)
				}
				if got := accessLog(t, d.store, be, false); len(got) != 1 {
					t.Fatalf("successes %+v, want alice's one", got)
				}
				if got := accessLog(t, d.store, be+" elsewhere", true); len(got) != 1 {
					t.Fatalf("the other backend's records %+v, want its one", got)
				}
			})
		}
	})
}

func TestAccessLogInSettlement(t *testing.T) {
	// Settle writes its record in the transaction that settles the
	// attempt, trimming the failure log as RecordAccess does.
	eachDatabase(t, func(t *testing.T, d db) {
		a := d.store.Attempts("guard").WithClock(newTestClock().now)
		c := counter("k", 100, time.Hour)
		for i := 1; i <= 4; i++ {
			id := fmt.Sprint("r", i)
			admit(t, a, id, c)
			rec := storage.AccessRecord{Failed: true, Username: "alice", UserAgent: fmt.Sprintf("ua-%02d", i), Time: t0}
			settle(t, a, storage.Settlement{ID: id, Failed: true, Record: &rec, FailureLogLimit: 2}, c)
		}
		admit(t, a, "ok", c)
		rec := storage.AccessRecord{Username: "alice", SessionID: "s-1", Time: t0.Add(time.Minute)}
		settle(t, a, storage.Settlement{ID: "ok", Record: &rec}, c)
		if got := names(accessLog(t, d.store, "guard", true)); !slices.Equal(got, []string{"alice/ua-04", "alice/ua-03"}) {
			t.Fatalf("failure records %v, want the newest two", got)
		}
		if got := accessLog(t, d.store, "guard", false); len(got) != 1 || got[0].SessionID != "s-1" {
			t.Fatalf("success records %+v", got)
		}
		if got := counters(t, a); len(got) != 1 || got[0].Failures != 4 {
			t.Fatalf("counters %+v, want 4 failures", got)
		}
	})
}

func TestRecordLogout(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		record(t, d.store, "guard", storage.AccessRecord{Username: "alice", SessionID: "s-1", Time: t0}, 0)
		record(t, d.store, "other", storage.AccessRecord{Username: "alice", SessionID: "s-1", Time: t0}, 0)
		record(t, d.store, "guard", storage.AccessRecord{Username: "bob", SessionID: "s-2", Time: t0}, 0)
		record(t, d.store, "guard", storage.AccessRecord{Failed: true, Username: "alice", SessionID: "s-1", Time: t0}, 0)
		out := t0.Add(time.Hour)
		// Every backend's success record of the session, once.
		if n, err := d.store.RecordLogout(ctx, "s-1", out); err != nil || n != 2 {
			t.Fatalf("RecordLogout(s-1) = %d, %v; want 2", n, err)
		}
		for _, s := range []string{"s-1", "no-such", ""} {
			if n, err := d.store.RecordLogout(ctx, s, out.Add(time.Hour)); err != nil || n != 0 {
				t.Fatalf("RecordLogout(%q) = %d, %v; want 0", s, n, err)
			}
		}
		for _, r := range append(accessLog(t, d.store, "guard", false), accessLog(t, d.store, "other", false)...) {
			want := out
			if r.SessionID != "s-1" {
				want = time.Time{}
			}
			if !r.LogoutTime.Equal(want) {
				t.Fatalf("record %+v, want logout time %v", r, want)
			}
		}
		if r := accessLog(t, d.store, "guard", true); !r[0].LogoutTime.IsZero() {
			t.Fatalf("a failure record got a logout time: %+v", r[0])
		}
	})
}

func TestPruneAccessLog(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		for i, be := range []string{"guard", "other", "guard"} {
			at := t0.Add(time.Duration(i) * time.Hour)
			record(t, d.store, be, storage.AccessRecord{Username: fmt.Sprint("ok", i), Time: at}, 0)
			record(t, d.store, be, storage.AccessRecord{Failed: true, Username: fmt.Sprint("fail", i), Time: at}, 0)
		}
		if _, err := d.store.PruneAccessLog(ctx, time.Time{}); err == nil {
			t.Fatal("PruneAccessLog without a cutoff removed records")
		}
		// A record written at the cutoff goes; one a millisecond after
		// stays, in every backend.
		if n, err := d.store.PruneAccessLog(ctx, t0.Add(time.Hour-time.Millisecond)); err != nil || n != 2 {
			t.Fatalf("PruneAccessLog before the second hour = %d, %v; want 2", n, err)
		}
		if n, err := d.store.PruneAccessLog(ctx, t0.Add(time.Hour)); err != nil || n != 2 {
			t.Fatalf("PruneAccessLog at the second hour = %d, %v; want 2", n, err)
		}
		got := append(names(accessLog(t, d.store, "guard", false)), names(accessLog(t, d.store, "guard", true))...)
		got = append(got, names(accessLog(t, d.store, "other", false))...)
		if !slices.Equal(got, []string{"ok2/", "fail2/"}) {
			t.Fatalf("records left %v, want the last hour's", got)
		}
	})
}

func TestAccessLogKeepsWhatFits(t *testing.T) {
	// Values longer than their column, or not UTF-8, are stored cut and
	// made valid rather than refused (PostgreSQL would refuse them).
	eachDatabase(t, func(t *testing.T, d db) {
		long := strings.Repeat("ü", 300)
		rec := storage.AccessRecord{Failed: true, Username: long, IPAddress: strings.Repeat("1", 100), UserAgent: "agent \xff" + strings.Repeat("é", 300), Time: t0}
		record(t, d.store, "guard", rec, 1)
		record(t, d.store, "guard", rec, 1)
		got := accessLog(t, d.store, "guard", true)
		if len(got) != 1 {
			t.Fatalf("%d records, want 1 (the per-user limit applies to the cut name)", len(got))
		}
		r := got[0]
		if r.Username != strings.Repeat("ü", 255) || r.IPAddress != strings.Repeat("1", 64) {
			t.Fatalf("username of %d characters, address of %d, want 255 and 64", utf8.RuneCountInString(r.Username), len(r.IPAddress))
		}
		if !utf8.ValidString(r.UserAgent) || !strings.HasPrefix(r.UserAgent, "agent \uFFFD") || utf8.RuneCountInString(r.UserAgent) != 255 {
			t.Fatalf("user agent %q, want valid UTF-8 cut to 255 characters", r.UserAgent)
		}
	})
}

func TestPruneAccessLogOfOneBackend(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		for _, b := range []string{"guard-a", "guard-b"} {
			if err := d.store.RecordAccess(ctx, b, storage.AccessRecord{Username: "u", IPAddress: "192.0.2.1", Time: t0}, 0); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := d.store.PruneAccessLog(ctx, t0.Add(time.Hour), "guard-a"); err != nil || n != 1 {
			t.Fatalf("PruneAccessLog of guard-a = %d, %v; want 1", n, err)
		}
		if recs, err := d.store.AccessLog(ctx, "guard-b", false); err != nil || len(recs) != 1 {
			t.Fatalf("guard-b's records after pruning guard-a: %v, %v; want its one record", recs, err)
		}
	})
}
