package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/internal/devicesig"
)

// pushBox is the team's push service: it keeps every notification the
// mobiledevice plugin sends, and counts the ones whose signature is wrong.
type pushBox struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	bodies []string
	bad    int
}

func newPushBox(t testing.TB) *pushBox {
	b := &pushBox{secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-push-service-secret-32-bytes!!"))}
	lib, err := standardwebhooks.NewWebhook(b.secret)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := lib.Verify(body, r.Header); err != nil {
			b.bad++
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		b.bodies = append(b.bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// notified returns the notification of request id, or "".
func (b *pushBox) notified(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, body := range b.bodies {
		if strings.Contains(body, `"`+id+`"`) {
			return body
		}
	}
	return ""
}

// deviceConfig is a chain with a lockout, passwords and devices, whose
// plugin notifies box.
func deviceConfig(box *pushBox, storage, extra string) string {
	return storage + fmt.Sprintf(`
backends:
  - {name: lockout, plugin: lockout, config: {failure_limit: 3, cooloff: 1h}}
  - {name: local, plugin: password}
  - name: phone
    plugin: mobiledevice
    config: {notify: {webhook: %q, secret: %q}}
signals: {subscribers: [{name: audit, audit_file: ./audit.jsonl, signals: ["*"], mode: async}]}
`, box.srv.URL, box.secret) + extra
}

// registerDevice registers a token device for user with the app key.
func registerDevice(t *testing.T, h *host, appKey, user, name string) (id, token string) {
	t.Helper()
	r := send(t, "POST", h.url+"/v1/devices", fmt.Sprintf(`{"user":%q,"name":%q}`, user, name), bearer(appKey))
	if r.status != 201 || r.body["device_id"] == nil || r.body["device_token"] == nil {
		t.Fatalf("registering %s's device: %d %s", user, r.status, r.raw)
	}
	return r.body["device_id"].(string), r.body["device_token"].(string)
}

// deviceHost starts a host on SQLite with the device chain (extra is
// more configuration) and the users alice and bob.
func deviceHost(t *testing.T, extra string) (h *host, cfg, dir string, box *pushBox) {
	t.Helper()
	box = newPushBox(t)
	dir = t.TempDir()
	cfg = writeConfig(t, dir, deviceConfig(box, "storage: {driver: sqlite, dsn: ./portcullis.db}", extra))
	h = startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	addUser(t, cfg, nil, "bob", "bob-password-1")
	return h, cfg, dir, box
}

// polled is a long poll's answer, and when it came.
type polled struct {
	r  response
	at time.Time
}

// pollAsync starts a device's long poll and returns where its answer
// will come. It does not fail the test itself (it runs outside the
// test's goroutine): a failed request comes back with status 0.
func pollAsync(url string, hdr http.Header) <-chan polled {
	done := make(chan polled, 1)
	go func() {
		req, _ := http.NewRequest("GET", url+"/v1/device/authorization-requests?wait=30", nil)
		req.Header = hdr
		var p polled
		if resp, err := http.DefaultClient.Do(req); err != nil {
			p.r.raw = err.Error()
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p.r.status, p.r.raw = resp.StatusCode, string(body)
		}
		p.at = time.Now()
		done <- p
	}()
	return done
}

func basic(id, token string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+token))}}
}

// signed is the Authorization header of an Ed25519 device's request.
func signed(t *testing.T, h *host, id string, key ed25519.PrivateKey, method, target, body string) http.Header {
	t.Helper()
	n := send(t, "POST", h.url+"/v1/device/nonce", fmt.Sprintf(`{"device_id":%q}`, id), nil)
	if n.status != 200 || n.body["nonce"] == nil {
		t.Fatalf("nonce: %d %s", n.status, n.raw)
	}
	nonce := n.body["nonce"].(string)
	sig := ed25519.Sign(key, devicesig.Message(method, target, devicesig.BodyHash([]byte(body)), nonce))
	return http.Header{"Authorization": {devicesig.Header(id, nonce, sig)}}
}

