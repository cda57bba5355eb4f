package signals

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// TestOriginSurvivesDelivery: whether the host or a plugin emitted a signal
// is kept in the outbox and reaches every async receiver: a receiver's
// sdk.Signal, the webhook envelope and the audit file line. The deliverer
// runs on a second host process on the same database, so it knows only what
// the outbox kept.
func TestOriginSurvivesDelivery(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open := b.newDB(t)
			emitting, delivering := newEnv(t, open(t)), newEnv(t, open(t))

			hook := newHookServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
			auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
			audit := openAudit(t, auditPath)
			defer audit.Close()
			rec := &recorder{}
			subscriptions := func() []*Subscription {
				return []*Subscription{
					{Name: "webhook", Mode: Async, Signals: []string{"*"}, Timeout: 5 * time.Second, Receiver: NewWebhook(hook.URL, testSecret)},
					{Name: "audit", Mode: Async, Signals: []string{"*"}, Timeout: 5 * time.Second, Receiver: audit},
					{Name: "receiver", Mode: Async, Signals: []string{"*"}, Timeout: 5 * time.Second, Receiver: rec.receiver("receiver", nil)},
				}
			}
			emitting.disp.Subscribe(subscriptions()...)
			delivering.disp.Subscribe(subscriptions()...)

			// Both from the same sender name: only the origin tells them apart.
			hostID := emitting.disp.Emit(context.Background(), "exporter", loginFailed("alice"))
			pluginID, err := emitting.disp.EmitFromPlugin(context.Background(), "acme.user_exported", "exporter", json.RawMessage(`{"n":1}`))
			if err != nil || hostID == "" {
				t.Fatalf("emitting: host id %q; plugin signal: %q, %v", hostID, pluginID, err)
			}
			want := map[string]string{hostID: OriginHost, pluginID: OriginPlugin}

			rows := emitting.rows(t)
			if len(rows) != 6 {
				t.Fatalf("outbox has %d rows, want 2 signals × 3 subscribers", len(rows))
			}
			for _, r := range rows {
				if r.Origin != want[r.SignalID] {
					t.Errorf("outbox row for %s (%s) has origin %q, want %q", r.Subscriber, r.Name, r.Origin, want[r.SignalID])
				}
			}

			run(t, delivering.newDeliverer(shortOptions()))
			waitFor(t, 10*time.Second, "6 deliveries", func() bool {
				return countState(delivering.rows(t), "delivered") == 6
			})

			// seen holds, by receiver, the signals it has not shown yet.
			seen := map[string]map[string]bool{}
			for _, where := range []string{"receiver", "webhook", "audit file"} {
				seen[where] = map[string]bool{hostID: true, pluginID: true}
			}
			check := func(where, id, origin string) {
				t.Helper()
				if w, ok := want[id]; !ok {
					t.Errorf("%s: a signal %q that was not emitted", where, id)
				} else if origin != w {
					t.Errorf("%s: signal %s has origin %q, want %q", where, id, origin, w)
				}
				delete(seen[where], id)
			}
			for _, c := range rec.all() {
				check("receiver", c.sig.ID, c.sig.Origin)
			}
			for _, req := range hook.received() {
				var env envelope
				if err := json.Unmarshal(req.body, &env); err != nil {
					t.Fatalf("webhook body %s: %v", req.body, err)
				}
				check("webhook", env.ID, env.Origin)
			}
			for _, line := range readLines(t, auditPath) {
				var env envelope
				if err := json.Unmarshal([]byte(line), &env); err != nil {
					t.Fatalf("audit line %s: %v", line, err)
				}
				check("audit file", env.ID, env.Origin)
			}
			for where, missing := range seen {
				if len(missing) > 0 {
					t.Errorf("%s never got %v", where, missing)
				}
			}
		})
	}
}

// TestEmitRefusesArgumentsOutsideTheCatalogue: the host's Emit takes only
// catalogue argument types, so a host signal is always one the catalogue
// describes; anything else is dropped, not sent under a made-up name.
func TestEmitRefusesArgumentsOutsideTheCatalogue(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := &recorder{}
	e.disp.Subscribe(
		&Subscription{Name: "sync", Mode: Sync, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("sync", nil)},
		&Subscription{Name: "async", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("async", nil)},
	)
	for _, args := range []any{
		map[string]any{"username": "alice"},
		struct{ Username string }{"alice"},
		json.RawMessage(`{"username":"alice"}`),
		&sdk.Signal{Name: "user_logged_in"},
		nil,
	} {
		if id := e.disp.Emit(context.Background(), "local", args); id != "" {
			t.Errorf("Emit(%T) = %q, want no signal", args, id)
		}
	}
	if calls := rec.all(); len(calls) != 0 {
		t.Errorf("receivers got %d signals, want none", len(calls))
	}
	if rows := e.rows(t); len(rows) != 0 {
		t.Errorf("queued: %+v", rows)
	}
}
