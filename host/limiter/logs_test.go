package limiter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// The access log and the access failure log are a host table
// (storage.AccessLog), written in the transaction that settles the attempt.

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
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				h := newHarness(t, db, tt.config)
				h.tryN(alice, wrong, 1)
				h.tryN(alice, unavailable, 1)
				h.tryN(alice, denied, 1)
				if got := h.accessRecords(false); len(got) != 0 {
					t.Fatalf("access records after attempts that did not log in: %+v", got)
				}
				loginAt := h.now()
				session := h.login(alice)
				h.advance(5 * time.Second)
				bob := attempt{"bob", "192.0.2.8", "curl"}
				bobSession := h.login(bob)
				recs := h.accessRecords(false)
				if !tt.want {
					if len(recs) != 0 {
						t.Fatalf("access_log off, yet records %+v", recs)
					}
					return
				}
				if len(recs) != 2 {
					t.Fatalf("access records %+v, want alice's then bob's", recs)
				}
				got := recs[0]
				want := storage.AccessRecord{ID: got.ID, Backend: h.name, Username: "alice", IPAddress: alice.ip, UserAgent: alice.ua, SessionID: session, Time: loginAt}
				if got != want || got.ID == "" {
					t.Fatalf("alice's access record %+v, want %+v", got, want)
				}
				if recs[1].Username != "bob" || recs[1].SessionID != bobSession || !recs[1].Time.Equal(loginAt.Add(5*time.Second)) || !recs[1].LogoutTime.IsZero() {
					t.Fatalf("bob's access record %+v", recs[1])
				}
				// The host stamps the logout of a session on its record.
				logoutAt := h.now().Add(time.Hour)
				if n, err := h.store.RecordLogout(ctx, session, logoutAt); err != nil || n != 1 {
					t.Fatalf("RecordLogout = %d, %v; want 1", n, err)
				}
				recs = h.accessRecords(false)
				if !recs[0].LogoutTime.Equal(logoutAt) || !recs[1].LogoutTime.IsZero() {
					t.Fatalf("records after alice's logout: %+v", recs)
				}
				// A second logout of the same session, or one of an unknown
				// session, changes nothing.
				for _, s := range []string{session, "no-such-session", ""} {
					if n, err := h.store.RecordLogout(ctx, s, logoutAt.Add(time.Hour)); err != nil || n != 0 {
						t.Fatalf("RecordLogout(%q) = %d, %v; want 0", s, n, err)
					}
				}
				if recs = h.accessRecords(false); !recs[0].LogoutTime.Equal(logoutAt) || !recs[1].LogoutTime.IsZero() {
					t.Fatalf("records after repeated logouts: %+v", recs)
				}
			})
		}
	})
}

