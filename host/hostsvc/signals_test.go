package hostsvc_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portcullis-auth/portcullis/host/hostsvc"
	hostsignals "github.com/portcullis-auth/portcullis/host/signals"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// A signal a plugin may send — its own declared name, or a catalogue
// signal plugins may send (the OAuth2 ones) that it declares — reaches the
// subscribers with its arguments intact, from the plugin's instance, with
// origin "plugin"; the host's own signals have origin "host".
func testSignals(t *testing.T, db database) {
	h := newHost(t, db)
	emitter := h.plugin(t, "github", role{authenticator: true, emits: []string{"oauth2_token_fetched", "acme.widget_turned"}}).Signals()
	fetched := signals.OAuth2TokenFetched{Backend: "github", Scope: "read:user", ExpiresIn: 3600}
	tests := []struct {
		name string
		args any
	}{
		{"oauth2_token_fetched", fetched},
		{"oauth2_token_fetched", &fetched},
		// A name outside the catalogue is a custom signal; its arguments
		// are any JSON object.
		{"acme.widget_turned", map[string]any{"widget": "w1", "turns": 3}},
	}
	for i, tt := range tests {
		id, err := emitter.Emit(t.Context(), tt.name, tt.args)
		if err != nil || id == "" {
			t.Fatalf("Emit(%s) = %q, %v", tt.name, id, err)
		}
		got := h.received.all()
		if len(got) != i+1 {
			t.Fatalf("after Emit(%s) the subscriber has %d signals, want %d", tt.name, len(got), i+1)
		}
		sig := got[i]
		if sig.ID != id || sig.Name != tt.name || sig.Sender != "github" || sig.Origin != hostsignals.OriginPlugin {
			t.Errorf("received %s from %q (origin %q) with id %s; want %s from github (origin plugin) with id %s",
				sig.Name, sig.Sender, sig.Origin, sig.ID, tt.name, id)
		}
		if !sameJSON(t, sig.Args, tt.args) {
			t.Errorf("%s arrived with arguments %s, want %+v", tt.name, sig.Args, tt.args)
		}
		queued := h.queued(t)
		if len(queued) != i+1 {
			t.Fatalf("after Emit(%s) the outbox has %d signals, want %d", tt.name, len(queued), i+1)
		}
		if q := queued[i]; q.SignalID != id || q.Sender != "github" || q.Origin != hostsignals.OriginPlugin {
			t.Errorf("queued %s from %q (origin %q), want id %s from github (origin plugin)", q.SignalID, q.Sender, q.Origin, id)
		}
	}
	var decoded signals.OAuth2TokenFetched
	if err := signals.Decode(&h.received.all()[0], &decoded); err != nil || decoded != fetched {
		t.Errorf("decoded %+v, %v; want %+v", decoded, err, fetched)
	}

	// What the host emits is the host's, even under a plugin's name.
	hostID := h.signals.Emit(t.Context(), "github", &signals.UserLoggedIn{UserID: "u1", Username: "alice", Backend: "github"})
	got := h.received.all()
	if last := got[len(got)-1]; last.ID != hostID || last.Name != "user_logged_in" || last.Origin != hostsignals.OriginHost {
		t.Errorf("the host's user_logged_in arrived as %+v, want id %s with origin host", last, hostID)
	}
	queued := h.queued(t)
	if last := queued[len(queued)-1]; last.SignalID != hostID || last.Origin != hostsignals.OriginHost {
		t.Errorf("the host's user_logged_in was queued as %+v, want id %s with origin host", last, hostID)
	}
}

