package device_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/client/device"
	"github.com/portcullis-auth/portcullis/client/device/devicetest"
)

// register registers a device of alice on h, with an app key.
func register(t *testing.T, h *devicetest.Host, ed bool) device.Credentials {
	t.Helper()
	c, err := device.Register(t.Context(), h.Client(), h.URL, h.AddAppKey(), device.Registration{User: "alice", Name: "Alice's phone", Ed25519: ed})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return c
}

func newDevice(t *testing.T, c device.Credentials) *device.Device {
	t.Helper()
	d, err := device.New(c, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// hostError returns err as an *device.Error, failing the test if it is not
// one.
func hostError(t *testing.T, err error) *device.Error {
	t.Helper()
	var e *device.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *device.Error", err, err)
	}
	return e
}

// TestDecideEachKeyType: a device of each kind registers, sees its user's
// waiting requests (not another user's), approves one and denies another;
// the host holds the decisions, and an Ed25519 device used one fresh
// nonce for each request.
func TestDecideEachKeyType(t *testing.T) {
	for _, ed := range []bool{false, true} {
		t.Run(fmt.Sprintf("ed25519=%v", ed), func(t *testing.T) {
			h := devicetest.NewHost(t)
			h.AddUser("alice")
			h.AddUser("bob")
			c := register(t, h, ed)
			if ed && (c.Token != "" || c.PrivateKey == nil || c.KeyType() != "ed25519") {
				t.Fatalf("Ed25519 credentials: token %t, key %t, type %s", c.Token != "", c.PrivateKey != nil, c.KeyType())
			}
			if !ed && (c.Token == "" || c.PrivateKey != nil || c.KeyType() != "token") {
				t.Fatalf("token credentials: token %t, key %t, type %s", c.Token != "", c.PrivateKey != nil, c.KeyType())
			}
			if hd, ok := h.Device(c.DeviceID); !ok || !hd.Primary || hd.Name != "Alice's phone" || (hd.PublicKey != nil) != ed {
				t.Fatalf("the host has the device as %+v (found %v)", hd, ok)
			}
			d := newDevice(t, c)

			one := h.AddRequest(devicetest.Request{Username: "alice", Slug: "2FA", Title: "Log in", Data: json.RawMessage(`{"ip":"203.0.113.9"}`)})
			two := h.AddRequest(devicetest.Request{Username: "alice", Slug: "payment", Title: "Pay 10 EUR"})
			h.AddRequest(devicetest.Request{Username: "bob", Slug: "2FA", Title: "Bob's"})

			reqs, err := d.Pending(t.Context(), 0)
			if err != nil {
				t.Fatalf("Pending: %v", err)
			}
			if len(reqs) != 2 || reqs[0].ID != one.ID || reqs[1].ID != two.ID {
				t.Fatalf("Pending = %+v; want alice's two requests", reqs)
			}
			r := reqs[0]
			if r.Slug != "2FA" || r.Title != "Log in" || r.State != device.StateWaiting || r.User.Username != "alice" || r.User.ID != one.UserID ||
				!r.ExpiresAt.Equal(one.ExpiresAt) || !r.CreatedAt.Equal(one.CreatedAt) || string(r.Data) != `{"ip":"203.0.113.9"}` {
				t.Errorf("Pending's first request = %+v; want %+v", r, one)
			}

			got, err := d.Approve(t.Context(), one.ID)
			if err != nil || got.ID != one.ID || got.State != device.StateGranted {
				t.Fatalf("Approve = %+v, %v", got, err)
			}
			got, err = d.Deny(t.Context(), two.ID)
			if err != nil || got.ID != two.ID || got.State != device.StateDenied {
				t.Fatalf("Deny = %+v, %v", got, err)
			}
			if ar, _ := h.Request(one.ID); ar.State != "granted" {
				t.Errorf("the host has the approved request as %s", ar.State)
			}
			if ar, _ := h.Request(two.ID); ar.State != "denied" {
				t.Errorf("the host has the denied request as %s", ar.State)
			}
			if reqs, err := d.Pending(t.Context(), 0); err != nil || reqs == nil || len(reqs) != 0 {
				t.Errorf("Pending after deciding = %#v, %v; want an empty list", reqs, err)
			}

			issued, signed := h.Nonces()
			if ed && (issued != 4 || signed != 4) {
				t.Errorf("4 signed requests used %d nonces, %d accepted signed; want one each", issued, signed)
			}
			if !ed && (issued != 0 || signed != 0) {
				t.Errorf("a token device fetched %d nonces and signed %d requests", issued, signed)
			}
			if r := h.Refusals(); len(r) != 0 {
				t.Errorf("the host refused: %q", r)
			}
		})
	}
}

// TestSignatureCoversTheTargetAsSent: an id that must be escaped in the
// path is signed as net/http sends it, so the host gets past
// authentication and answers about the request (404), not about the
// signature (401).
func TestSignatureCoversTheTargetAsSent(t *testing.T) {
	h := devicetest.NewHost(t)
	h.AddUser("alice")
	d := newDevice(t, register(t, h, true))
	for _, id := range []string{"a b", "x/y", "é?q=1", "100%"} {
		_, err := d.Approve(t.Context(), id)
		if e := hostError(t, err); e.Status != http.StatusNotFound || e.Code != device.CodeNotFound {
			t.Errorf("Approve(%q): %v; want 404 not_found (refusals: %q)", id, err, h.Refusals())
		}
	}
	if _, err := d.Pending(t.Context(), 2*time.Second+500*time.Millisecond); err != nil {
		t.Errorf("Pending with a wait (signed with its query): %v (refusals: %q)", err, h.Refusals())
	}
}

// TestPendingWaits: with a wait, the answer comes as soon as a request
// arrives, and after the wait with none.
func TestPendingWaits(t *testing.T) {
	h := devicetest.NewHost(t)
	h.AddUser("alice")
	d := newDevice(t, register(t, h, false))

	start := time.Now()
	reqs, err := d.Pending(t.Context(), time.Second)
	if err != nil || len(reqs) != 0 || time.Since(start) < time.Second {
		t.Fatalf("Pending(1s) with nothing waiting = %v, %v after %s; want none after 1s", reqs, err, time.Since(start))
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(200 * time.Millisecond)
		h.AddRequest(devicetest.Request{Username: "alice", Slug: "2FA", Title: "Log in"})
	})
	start = time.Now()
	reqs, err = d.Pending(t.Context(), 30*time.Second)
	wg.Wait()
	if err != nil || len(reqs) != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("Pending(30s) = %v, %v after %s; want the request as it arrives", reqs, err, time.Since(start))
	}

	for _, w := range []time.Duration{-time.Second, 61 * time.Second} {
		if _, err := d.Pending(t.Context(), w); err == nil {
			t.Errorf("Pending(%s) did not fail", w)
		}
	}
}