// TestDevicesDecideTheirUsersRequests (acceptance 1, 3, and the
// notifier of 5): a device sees its user's waiting request and approves
// it; another user's device is refused 403, a wrong token and a revoked
// device 401, an expired request 409; an Ed25519 device decides by
// signature, and a replayed nonce, a signature over another body and one
// by another key are refused. Each request is announced to the push
// service, signed, without a secret.
func TestDevicesDecideTheirUsersRequests(t *testing.T) {
	t.Parallel()
	h, cfg, dir, box := deviceHost(t, "")
	app := authApp{t: t, key: createApp(t, cfg, nil, "bank")}
	aliceID, aliceToken := registerDevice(t, h, app.key, "alice", "alice's phone")
	bobID, bobToken := registerDevice(t, h, app.key, "bob", "bob's phone")
	if r := send(t, "POST", h.url+"/v1/devices", fmt.Sprintf(`{"user":"alice","name":"again","device_id":%q}`, aliceID), bearer(app.key)); r.status != 409 {
		t.Errorf("registering an active device again: %d %s, want 409", r.status, r.raw)
	}

	id := app.create(h)
	list := send(t, "GET", h.url+"/v1/device/authorization-requests", "", basic(aliceID, aliceToken))
	reqs, _ := list.body["authorization_requests"].([]any)
	if list.status != 200 || len(reqs) != 1 || reqs[0].(map[string]any)["id"] != id {
		t.Fatalf("alice's device lists %d %s; want the waiting request", list.status, list.raw)
	}
	if r := send(t, "GET", h.url+"/v1/device/authorization-requests", "", basic(bobID, bobToken)); !strings.Contains(r.raw, `"authorization_requests":[]`) {
		t.Errorf("bob's device sees %s", r.raw)
	}
	approve := func(dev http.Header, id, verb string) response {
		return send(t, "POST", h.url+"/v1/device/authorization-requests/"+id+"/"+verb, "", dev)
	}
	if r := approve(basic(bobID, bobToken), id, "approve"); r.status != 403 {
		t.Errorf("another user's device: %d %s, want 403", r.status, r.raw)
	}
	if r := approve(basic(aliceID, aliceToken+"x"), id, "approve"); r.status != 401 {
		t.Errorf("a wrong token: %d %s, want 401", r.status, r.raw)
	}
	if r := approve(basic("no-such-device", aliceToken), id, "approve"); r.status != 401 {
		t.Errorf("an unknown device: %d %s, want 401", r.status, r.raw)
	}
	if r := approve(basic(aliceID, aliceToken), id, "approve"); r.status != 200 || r.body["state"] != "granted" {
		t.Fatalf("alice's device approving: %d %s", r.status, r.raw)
	}
	if r := app.call(h, "GET", "/"+id, ""); r.body["state"] != "granted" {
		t.Errorf("the app reads %s after the approval", r.raw)
	}
	note := box.notified(id)
	if note == "" || !strings.Contains(note, `"transfer"`) || !strings.Contains(note, "Approve 500 EUR") {
		t.Errorf("the push service got %q for the request; want its id, slug and title", note)
	}

	// An expired request cannot be approved.
	short := app.call(h, "POST", "", `{"slug":"transfer","user":"alice","title":"Soon gone","expiration":1}`)
	if short.status != 201 {
		t.Fatalf("create: %d %s", short.status, short.raw)
	}
	time.Sleep(1100 * time.Millisecond)
	if r := approve(basic(aliceID, aliceToken), short.body["id"].(string), "approve"); r.status != 409 {
		t.Errorf("approving an expired request: %d %s, want 409", r.status, r.raw)
	}

	// A revoked device is refused; the operator revokes it from the
	// command line while the host runs.
	mustRun(t, cfg, "", "devices", "revoke", bobID)
	other := app.create(h)
	if r := approve(basic(bobID, bobToken), other, "deny"); r.status != 401 {
		t.Errorf("a revoked device: %d %s, want 401", r.status, r.raw)
	}

	// An Ed25519 device: the server keeps no secret of it.
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	reg := send(t, "POST", h.url+"/v1/devices", fmt.Sprintf(`{"user":"alice","name":"laptop","public_key":%q,"primary":false}`,
		base64.RawURLEncoding.EncodeToString(pub)), bearer(app.key))
	if reg.status != 201 || reg.body["device_token"] != nil {
		t.Fatalf("registering an Ed25519 device: %d %s", reg.status, reg.raw)
	}
	edID := reg.body["device_id"].(string)
	target := "/v1/device/authorization-requests/" + other + "/approve"
	good := signed(t, h, edID, key, "POST", target, "")
	if r := send(t, "POST", h.url+target, "", good); r.status != 200 || r.body["state"] != "granted" {
		t.Fatalf("a signed approval: %d %s", r.status, r.raw)
	}
	third := app.create(h)
	target = "/v1/device/authorization-requests/" + third + "/deny"
	if r := send(t, "POST", h.url+target, "", good); r.status != 401 {
		t.Errorf("a replayed nonce: %d %s, want 401", r.status, r.raw)
	}
	if r := send(t, "POST", h.url+target, "", signed(t, h, edID, key, "POST", target, `{"other":"body"}`)); r.status != 401 {
		t.Errorf("a signature over another body: %d %s, want 401", r.status, r.raw)
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	if r := send(t, "POST", h.url+target, "", signed(t, h, edID, stranger, "POST", target, "")); r.status != 401 {
		t.Errorf("a signature by another key: %d %s, want 401", r.status, r.raw)
	}
	if r := send(t, "POST", h.url+target, "", signed(t, h, edID, key, "POST", target, "")); r.status != 200 || r.body["state"] != "denied" {
		t.Errorf("a fresh signed denial: %d %s", r.status, r.raw)
	}

	box.mu.Lock()
	bad, bodies := box.bad, strings.Join(box.bodies, "\n")
	box.mu.Unlock()
	if bad != 0 {
		t.Errorf("%d notifications had a wrong signature", bad)
	}
	// The audit is delivered after the fact (device_revoked comes from the
	// command line's plugin, through the outbox).
	var audit []byte
	waitFor(t, "the signals in the audit file", 20*time.Second, func() bool {
		audit, _ = os.ReadFile(filepath.Join(dir, "audit.jsonl"))
		return strings.Contains(string(audit), `"device_revoked"`) && strings.Contains(string(audit), `"device_registered"`)
	})
	// A poll that waits ends when the host shuts down, at once.
	waiting := pollAsync(h.url, basic(aliceID, aliceToken))
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	h.kill(15)
	select {
	case p := <-waiting:
		if d := p.at.Sub(stopped); d > 5*time.Second {
			t.Errorf("a waiting poll ended %s after the host was told to stop; want at once", d)
		}
	case <-time.After(20 * time.Second):
		t.Error("a waiting poll did not end when the host stopped")
	}
	for where, text := range map[string]string{"the host's output": h.output(), "the audit file": string(audit), "the notifications": bodies} {
		for _, secret := range []string{aliceToken, bobToken} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds a device token", where)
			}
		}
	}
	for _, want := range []string{`"authorization_granted"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("the audit holds no %s signal", want)
		}
	}
}

// TestDeviceSignIn (acceptance 4): a device's credentials sign its user
// in through the chain, with tokens; wrong ones are counted by the
// lockout as wrong passwords are.
func TestDeviceSignIn(t *testing.T) {
	t.Parallel()
	h, cfg, _, _ := deviceHost(t, "")
	app := createApp(t, cfg, nil, "bank")
	id, token := registerDevice(t, h, app, "alice", "alice's phone")
	login := func(user, id, token string) response {
		b, _ := json.Marshal(map[string]any{"username": user, "credentials": map[string]string{"device_id": id, "device_token": token}})
		return h.post("/v1/login", string(b))
	}
	signedIn := login("alice", id, token)
	if signedIn.status != 200 || signedIn.body["access_token"] == nil {
		t.Fatalf("device sign-in: %d %s", signedIn.status, signedIn.raw)
	}
	// A user registers a device of their own with their access token,
	// and for nobody else.
	own := bearer(signedIn.body["access_token"].(string))
	if r := send(t, "POST", h.url+"/v1/devices", `{"name":"tablet"}`, own); r.status != 201 || r.body["device_token"] == nil {
		t.Errorf("a user registering their own device: %d %s", r.status, r.raw)
	}
	if r := send(t, "POST", h.url+"/v1/devices", `{"user":"bob","name":"tablet"}`, own); r.status != 403 {
		t.Errorf("a user registering a device for another: %d %s, want 403", r.status, r.raw)
	}
	// ... or with their session cookie and its CSRF proof.
	sess := send(t, "POST", h.url+"/v1/session", credentials("bob", "bob-password-1"), nil)
	cookies := (&http.Response{Header: sess.header}).Cookies()
	if sess.status != 200 || len(cookies) != 1 || sess.body["csrf_token"] == nil {
		t.Fatalf("session login: %d %s", sess.status, sess.raw)
	}
	if r := send(t, "POST", h.url+"/v1/devices", `{"name":"bob's laptop"}`, cookieHeader(cookies[0], "")); r.status != 403 {
		t.Errorf("a session registration without the CSRF proof: %d %s, want 403", r.status, r.raw)
	}
	if r := send(t, "POST", h.url+"/v1/devices", `{"name":"bob's laptop"}`, cookieHeader(cookies[0], sess.body["csrf_token"].(string))); r.status != 201 {
		t.Errorf("a session registration with the CSRF proof: %d %s, want 201", r.status, r.raw)
	}
	if r := send(t, "POST", h.url+"/v1/devices", `{"user":"alice","name":"tablet"}`, nil); r.status != 401 {
		t.Errorf("registering without credentials: %d %s, want 401", r.status, r.raw)
	}
	if r := login("bob", id, token); r.status != 401 {
		t.Errorf("alice's device signing bob in: %d %s, want 401", r.status, r.raw)
	}
	for i := range 3 {
		if r := login("alice", id, "wrong-"+token[6:]); r.status != 401 && !(i == 2 && r.status == 429) {
			t.Fatalf("wrong device token %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := login("alice", id, token); r.status != 429 {
		t.Errorf("after three wrong device tokens the right one answered %d %s, want 429 (counted by the lockout)", r.status, r.raw)
	}

	// The admin API lists and revokes devices, never showing a secret.
	mustRun(t, cfg, "root-password-123\n", "admin", "create", "root", "--password-stdin")
	admin := bearer(lastLine(mustRun(t, cfg, "", "admin", "token", "create", "ci")))
	list := send(t, "GET", h.url+"/v1/admin/devices?user=alice", "", admin)
	if list.status != 200 || !strings.Contains(list.raw, id) || strings.Contains(list.raw, token) || strings.Contains(list.raw, "hash") {
		t.Fatalf("admin devices list: %d %s", list.status, list.raw)
	}
	if r := send(t, "POST", h.url+"/v1/admin/devices/"+id+"/revoke", "", admin); r.status != 200 || r.body["revoked"] != true {
		t.Fatalf("admin revoke: %d %s", r.status, r.raw)
	}
	if r := send(t, "POST", h.url+"/v1/admin/devices/no-such-device/revoke", "", admin); r.status != 404 {
		t.Errorf("revoking an unknown device: %d %s, want 404", r.status, r.raw)
	}
	if r := send(t, "GET", h.url+"/v1/admin/devices?user=alice", "", nil); r.status != 401 {
		t.Errorf("the admin device list without credentials: %d %s, want 401", r.status, r.raw)
	}
}
