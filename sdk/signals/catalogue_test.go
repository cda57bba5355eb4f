package signals

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

func TestEveryCatalogueNameRoundTrips(t *testing.T) {
	names := Names()
	if len(names) != len(catalogue) {
		t.Fatalf("Names() has %d names, the list %d", len(names), len(catalogue))
	}
	for _, name := range names {
		args, ok := New(name)
		if !ok {
			t.Fatalf("New(%s) found nothing", name)
		}
		if got, ok := NameOf(args); !ok || got != name {
			t.Errorf("NameOf(New(%s)) = %q, %v", name, got, ok)
		}
		raw, err := json.Marshal(args)
		if err != nil || len(raw) == 0 || raw[0] != '{' {
			t.Errorf("%s: arguments encode to %s, %v; want a JSON object", name, raw, err)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for name, want := range map[string]bool{
		"user_logged_in": true, "user_locked_out": true, "lockout_reset": true, "plugin_started": true,
		"authorization_granted": true, "jwt_decode_failed": true,
		// The host's families are reserved beyond the catalogue.
		"plugin_crashed": true, "user_deleted": true, "session_hijacked": true,
		// The catalogue gives the OAuth2 and device signals to plugins;
		// other names are a plugin's own.
		"oauth2_token_fetched": false, "device_registered": false, "device_revoked": false, "otp_code_sent": false, "acme.widget_turned": false, "users": false,
	} {
		if got := HostOnly(name); got != want {
			t.Errorf("HostOnly(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestDecode(t *testing.T) {
	in := UserLockedOut{Backend: "lockout", Username: "alice", Client: sdk.Client{IP: "192.0.2.1", UserAgent: "ua"}, Failures: 5, Group: "ip_address+username", Until: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	raw, _ := json.Marshal(in)
	sig := &sdk.Signal{Name: "user_locked_out", Args: raw}
	var out UserLockedOut
	if err := Decode(sig, &out); err != nil || out != in {
		t.Fatalf("Decode = %+v, %v; want %+v", out, err, in)
	}
	if err := Decode(sig, &UserLoggedIn{}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("decoding into another signal's type: %v, want ErrInvalidArgument", err)
	}
	if err := Decode(sig, &struct{}{}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("decoding into a type outside the catalogue: %v, want ErrInvalidArgument", err)
	}
	// The client's fields keep the names signals have always used.
	if m := map[string]any{}; json.Unmarshal(raw, &m) != nil || m["client_ip"] != "192.0.2.1" || m["user_agent"] != "ua" {
		t.Errorf("arguments %s lack client_ip and user_agent", raw)
	}
}

// The device signals are given to plugins, with the arguments the
// mobiledevice plugin sends, under their JSON names.
func TestDeviceSignals(t *testing.T) {
	for name, args := range map[string]any{
		"device_registered": DeviceRegistered{DeviceID: "d1", UserID: "u1", Name: "phone", Primary: true, Reactivated: true, KeyType: "token"},
		"device_revoked":    DeviceRevoked{DeviceID: "d1", UserID: "u1"},
	} {
		if !Known(name) || HostOnly(name) {
			t.Errorf("%s: known %v, host only %v; want a catalogue signal plugins may send", name, Known(name), HostOnly(name))
		}
		if got, ok := NameOf(args); !ok || got != name {
			t.Errorf("NameOf(%T) = %q, %v; want %s", args, got, ok, name)
		}
	}
	raw, _ := json.Marshal(DeviceRegistered{DeviceID: "d1", UserID: "u1", Name: "phone", Primary: true, Reactivated: true, KeyType: "ed25519"})
	want := `{"device_id":"d1","user_id":"u1","name":"phone","primary":true,"reactivated":true,"key_type":"ed25519"}`
	if string(raw) != want {
		t.Errorf("device_registered arguments %s, want %s", raw, want)
	}
	var out DeviceRevoked
	if err := Decode(&sdk.Signal{Name: "device_revoked", Args: json.RawMessage(`{"device_id":"d1","user_id":"u1"}`)}, &out); err != nil || out != (DeviceRevoked{DeviceID: "d1", UserID: "u1"}) {
		t.Errorf("Decode = %+v, %v", out, err)
	}
}