// A signal the plugin may send but whose arguments the host would not
// accept is refused with ErrInvalidArgument and a message that says what
// is wrong, and reaches no one.
func testRefusedSignals(t *testing.T, db database) {
	h := newHost(t, db)
	emitter := h.plugin(t, "refused", role{emits: []string{"oauth2_token_fetched", "acme.widget_turned"}}).Signals()
	tests := []struct {
		what, name string
		args       any
		saying     string
	}{
		{"an unknown argument", "oauth2_token_fetched", map[string]any{"backend": "github", "access_token": "secret"}, `unknown argument "access_token"`},
		{"an argument of the wrong type", "oauth2_token_fetched", map[string]any{"backend": "github", "expires_in": "soon"}, `"expires_in"`},
		{"catalogue arguments that are not an object", "oauth2_token_fetched", "github", "JSON object"},
		{"custom arguments that are not an object", "acme.widget_turned", []string{"w1"}, "JSON object"},
		{"no catalogue arguments (nil)", "oauth2_token_fetched", nil, "JSON object"},
		{"no catalogue arguments (a nil map)", "oauth2_token_fetched", map[string]any(nil), "JSON object"},
		{"arguments that cannot be encoded", "oauth2_token_fetched", map[string]any{"backend": func() {}}, "encoding the arguments"},
		{"a name that is not UTF-8", "acme.widget_\xff", map[string]any{}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := emitter.Emit(t.Context(), tt.name, tt.args)
		wantErr(t, "Emit with "+tt.what, err, sdk.ErrInvalidArgument)
		if err != nil && !strings.Contains(err.Error(), tt.saying) {
			t.Errorf("Emit with %s: error %q does not say %s", tt.what, err, tt.saying)
		}
	}
	wantNothingSent(t, h)
}

// Every signal the host owns is refused to a plugin with
// ErrPermissionDenied and reaches no one, even from a plugin that declares
// it, is an Authenticator and has every grant, and even with well-formed
// arguments: a forged user_logged_in once reset a lockout, forged
// lockout_reset entries reached the audit file.
func testHostSignalsRefused(t *testing.T, db database) {
	var hostOnly []string
	for _, name := range signals.Names() {
		if signals.HostOnly(name) {
			hostOnly = append(hostOnly, name)
		}
	}
	for _, name := range []string{"user_logged_in", "user_login_failed", "user_locked_out", "lockout_reset", "plugin_started", "plugin_exited", "jwt_access_token_created", "authorization_granted"} {
		if !slices.Contains(hostOnly, name) {
			t.Fatalf("%s is not among the host's signals %v", name, hostOnly)
		}
	}
	h := newHost(t, db)
	emitter := h.plugin(t, "forger", role{authenticator: true, emits: hostOnly, grants: hostsvc.Grants}).Signals()
	for _, name := range hostOnly {
		args, _ := signals.New(name)
		id, err := emitter.Emit(t.Context(), name, args)
		wantErr(t, "Emit("+name+")", err, sdk.ErrPermissionDenied)
		if id != "" {
			t.Errorf("refused %s got id %q", name, id)
		}
	}
	wantNothingSent(t, h)
}

// A name the plugin's metadata does not declare is refused with
// ErrPermissionDenied and reaches no one: a custom one, a catalogue one
// plugins may send, one that is not a signal name, and names near the one
// it declares.
func testUndeclaredSignalsRefused(t *testing.T, db database) {
	h := newHost(t, db)
	emitter := h.plugin(t, "narrow", role{authenticator: true, emits: []string{"acme.declared"}, grants: hostsvc.Grants}).Signals()
	for _, name := range []string{
		"acme.undeclared", "oauth2_token_fetched", "Bad Name!", "",
		"acme", "acme.declared.more", "acme.declare", "ACME.DECLARED", "acme.declared ",
	} {
		id, err := emitter.Emit(t.Context(), name, map[string]any{})
		wantErr(t, "Emit("+name+")", err, sdk.ErrPermissionDenied)
		if id != "" {
			t.Errorf("refused %q got id %q", name, id)
		}
	}
	wantNothingSent(t, h)
	// The declared name goes through: the refusals were about the names.
	if _, err := emitter.Emit(t.Context(), "acme.declared", map[string]any{}); err != nil {
		t.Fatalf("Emit of the declared signal: %v", err)
	}
	if got := h.received.all(); len(got) != 1 || got[0].Name != "acme.declared" || got[0].Sender != "narrow" {
		t.Errorf("after the declared signal the subscriber has %+v", got)
	}
}

// A plugin cannot name the sender of its signals: sdk.Emitter has no
// sender, and a plugin that speaks the wire itself — adding a sender field
// to the request, or sending the protocol 1 layout (name, sender, args) —
// still sends under its instance's name or not at all. So a subscriber that
// selects another sender never gets its signals.
func testSenderIsTheInstance(t *testing.T, db database) {
	h := newHost(t, db)
	fromLocal := &received{}
	h.signals.Subscribe(&hostsignals.Subscription{Name: "local-only", Mode: hostsignals.Sync, Signals: []string{"*"}, Sender: "local", Timeout: hangLimit, Receiver: fromLocal})
	host := h.plugin(t, "mallory", role{authenticator: true, emits: []string{"acme.widget_turned"}})
	cc := hostConn(t, host)
	args := []byte(`{"widget":"w1"}`)

	// protocol 2 and 3 (name = 1, args_json = 2) and a sender in field 3.
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendString(req, "acme.widget_turned")
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendBytes(req, args)
	req = protowire.AppendTag(req, 3, protowire.BytesType)
	req = protowire.AppendString(req, "local")
	id, err := rawEmit(t, cc, req)
	if err != nil || id == "" {
		t.Fatalf("a request with a sender field = %q, %v; want it sent as mallory's", id, err)
	}
	got := h.received.all()
	if len(got) != 1 || got[0].ID != id || got[0].Sender != "mallory" || got[0].Origin != hostsignals.OriginPlugin {
		t.Fatalf("a request naming sender local arrived as %+v, want id %s from mallory", got, id)
	}

	// protocol 1: name = 1, sender = 2, args_json = 3.
	req = nil
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendString(req, "acme.widget_turned")
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendString(req, "local")
	req = protowire.AppendTag(req, 3, protowire.BytesType)
	req = protowire.AppendBytes(req, args)
	if id, err := rawEmit(t, cc, req); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a protocol 1 request naming sender local = %q, %v; want it refused as invalid", id, err)
	}

	// Through the SDK, as any plugin sends.
	if _, err := host.Signals().Emit(t.Context(), "acme.widget_turned", map[string]any{"sender": "local"}); err != nil {
		t.Fatal(err)
	}
	for _, sig := range h.received.all() {
		if sig.Sender != "mallory" {
			t.Errorf("a signal from mallory's plugin arrived from %q: %+v", sig.Sender, sig)
		}
	}
	if got := fromLocal.all(); len(got) != 0 {
		t.Errorf("the subscriber of local's signals got mallory's: %+v", got)
	}
	for _, q := range h.queued(t) {
		if q.Sender != "mallory" {
			t.Errorf("queued from %q: %+v", q.Sender, q)
		}
	}
}

