package hostsvc_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// A signal a plugin emits reaches the dispatcher's subscribers, with its
// arguments intact, in the instance's name unless it names a sender.
func testSignals(t *testing.T, db database) {
	h := newHost(t, db)
	emitter := h.plugin(t, "lockout").Signals()
	locked := sdk.UserLockedOut{
		Username:    "alice",
		ClientFacts: sdk.ClientFacts{ClientIP: "192.0.2.1", UserAgent: "test"},
		Failures:    5,
		Until:       time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	tests := []struct {
		name, sender, wantSender string
		args                     any
	}{
		{"user_locked_out", "", "lockout", locked},
		{"user_locked_out", "2FA", "2FA", &locked},
		// A name outside the catalogue is a custom signal if it looks like
		// one; its arguments are any JSON object.
		{"acme.widget_turned", "", "lockout", map[string]any{"widget": "w1", "turns": 3}},
	}
	for i, tt := range tests {
		id, err := emitter.Emit(t.Context(), tt.name, tt.sender, tt.args)
		if err != nil || id == "" {
			t.Fatalf("Emit(%s) = %q, %v", tt.name, id, err)
		}
		got := h.received.all()
		if len(got) != i+1 {
			t.Fatalf("after Emit(%s) the subscriber has %d signals, want %d", tt.name, len(got), i+1)
		}
		sig := got[i]
		if sig.ID != id || sig.Name != tt.name || sig.Sender != tt.wantSender {
			t.Errorf("received %s from %q with id %s; want %s from %q with id %s",
				sig.Name, sig.Sender, sig.ID, tt.name, tt.wantSender, id)
		}
		if !sameJSON(t, sig.Args, tt.args) {
			t.Errorf("%s arrived with arguments %s, want %+v", tt.name, sig.Args, tt.args)
		}
	}
	var decoded sdk.UserLockedOut
	if err := h.received.all()[0].Decode(&decoded); err != nil || !reflect.DeepEqual(decoded, locked) {
		t.Errorf("decoded %+v, %v; want %+v", decoded, err, locked)
	}
}

// A signal the host would not accept is refused with ErrInvalidArgument and
// a message that says what is wrong, and reaches no one.
func testRefusedSignals(t *testing.T, db database) {
	h := newHost(t, db)
	emitter := h.plugin(t, "refused").Signals()
	tests := []struct {
		what, name string
		args       any
		saying     string
	}{
		{"a name that cannot be a signal's", "Bad Name!", map[string]any{}, `"Bad Name!"`},
		{"no name", "", map[string]any{}, `name ""`},
		{"an unknown argument", "user_locked_out", map[string]any{"username": "alice", "password": "secret"}, `unknown argument "password"`},
		{"an argument of the wrong type", "user_locked_out", map[string]any{"username": "alice", "failures": "five"}, `"failures"`},
		{"catalogue arguments that are not an object", "user_locked_out", "alice", "JSON object"},
		{"custom arguments that are not an object", "acme.widget_turned", []string{"w1"}, "JSON object"},
		{"no catalogue arguments (nil)", "user_locked_out", nil, "JSON object"},
		{"no catalogue arguments (a nil map)", "user_locked_out", map[string]any(nil), "JSON object"},
		{"arguments that cannot be encoded", "user_locked_out", map[string]any{"username": func() {}}, "encoding the arguments"},
		{"a name that is not UTF-8", "user_\xff", map[string]any{}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := emitter.Emit(t.Context(), tt.name, "", tt.args)
		wantErr(t, "Emit with "+tt.what, err, sdk.ErrInvalidArgument)
		if err != nil && !strings.Contains(err.Error(), tt.saying) {
			t.Errorf("Emit with %s: error %q does not say %s", tt.what, err, tt.saying)
		}
	}
	if got := h.received.all(); len(got) != 0 {
		t.Errorf("refused signals were delivered: %+v", got)
	}
}

// sameJSON reports whether raw encodes the same JSON value as v does.
func sameJSON(t testing.TB, raw json.RawMessage, v any) bool {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("arguments %s: %v", raw, err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}