// TestHostRefusals: each refusal of the contract is an *Error whose
// status and code tell it apart.
func TestHostRefusals(t *testing.T) {
	h := devicetest.NewHost(t)
	h.AddUser("alice")
	h.AddUser("bob")
	c := register(t, h, true)
	d := newDevice(t, c)
	bobs := h.AddRequest(devicetest.Request{Username: "bob", Slug: "2FA", Title: "Bob's"})
	mine := h.AddRequest(devicetest.Request{Username: "alice", Slug: "2FA", Title: "Mine"})
	gone := h.AddRequest(devicetest.Request{Username: "alice", Slug: "2FA", Title: "Expired", ExpiresAt: time.Now().Add(-time.Minute)})

	_, err := d.Approve(t.Context(), bobs.ID)
	if e := hostError(t, err); e.Status != 403 || e.Code != device.CodeForbidden {
		t.Errorf("approving another user's request: %v", err)
	}
	if _, err := d.Deny(t.Context(), mine.ID); err != nil {
		t.Fatal(err)
	}
	_, err = d.Approve(t.Context(), mine.ID)
	if e := hostError(t, err); e.Status != 409 || e.Code != device.CodeNotWaiting || e.State != "denied" {
		t.Errorf("approving a denied request: %v (state %q)", err, e.State)
	}
	_, err = d.Approve(t.Context(), gone.ID)
	if e := hostError(t, err); e.Status != 409 || e.Code != device.CodeNotWaiting || e.State != "expired" {
		t.Errorf("approving an expired request: %v (state %q)", err, e.State)
	}
	if ar, _ := h.Request(bobs.ID); ar.State != "waiting" {
		t.Errorf("bob's request is %s after a refused approval", ar.State)
	}

	h.RevokeDevice(c.DeviceID)
	_, err = d.Pending(t.Context(), 0)
	if e := hostError(t, err); e.Status != 401 || e.Code != device.CodeInvalidDevice {
		t.Errorf("a revoked device: %v", err)
	}
	if !strings.Contains(err.Error(), "401 Unauthorized (invalid_device: ") {
		t.Errorf("the error does not say what the host said: %v", err)
	}

	wrong := register(t, h, false)
	wrong.Token = "not-the-token"
	_, err = newDevice(t, wrong).Pending(t.Context(), 0)
	if e := hostError(t, err); e.Status != 401 || e.Code != device.CodeInvalidDevice {
		t.Errorf("a wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("the error shows the token: %v", err)
	}

	h.DisableDevices()
	_, err = device.Register(t.Context(), nil, h.URL, h.AddAppKey(), device.Registration{User: "alice", Name: "x"})
	if e := hostError(t, err); e.Status != 404 || e.Code != device.CodeNotFound {
		t.Errorf("registering with a host without devices: %v", err)
	}
}

// TestRegister: the choices of a registration reach the host, and what
// the client refuses it refuses before sending anything.
func TestRegister(t *testing.T) {
	h := devicetest.NewHost(t)
	h.AddUser("alice")
	h.AddUser("bob")
	no := false
	token := h.AddAccessToken("alice")

	c, err := device.Register(t.Context(), nil, h.URL+"/", token, device.Registration{Name: "tablet", DeviceID: "tablet-1", Primary: &no})
	if err != nil {
		t.Fatalf("Register with an access token: %v", err)
	}
	if c.DeviceID != "tablet-1" || c.URL != h.URL {
		t.Errorf("credentials %v; want device tablet-1 at %s", c, h.URL)
	}
	if hd, _ := h.Device("tablet-1"); hd.Primary || hd.Name != "tablet" {
		t.Errorf("the host has %+v; want a device named tablet, not primary", hd)
	}
	_, err = device.Register(t.Context(), nil, h.URL, token, device.Registration{Name: "again", DeviceID: "tablet-1"})
	if e := hostError(t, err); e.Status != 409 || e.Code != device.CodeDeviceExists {
		t.Errorf("registering a taken id: %v", err)
	}
	_, err = device.Register(t.Context(), nil, h.URL, token, device.Registration{User: "bob", Name: "x"})
	if e := hostError(t, err); e.Status != 403 || e.Code != device.CodeForbidden {
		t.Errorf("registering for bob with alice's token: %v", err)
	}
	_, err = device.Register(t.Context(), nil, h.URL, "pck_unknown", device.Registration{User: "alice", Name: "x"})
	if e := hostError(t, err); e.Status != 401 {
		t.Errorf("registering with an unknown app key: %v", err)
	}

	before := h.Devices()
	for _, tt := range []struct {
		name, url, bearer string
		in                device.Registration
		want              string
	}{
		{"no bearer", h.URL, "", device.Registration{User: "alice", Name: "x"}, "app key or the user's access token"},
		{"app key without user", h.URL, "pck_x", device.Registration{Name: "x"}, "needs the user's name"},
		{"no name", h.URL, token, device.Registration{User: "alice"}, "name (Registration.Name) is required"},
		{"id with a colon", h.URL, token, device.Registration{Name: "x", DeviceID: "a:b"}, "holds ':'"},
		{"not a URL", "auth.example.com", token, device.Registration{Name: "x"}, "not an http or https URL"},
		{"URL with a password", strings.Replace(h.URL, "://", "://u:secret@", 1), token, device.Registration{Name: "x"}, "must not hold a user name or password"},
		{"bearer with a newline", h.URL, "pck_a\nX-Evil: 1", device.Registration{User: "alice", Name: "x"}, "cannot carry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := device.Register(t.Context(), nil, tt.url, tt.bearer, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Register: %v; want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") || (tt.bearer != "" && strings.Contains(err.Error(), tt.bearer)) {
				t.Errorf("the error shows a credential: %v", err)
			}
		})
	}
	if h.Devices() != before {
		t.Errorf("refused registrations reached the host")
	}
}