// rawEmit sends an EmitSignal request encoded by hand (a protobuf message
// with only unknown fields encodes to exactly them) and returns the id.
func rawEmit(t testing.TB, cc grpc.ClientConnInterface, req []byte) (string, error) {
	t.Helper()
	in := &emptypb.Empty{}
	in.ProtoReflect().SetUnknown(req)
	out := &wrapperspb.StringValue{} // EmitSignalResponse: id = 1
	err := cc.Invoke(t.Context(), "/portcullis.plugin.v3.HostServices/EmitSignal", in, out)
	return out.GetValue(), err
}

// hostConn digs the gRPC connection to the host out of the sdk.Host a
// plugin was configured with, as a plugin that wants to speak the wire
// itself could: the first field on the way whose type is
// grpc.ClientConnInterface.
func hostConn(t testing.TB, host sdk.Host) grpc.ClientConnInterface {
	t.Helper()
	want := reflect.TypeFor[grpc.ClientConnInterface]()
	var walk func(v reflect.Value, depth int) grpc.ClientConnInterface
	walk = func(v reflect.Value, depth int) grpc.ClientConnInterface {
		if depth > 8 || !v.IsValid() {
			return nil
		}
		switch v.Kind() {
		case reflect.Interface:
			if v.IsNil() {
				return nil
			}
			if v.Type() == want {
				return v.Interface().(grpc.ClientConnInterface)
			}
			return walk(v.Elem(), depth+1)
		case reflect.Pointer:
			if v.IsNil() {
				return nil
			}
			return walk(v.Elem(), depth+1)
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Field(i)
				if !f.CanInterface() && f.CanAddr() { // unexported: read it anyway
					f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
				}
				if cc := walk(f, depth+1); cc != nil {
					return cc
				}
			}
		}
		return nil
	}
	cc := walk(reflect.ValueOf(&host).Elem(), 0)
	if cc == nil {
		t.Fatalf("no gRPC connection to the host inside the plugin's %T", host)
	}
	return cc
}

// wantNothingSent fails unless no signal reached a subscriber or the
// outbox.
func wantNothingSent(t testing.TB, h *testHost) {
	t.Helper()
	if got := h.received.all(); len(got) != 0 {
		t.Errorf("refused signals were delivered: %+v", got)
	}
	if got := h.queued(t); len(got) != 0 {
		t.Errorf("refused signals were queued: %+v", got)
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
