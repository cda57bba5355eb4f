package signals

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Values planted in a webhook URL's user information, query and fragment.
// The request uses them; nothing the host logs or stores may show one.
var planted = []string{"plantedUser7q", "plantedPass7q", "plantedToken7q", "plantedQuery7q", "plantedFrag7q"}

// withPlanted returns base ("http://host:port") with the planted values
// in a URL to its /hook.
func withPlanted(base string) string {
	scheme, hostport, _ := strings.Cut(base, "://")
	return scheme + "://plantedUser7q:plantedPass7q@" + hostport + "/hook?token=plantedToken7q&x=plantedQuery7q#plantedFrag7q"
}

// leaks returns the planted values found in text.
func leaks(text string) []string {
	var found []string
	for _, p := range planted {
		if strings.Contains(text, p) {
			found = append(found, p)
		}
	}
	return found
}

// TestWebhookURLSecretsNeverShown makes webhook deliveries to a URL with
// planted credentials fail (connection refused, a 5xx, a timeout), sync
// and async until they are dead letters, and looks for the planted values
// in Receive's error, the log and every outbox row.
func TestWebhookURLSecretsNeverShown(t *testing.T) {
	// Port 1 (tcpmux) has no listener: a closed test server's port could
	// be given to another test's server meanwhile, and answer.
	refusedURL := "http://127.0.0.1:1"

	var sawCredentials bool
	failing := newHookServer(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if user == "plantedUser7q" && pass == "plantedPass7q" && r.URL.Query().Get("token") == "plantedToken7q" {
			sawCredentials = true
		}
		// An answer that quotes the request does not reach the error.
		http.Error(w, "failed: "+r.URL.String()+" "+r.Header.Get("Authorization"), http.StatusInternalServerError)
	})
	release := make(chan struct{})
	hanging := newHookServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name string
		base string
		// shows is what the log must say of the failure; a sync
		// receiver that is too slow is abandoned and logged as such.
		shows, syncShows string
	}{
		{"connection refused", refusedURL, "POST " + refusedURL + "/hook?…: dial tcp", ""},
		{"5xx", failing.URL, "webhook answered 500 Internal Server Error", ""},
		{"timeout", hanging.URL, "POST " + hanging.URL + "/hook?…: context deadline exceeded", "context deadline exceeded"},
	}
	for _, tt := range tests {
		for _, mode := range []Mode{Async, Sync} {
			t.Run(tt.name+"/"+string(mode), func(t *testing.T) {
				hook := NewWebhook(withPlanted(tt.base), testSecret)
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				err := hook.Receive(ctx, testSignal())
				cancel()
				if err == nil {
					t.Fatal("Receive succeeded")
				}
				if found := leaks(err.Error()); len(found) > 0 {
					t.Errorf("Receive's error %q shows %q", err, found)
				}

				e := newEnv(t, openSQLite(t))
				e.disp.Subscribe(&Subscription{Name: "hook", Mode: mode, Signals: []string{"*"}, Timeout: 200 * time.Millisecond, Receiver: hook})
				e.disp.Emit(context.Background(), "local", loginFailed("alice"))
				if mode == Async {
					opts := shortOptions()
					opts.MaxAttempts = 2
					run(t, e.newDeliverer(opts))
					waitFor(t, 10*time.Second, "a dead letter", func() bool { return countState(e.rows(t), "dead") == 1 })
				}

				log := e.log.String()
				if found := leaks(log); len(found) > 0 {
					t.Errorf("the log shows %q:\n%s", found, log)
				}
				shows := tt.shows
				if mode == Sync && tt.syncShows != "" {
					shows = tt.syncShows
				}
				if !strings.Contains(log, shows) {
					t.Errorf("the log does not say %q:\n%s", shows, log)
				}
				rows := append(e.rows(t), listRows(t, e.store, "dead")...)
				if mode == Async && len(rows) != 2 {
					t.Fatalf("%d rows (all, then dead), want 2", len(rows))
				}
				for _, r := range rows {
					if found := leaks(r.LastError + " " + r.Subscriber + " " + string(r.Args)); len(found) > 0 {
						t.Errorf("outbox row %d (%s) shows %q: last error %q", r.ID, r.State, found, r.LastError)
					}
					if r.LastError == "" {
						t.Errorf("outbox row %d (%s) has no last error", r.ID, r.State)
					}
				}
			})
		}
	}
	if !sawCredentials {
		t.Error("the requests did not carry the URL's credentials")
	}
}

// TestDeliveryErrorsNeverShowURLCredentials: whatever a receiver (a
// plugin, say) puts in its error, a URL in it is logged and stored without
// its user information and query.
func TestDeliveryErrorsNeverShowURLCredentials(t *testing.T) {
	cause := errors.New(`Post "https://plantedUser7q:plantedPass7q@siem.example.com/hook?token=plantedToken7q#plantedFrag7q": EOF`)
	for _, mode := range []Mode{Async, Sync} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, openSQLite(t))
			e.disp.Subscribe(&Subscription{Name: "exporter", Mode: mode, Signals: []string{"*"}, Timeout: time.Second,
				Receiver: &fakeReceiver{receive: func(context.Context, *sdk.Signal) error { return cause }}})
			e.disp.Emit(context.Background(), "local", loginFailed("alice"))
			if mode == Async {
				opts := shortOptions()
				opts.MaxAttempts = 2
				run(t, e.newDeliverer(opts))
				waitFor(t, 10*time.Second, "a dead letter", func() bool { return countState(e.rows(t), "dead") == 1 })
			}
			log := e.log.String()
			if found := leaks(log); len(found) > 0 {
				t.Errorf("the log shows %q:\n%s", found, log)
			}
			if !strings.Contains(log, "https://siem.example.com/hook?…") {
				t.Errorf("the log does not name the URL as shown:\n%s", log)
			}
			for _, r := range e.rows(t) {
				if found := leaks(r.LastError); len(found) > 0 {
					t.Errorf("outbox row %d shows %q: %q", r.ID, found, r.LastError)
				}
			}
		})
	}
}

// TestWebhookUnparsableURLNeverShown: a URL that cannot be parsed is not
// quoted in Receive's error, since it may carry credentials.
func TestWebhookUnparsableURLNeverShown(t *testing.T) {
	err := NewWebhook("https://plantedUser7q:planted%zzPass7q@h.example/hook?token=plantedToken7q", testSecret).Receive(context.Background(), testSignal())
	if err == nil {
		t.Fatal("Receive succeeded")
	}
	if found := leaks(err.Error()); len(found) > 0 {
		t.Fatalf("Receive's error %q shows %q", err, found)
	}
}