// TestNoRedirect: a device's credentials go to its host's URL only; a
// redirect is an error, not followed.
func TestNoRedirect(t *testing.T) {
	h := devicetest.NewHost(t)
	h.AddUser("alice")
	c := register(t, h, false)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, h.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	c.URL = redirector.URL
	_, err := newDevice(t, c).Pending(t.Context(), 0)
	if e := hostError(t, err); e.Status != http.StatusTemporaryRedirect || !strings.Contains(e.Description, h.URL) {
		t.Fatalf("a redirect: %v; want the 307 as an error naming where to", err)
	}
}

// TestCredentialsNeverShown: printing or logging credentials, and the
// errors of a host that cannot be reached, show no secret.
func TestCredentialsNeverShown(t *testing.T) {
	h := devicetest.NewHost(t)
	h.AddUser("alice")
	tok := register(t, h, false)
	ed := register(t, h, true)
	seed := base64.RawURLEncoding.EncodeToString(ed.PrivateKey.Seed())

	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	log.Info("device", "credentials", tok, "other", ed)
	shown := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", tok, tok, tok, &tok, ed, ed, ed) + logged.String()
	for _, secret := range []string{tok.Token, seed, fmt.Sprint([]byte(ed.PrivateKey)), fmt.Sprintf("%x", []byte(ed.PrivateKey))} {
		if strings.Contains(shown, secret) {
			t.Fatalf("a secret is shown:\n%s", shown)
		}
	}
	if !strings.Contains(shown, tok.DeviceID) || !strings.Contains(logged.String(), "key_type=ed25519") {
		t.Errorf("the device is not described:\n%s", shown)
	}

	for _, c := range []device.Credentials{tok, ed} {
		c.URL = "http://127.0.0.1:1" // nothing listens
		_, err := newDevice(t, c).Pending(context.Background(), 0)
		if err == nil || strings.Contains(err.Error(), tok.Token) || strings.Contains(err.Error(), seed) {
			t.Errorf("Pending from an unreachable host: %v", err)
		}
	}
}
