package lockout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// accessRecords reads the access log, oldest first.
func (h *harness) accessRecords() []AccessRecord {
	h.t.Helper()
	var out []AccessRecord
	for _, e := range append(h.entries(prefixAccess), h.entries(prefixSession)...) {
		var r AccessRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			h.t.Fatalf("access record %s: %v", e.Key, err)
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// failureRecords reads the access failure log, by username then time.
func (h *harness) failureRecords() []FailureRecord {
	h.t.Helper()
	var out []FailureRecord
	for _, e := range h.entries(prefixFailure) {
		var r FailureRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			h.t.Fatalf("failure record %s: %v", e.Key, err)
		}
		out = append(out, r)
	}
	return out
}

func (h *harness) logout(sessionID string) {
	h.t.Helper()
	h.send(&sdk.UserLoggedOut{UserID: "u", SessionID: sessionID, ClientFacts: sdk.ClientFacts{ClientIP: alice.ip, UserAgent: alice.ua}}, "host")
}

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   bool
	}{
		{"on by default", `{}`, true},
		{"on", `{"access_log":true}`, true},
		{"off", `{"access_log":false}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			md, err := h.remote.Metadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			subscribed := slices.ContainsFunc(md.Subscriptions, func(s sdk.Subscription) bool { return s.Signal == "user_logged_out" })
			if subscribed != tt.want {
				t.Errorf("subscribed to user_logged_out: %v, want %v", subscribed, tt.want)
			}
			h.tryN(alice, wrongPassword, 1)
			h.tryN(alice, backendDown, 1)
			h.tryN(alice, deniedByOther, 1)
			if got := h.accessRecords(); len(got) != 0 {
				t.Fatalf("access records after attempts that did not log in: %+v", got)
			}
			loginAt := h.now()
			session := h.login(alice)
			h.advance(5 * time.Second)
			h.login(attempt{"bob", "192.0.2.8", "curl"})
			recs := h.accessRecords()
			if !tt.want {
				if len(recs) != 0 || len(h.entries(prefixSession)) != 0 {
					t.Fatalf("access_log off, yet records %+v and session refs %+v", recs, h.entries(prefixSession))
				}
				h.logout(session) // not an error
				return
			}
			want := AccessRecord{Username: "alice", IPAddress: alice.ip, UserAgent: alice.ua, SessionID: session, Time: loginAt}
			if len(recs) != 2 || recs[0] != want || recs[1].Username != "bob" || !recs[1].LogoutTime.IsZero() {
				t.Fatalf("access records %+v, want alice's %+v then bob's", recs, want)
			}
			h.advance(time.Hour)
			logoutAt := h.now()
			h.logout(session)
			recs = h.accessRecords()
			if !recs[0].LogoutTime.Equal(logoutAt) {
				t.Fatalf("alice's logout_time %v, want %v", recs[0].LogoutTime, logoutAt)
			}
			if !recs[1].LogoutTime.IsZero() {
				t.Fatalf("bob's record got a logout_time: %+v", recs[1])
			}
			// A second logout of the same session, or one of an unknown
			// session, changes nothing.
			h.advance(time.Hour)
			h.logout(session)
			h.logout("no-such-session")
			h.logout("")
			if recs = h.accessRecords(); !recs[0].LogoutTime.Equal(logoutAt) || !recs[1].LogoutTime.IsZero() {
				t.Fatalf("records after repeated logouts: %+v", recs)
			}
		})
	}
}

func TestAccessLogUsesNormalizedName(t *testing.T) {
	h := newHarness(t, `{"username_normalization":"casefold"}`)
	h.login(attempt{"ＡＬＩＣＥ", alice.ip, alice.ua})
	if recs := h.accessRecords(); len(recs) != 1 || recs[0].Username != "alice" {
		t.Fatalf("access records %+v, want one for alice", recs)
	}
}

func TestAccessFailureLog(t *testing.T) {
	type rec struct {
		user   string
		locked bool
	}
	tests := []struct {
		name   string
		config string
		want   []rec
	}{
		{"off by default", `{"failure_limit":2,"cooloff":"1m"}`, nil},
		{"off", `{"failure_limit":2,"cooloff":"1m","access_failure_log":false}`, nil},
		// Two wrong passwords, then two refusals; the outcomes that are
		// not failures leave nothing.
		{"on", `{"failure_limit":2,"cooloff":"1m","access_failure_log":true}`,
			[]rec{{"alice", false}, {"alice", false}, {"alice", true}, {"alice", true}}},
		// As django-axes: a refused attempt that is not counted is not
		// logged either.
		{"on, not counting during the lock", `{"failure_limit":2,"cooloff":"1m","access_failure_log":true,"reset_cooloff_on_failure_during_lockout":false}`,
			[]rec{{"alice", false}, {"alice", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.config)
			for _, o := range []outcome{rightPassword, backendDown, deniedByOther} {
				h.tryN(alice, o, 1)
			}
			for range 4 {
				h.advance(time.Second)
				h.try(alice, wrongPassword)
			}
			var got []rec
			recs := h.failureRecords()
			for i, r := range recs {
				got = append(got, rec{r.Username, r.LockedOut})
				if r.IPAddress != alice.ip || r.UserAgent != alice.ua {
					t.Errorf("record %+v, want alice's address and agent", r)
				}
				if i > 0 && r.Time.Before(recs[i-1].Time) {
					t.Errorf("records out of order: %+v", recs)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("failure records %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAccessFailureLogPerUserLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit int // 0: not set
		n     int
		want  int
	}{
		{"under the limit", 5, 3, 3},
		{"at the limit", 5, 5, 5},
		{"over the limit", 3, 8, 3},
		{"limit 1", 1, 4, 1},
		{"default 1000", 0, 12, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := `{"failure_limit":100,"access_failure_log":true}`
			if tt.limit != 0 {
				config = fmt.Sprintf(`{"failure_limit":100,"access_failure_log":true,"access_failure_log_per_user_limit":%d}`, tt.limit)
			}
			h := newHarness(t, config)
			// Other users, one of whose names starts like alice's, keep
			// their records.
			h.tryN(attempt{"alice|x", "192.0.2.2", "other"}, wrongPassword, 2)
			h.tryN(attempt{"alicex", "192.0.2.2", "other"}, wrongPassword, 2)
			for i := 1; i <= tt.n; i++ {
				h.advance(time.Second)
				h.tryN(attempt{"alice", "192.0.2.1", fmt.Sprintf("ua-%02d", i)}, wrongPassword, 1)
			}
			var agents []string
			others := 0
			for _, r := range h.failureRecords() {
				if r.Username == "alice" {
					agents = append(agents, r.UserAgent)
				} else {
					others++
				}
			}
			// The newest stay: the oldest are dropped.
			var want []string
			for i := tt.n - tt.want + 1; i <= tt.n; i++ {
				want = append(want, fmt.Sprintf("ua-%02d", i))
			}
			if !slices.Equal(agents, want) {
				t.Fatalf("alice's records %v, want %v", agents, want)
			}
			// Each of the two others has 2, capped by their own limit.
			perUser := tt.limit
			if perUser == 0 {
				perUser = 1000
			}
			if want := 2 * min(2, perUser); others != want {
				t.Fatalf("%d records of other users, want %d", others, want)
			}
		})
	}
}

func TestAccessFailureLogDropsOldestWithinOneMillisecond(t *testing.T) {
	h := newHarness(t, `{"failure_limit":100,"access_failure_log":true,"access_failure_log_per_user_limit":5}`)
	for i := 1; i <= 10; i++ {
		h.tryN(attempt{"alice", "192.0.2.1", fmt.Sprintf("ua-%02d", i)}, wrongPassword, 1)
	}
	var agents []string
	for _, r := range h.failureRecords() {
		agents = append(agents, r.UserAgent)
	}
	slices.Sort(agents)
	if want := []string{"ua-06", "ua-07", "ua-08", "ua-09", "ua-10"}; !slices.Equal(agents, want) {
		t.Fatalf("records %v, want the newest %v", agents, want)
	}
}
