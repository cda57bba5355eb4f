package lockout

import (
	"slices"
	"strings"
	"testing"
)

// TestSensitiveParameters proves what sensitive_parameters masks: the
// client fields in the plugin's own log lines, each exactly when it is
// listed. The access log and the access failure log keep the real values,
// as django-axes's AccessLog and AccessFailureLog do (docs/lockout.md, "Log
// lines").
func TestSensitiveParameters(t *testing.T) {
	const mask = "********************"
	// Values found nowhere else in the plugin's output.
	client := attempt{"sensitive-user", "198.51.100.77", "SensitiveAgent/9.1"}
	plain := map[string]string{FieldUsername: client.user, FieldIPAddress: client.ip, FieldUserAgent: client.ua}
	fields := []string{FieldUsername, FieldIPAddress, FieldUserAgent}
	// The log lines that name the client; both must be seen.
	clientLines := []string{"lockout: client locked out", "lockout: attempt refused"}

	tests := []struct {
		name      string
		setting   string // the sensitive_parameters entry; "" leaves it out
		sensitive []string
	}{
		{"default", "", []string{FieldUsername, FieldIPAddress}},
		{"username", `,"sensitive_parameters":["username"]`, []string{FieldUsername}},
		{"ip_address", `,"sensitive_parameters":["ip_address"]`, []string{FieldIPAddress}},
		{"user_agent", `,"sensitive_parameters":["user_agent"]`, []string{FieldUserAgent}},
		{"all three", `,"sensitive_parameters":["username","ip_address","user_agent"]`, fields},
		{"none", `,"sensitive_parameters":[]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, `{"failure_limit":2,"cooloff":"1m","access_failure_log":true`+tt.setting+`}`)
			h.login(client)
			h.tryN(client, wrongPassword, 2) // the second locks: "client locked out"
			if r := h.try(client, wrongPassword); !locked(r) {
				t.Fatalf("third failure: %s, want it locked out", describe(r))
			}

			// The plugin's log lines.
			seen := map[string]int{}
			for _, line := range h.logLines() {
				msg, _ := line["msg"].(string)
				if !slices.Contains(clientLines, msg) {
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
			for _, msg := range clientLines {
				if seen[msg] == 0 {
					t.Errorf("no %q line in the plugin's log", msg)
				}
			}
			out := h.logs.String()
			for _, f := range tt.sensitive {
				if strings.Contains(out, plain[f]) {
					t.Errorf("the plugin's log shows the %s %q in clear", f, plain[f])
				}
			}

			// The records keep the real values, whatever is masked.
			acc := h.accessRecords()
			if len(acc) != 1 || acc[0].Username != client.user || acc[0].IPAddress != client.ip || acc[0].UserAgent != client.ua {
				t.Errorf("access records %+v, want one with %+v", acc, client)
			}
			fails := h.failureRecords()
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
}