func TestAccessLogUsesNormalizedName(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"username_normalization":"casefold"}`)
		h.login(attempt{"ＡＬＩＣＥ", alice.ip, alice.ua})
		if recs := h.accessRecords(false); len(recs) != 1 || recs[0].Username != "alice" {
			t.Fatalf("access records %+v, want one for alice", recs)
		}
	})
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
		// Two wrong passwords, then two refusals; the outcomes that are not
		// failures leave nothing.
		{"on", `{"failure_limit":2,"cooloff":"1m","access_failure_log":true}`,
			[]rec{{"alice", false}, {"alice", false}, {"alice", true}, {"alice", true}}},
		// As django-axes: a refused attempt that is not counted is not
		// logged either.
		{"on, not counting during the lock", `{"failure_limit":2,"cooloff":"1m","access_failure_log":true,"reset_cooloff_on_failure_during_lockout":false}`,
			[]rec{{"alice", false}, {"alice", false}}},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, tt.config)
				for _, r := range []sdk.LoginResult{right, unavailable, denied} {
					h.tryN(alice, r, 1)
				}
				for range 4 {
					h.advance(time.Second)
					h.try(alice, wrong)
				}
				var got []rec
				recs := h.accessRecords(true)
				for i, r := range recs {
					got = append(got, rec{r.Username, r.LockedOut})
					if r.IPAddress != alice.ip || r.UserAgent != alice.ua || !r.Failed || r.SessionID != "" || r.Backend != h.name {
						t.Errorf("record %+v, want a failure with alice's address and agent", r)
					}
					if i > 0 && !r.Time.After(recs[i-1].Time) {
						t.Errorf("records out of order: %+v", recs)
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("failure records %+v, want %+v", got, tt.want)
				}
			})
		}
	})
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
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				config := `{"failure_limit":100,"access_failure_log":true}`
				if tt.limit != 0 {
					config = fmt.Sprintf(`{"failure_limit":100,"access_failure_log":true,"access_failure_log_per_user_limit":%d}`, tt.limit)
				}
				h := newHarness(t, db, config)
				// Other users, one of whose names starts like alice's, keep
				// their records.
				h.tryN(attempt{"alice|x", "192.0.2.2", "other"}, wrong, 2)
				h.tryN(attempt{"alicex", "192.0.2.2", "other"}, wrong, 2)
				for i := 1; i <= tt.n; i++ {
					h.advance(time.Second)
					h.tryN(attempt{"alice", "192.0.2.1", fmt.Sprintf("ua-%02d", i)}, wrong, 1)
				}
				var agents []string
				others := 0
				for _, r := range h.accessRecords(true) {
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
				perUser := tt.limit
				if perUser == 0 {
					perUser = 1000
				}
				if want := 2 * min(2, perUser); others != want {
					t.Fatalf("%d records of other users, want %d", others, want)
				}
			})
		}
	})
}

func TestAccessFailureLogDropsOldestAtTheSameTime(t *testing.T) {
	// Records written at one instant (the clock does not move) are still
	// dropped oldest first.
	eachDB(t, func(t *testing.T, db *testDB) {
		h := newHarness(t, db, `{"failure_limit":100,"access_failure_log":true,"access_failure_log_per_user_limit":5}`)
		for i := 1; i <= 10; i++ {
			h.tryN(attempt{"alice", "192.0.2.1", fmt.Sprintf("ua-%02d", i)}, wrong, 1)
		}
		var agents []string
		for _, r := range h.accessRecords(true) {
			agents = append(agents, r.UserAgent)
		}
		if want := []string{"ua-06", "ua-07", "ua-08", "ua-09", "ua-10"}; !slices.Equal(agents, want) {
			t.Fatalf("records %v (oldest first), want the newest %v", agents, want)
		}
	})
}

func TestValuesTheDatabaseCouldRefuse(t *testing.T) {
	// A username longer than the access log's column, or a user agent (any
	// header bytes) or username that is not UTF-8, must not make the login
	// fail: the counters and records keep what fits as valid UTF-8, the
	// failures are counted, and each attempt's room is given back.
	tests := []struct {
		name string
		a    attempt
	}{
		{"username longer than the log's column", attempt{strings.Repeat("ü", 300), "192.0.2.1", "ua"}},
		{"user agent that is not UTF-8", attempt{"alice", "192.0.2.1", "Mozilla/5.0 \xff\xfe"}},
		{"username that is not UTF-8", attempt{"al\xffice", "192.0.2.1", "ua"}},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := tt.a
				h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1m","access_failure_log":true,"max_wait":"50ms","lockout_parameters":[["username","ip_address","user_agent"]]}`)
				h.login(a)
				h.login(a) // a reservation left behind would take the room
				h.tryN(a, wrong, 2)
				if v := h.try(a, wrong); !locked(v) {
					t.Fatalf("after 2 failures: %s, want locked", describe(v))
				}
				cs := h.counters()
				if len(cs) != 1 || cs[0].Failures != 3 || !utf8.ValidString(cs[0].Username) || !utf8.ValidString(cs[0].UserAgent) {
					t.Fatalf("counters %+v, want one at 3 with valid UTF-8 values", cs)
				}
				for _, failed := range []bool{false, true} {
					recs := h.accessRecords(failed)
					if want := map[bool]int{false: 2, true: 3}[failed]; len(recs) != want {
						t.Fatalf("%d records (failed %v), want %d", len(recs), failed, want)
					}
					for _, r := range recs {
						if r.Username == "" || !utf8.ValidString(r.Username) || !utf8.ValidString(r.UserAgent) || utf8.RuneCountInString(r.Username) > 255 {
							t.Fatalf("record %+v, want valid UTF-8 values that fit", r)
						}
					}
				}
			})
		}
	})
}

