package devicetest

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/internal/devicesig"
)

// The client's tests trust this host to refuse what the real one refuses;
// these tests hold it to that, with requests made by hand.

// fixture is a host with alice, an Ed25519 device of hers and a token
// device of hers.
type fixture struct {
	h       *Host
	key     ed25519.PrivateKey
	edID    string
	tokID   string
	tokSecr string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := NewHost(t)
	h.AddUser("alice")
	appKey := h.AddAppKey()
	pub, key, _ := ed25519.GenerateKey(nil)
	f := &fixture{h: h, key: key}
	var out struct {
		DeviceID    string `json:"device_id"`
		DeviceToken string `json:"device_token"`
	}
	status := f.send(t, "POST", "/v1/devices", "Bearer "+appKey,
		`{"user":"alice","name":"phone","public_key":"`+base64.RawURLEncoding.EncodeToString(pub)+`"}`, &out)
	if status != 201 {
		t.Fatalf("registering the Ed25519 device: %d", status)
	}
	f.edID = out.DeviceID
	if status := f.send(t, "POST", "/v1/devices", "Bearer "+appKey, `{"user":"alice","name":"tablet"}`, &out); status != 201 {
		t.Fatalf("registering the token device: %d", status)
	}
	f.tokID, f.tokSecr = out.DeviceID, out.DeviceToken
	return f
}

// send makes a request and decodes its answer into out; it returns the
// status.
func (f *fixture) send(t *testing.T, method, target, auth, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, f.h.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.h.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (f *fixture) nonce(t *testing.T, deviceID string) string {
	t.Helper()
	var out struct{ Nonce string }
	if status := f.send(t, "POST", "/v1/device/nonce", "", `{"device_id":"`+deviceID+`"}`, &out); status != 200 || out.Nonce == "" {
		t.Fatalf("nonce: %d %q", status, out.Nonce)
	}
	return out.Nonce
}

func (f *fixture) sign(method, target, body, nonce string) string {
	msg := devicesig.Message(method, target, devicesig.BodyHash([]byte(body)), nonce)
	return devicesig.Header(f.edID, nonce, ed25519.Sign(f.key, msg))
}

const pendingTarget = "/v1/device/authorization-requests?wait=0"

func TestSignedRequests(t *testing.T) {
	f := newFixture(t)
	n := f.nonce(t, f.edID)
	good := f.sign("GET", pendingTarget, "", n)
	if status := f.send(t, "GET", pendingTarget, good, "", nil); status != 200 {
		t.Fatalf("a well signed request: %d (%q)", status, f.h.Refusals())
	}
	refused := []struct{ name, target, auth, why string }{
		{"the same nonce again", pendingTarget, good, "unknown or used nonce"},
		{"another query", "/v1/device/authorization-requests?wait=1", f.sign("GET", pendingTarget, "", f.nonce(t, f.edID)), "bad signature"},
		{"another method", pendingTarget, f.sign("POST", pendingTarget, "", f.nonce(t, f.edID)), "bad signature"},
		{"another body", pendingTarget, f.sign("GET", pendingTarget, "{}", f.nonce(t, f.edID)), "bad signature"},
		{"a nonce never issued", pendingTarget, f.sign("GET", pendingTarget, "", "made-up"), "unknown or used nonce"},
		{"another device's nonce", pendingTarget, f.sign("GET", pendingTarget, "", f.nonce(t, f.tokID)), "issued to another device"},
		{"a malformed header", pendingTarget, devicesig.Scheme + ` id="x"`, "signed: the Authorization header must be"},
		{"the token device signing", pendingTarget, strings.Replace(f.sign("GET", pendingTarget, "", f.nonce(t, f.tokID)), f.edID, f.tokID, 1), "has no public key"},
		{"basic for the Ed25519 device", pendingTarget, "Basic " + base64.StdEncoding.EncodeToString([]byte(f.edID+":")), "has no token"},
		{"a wrong token", pendingTarget, "Basic " + base64.StdEncoding.EncodeToString([]byte(f.tokID+":nope")), "wrong token"},
		{"no credentials", pendingTarget, "", "no device credentials"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.h.Refusals())
			if status := f.send(t, "GET", tt.target, tt.auth, "", nil); status != 401 {
				t.Fatalf("status %d, want 401", status)
			}
			r := f.h.Refusals()
			if len(r) != before+1 || !strings.Contains(r[len(r)-1], tt.why) {
				t.Fatalf("refusals %q; want one more, for %q", r[before:], tt.why)
			}
		})
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.tokID+":"+f.tokSecr))
	if status := f.send(t, "GET", pendingTarget, basic, "", nil); status != 200 {
		t.Errorf("the token device with its token: %d", status)
	}
	f.h.RevokeDevice(f.tokID)
	if status := f.send(t, "GET", pendingTarget, basic, "", nil); status != 401 {
		t.Errorf("a revoked device: %d", status)
	}
}

func TestDecisions(t *testing.T) {
	f := newFixture(t)
	f.h.AddUser("bob")
	mine := f.h.AddRequest(Request{Username: "alice", Slug: "2FA", Title: "t"})
	bobs := f.h.AddRequest(Request{Username: "bob", Slug: "2FA", Title: "t"})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.tokID+":"+f.tokSecr))
	var out map[string]any
	for _, step := range []struct {
		target string
		status int
		code   string
	}{
		{"/v1/device/authorization-requests/" + bobs.ID + "/approve", 403, "forbidden"},
		{"/v1/device/authorization-requests/nope/approve", 404, "not_found"},
		{"/v1/device/authorization-requests/" + mine.ID + "/deny", 200, ""},
		{"/v1/device/authorization-requests/" + mine.ID + "/approve", 409, "not_waiting"},
	} {
		out = nil
		if status := f.send(t, "POST", step.target, basic, "", &out); status != step.status || (step.code != "" && out["error"] != step.code) {
			t.Errorf("POST %s: %d %v; want %d %s", step.target, status, out, step.status, step.code)
		}
	}
	if out["state"] != "denied" {
		t.Errorf("not_waiting's body has state %v", out["state"])
	}
	if r, _ := f.h.Request(bobs.ID); r.State != "waiting" {
		t.Errorf("bob's request is %s", r.State)
	}
}

func TestRegistrationRefusals(t *testing.T) {
	f := newFixture(t)
	key := f.h.AddAppKey()
	for _, tt := range []struct {
		name, auth, body string
		status           int
	}{
		{"no user with an app key", "Bearer " + key, `{"name":"x"}`, 400},
		{"unknown app key", "Bearer pck_nope", `{"user":"alice","name":"x"}`, 401},
		{"no credentials", "", `{"user":"alice","name":"x"}`, 401},
		{"short public key", "Bearer " + key, `{"user":"alice","name":"x","public_key":"AAAA"}`, 400},
		{"unknown member", "Bearer " + key, `{"user":"alice","name":"x","secret":"y"}`, 400},
		{"taken id", "Bearer " + key, `{"user":"alice","name":"x","device_id":"` + f.tokID + `"}`, 409},
	} {
		if status := f.send(t, "POST", "/v1/devices", tt.auth, tt.body, nil); status != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, status, tt.status)
		}
	}
	f.h.RevokeDevice(f.tokID)
	var out struct{ Reactivated bool }
	if status := f.send(t, "POST", "/v1/devices", "Bearer "+key, `{"user":"alice","name":"x","device_id":"`+f.tokID+`"}`, &out); status != 201 || !out.Reactivated {
		t.Errorf("registering a revoked device's id again: %d, reactivated %v", status, out.Reactivated)
	}
}