func TestSensitiveParameters(t *testing.T) {
	// sensitive_parameters masks the client fields in the host's log lines
	// about the rule, each exactly when it is listed. The access log and
	// the access failure log keep the real values, as django-axes's
	// AccessLog and AccessFailureLog do.
	const mask = "********************"
	// Values found nowhere else in the output.
	client := attempt{"sensitive-user", "198.51.100.77", "SensitiveAgent/9.1"}
	plain := map[string]string{"username": client.user, "ip_address": client.ip, "user_agent": client.ua}
	fields := []string{"username", "ip_address", "user_agent"}
	// The log lines that name the client; each must be seen.
	clientLines := []string{"lockout: client locked out", "lockout: attempt refused", "lockout: failure counted"}

	tests := []struct {
		name      string
		setting   string // the sensitive_parameters entry; "" leaves it out
		sensitive []string
	}{
		{"default", "", []string{"username", "ip_address"}},
		{"username", `,"sensitive_parameters":["username"]`, []string{"username"}},
		{"ip_address", `,"sensitive_parameters":["ip_address"]`, []string{"ip_address"}},
		{"user_agent", `,"sensitive_parameters":["user_agent"]`, []string{"user_agent"}},
		{"all three", `,"sensitive_parameters":["username","ip_address","user_agent"]`, fields},
		{"none", `,"sensitive_parameters":[]`, nil},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db, `{"failure_limit":2,"cooloff":"1m","access_failure_log":true`+tt.setting+`}`)
				h.login(client)
				h.tryN(client, wrong, 2) // the second locks: "client locked out"
				if v := h.try(client, wrong); !locked(v) {
					t.Fatalf("third failure: %s, want it locked out", describe(v))
				}
				// Busy is logged too.
				busy := newHarness(t, db, `{"failure_limit":1,"max_wait":"1ms"`+tt.setting+`}`, func(o *Options) { o.Logger = h.opts.Logger })
				inFlight := busy.mustCheck(client)
				if v := busy.mustCheck(client); !v.Busy {
					t.Fatalf("second attempt with the room taken: %s, want busy", describe(v))
				}
				if _, err := end(inFlight, right); err != nil {
					t.Fatal(err)
				}
				lines := append(slices.Clone(clientLines), "lockout: attempt waited too long for room on a counter; answered try_again")

				seen := map[string]int{}
				for _, line := range h.logLines() {
					msg, _ := line["msg"].(string)
					if !slices.Contains(lines, msg) {
						continue
					}
					seen[msg]++
					for _, f := range fields {
						want := plain[f]
						if slices.Contains(tt.sensitive, f) {
							want = mask
						}
						if got := line[f]; got != want {
							t.Errorf("%q: %s=%v, want %q", msg, f, got, want)
						}
					}
				}
				for _, msg := range lines {
					if seen[msg] == 0 {
						t.Errorf("no %q line in the log", msg)
					}
				}
				out := h.logs.String()
				for _, f := range tt.sensitive {
					if strings.Contains(out, plain[f]) {
						t.Errorf("the log shows the %s %q in clear", f, plain[f])
					}
				}

				// The records keep the real values, whatever is masked.
				acc := h.accessRecords(false)
				if len(acc) != 1 || acc[0].Username != client.user || acc[0].IPAddress != client.ip || acc[0].UserAgent != client.ua {
					t.Errorf("access records %+v, want one with %+v", acc, client)
				}
				fails := h.accessRecords(true)
				if len(fails) != 3 {
					t.Errorf("%d access failure records, want 3 (two failures, one refusal): %+v", len(fails), fails)
				}
				for _, r := range fails {
					if r.Username != client.user || r.IPAddress != client.ip || r.UserAgent != client.ua {
						t.Errorf("access failure record %+v, want the values of %+v", r, client)
					}
				}
			})
		}
	})
}
