package mobiledevice

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// request is a request of the tests, for alice.
func request(id string, generation int) *authreq.Request {
	return &authreq.Request{
		ID: id, Slug: "transfer", UserID: "u-alice", Username: "alice",
		Title: "Approve the transfer", Description: "100 EUR to Bob", Data: json.RawMessage(`{"amount":100}`),
		ExpiresAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Generation: generation,
	}
}

// answerOf is a device's answer.
func answerOf(id, token string) authreq.Answer {
	return authreq.Answer{Credentials: map[string]string{"device_id": id, "device_token": token}}
}

// testSecret is the notification webhook's secret, in the standard's form.
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// pushed is one notice the receiver got.
type pushed struct {
	header http.Header
	body   []byte
	notice notice
}

// receiver is the app's notification service: it verifies each POST
// with the Standard Webhooks library and records the notices.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	verify *standardwebhooks.Webhook

	mu     sync.Mutex
	got    []pushed
	status int // answered to every POST; 0 for 204
}

func newReceiver(t testing.TB) *receiver {
	verify, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verify: verify}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := r.verify.Verify(body, req.Header); err != nil {
			r.t.Errorf("a notice does not verify: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n notice
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&n); err != nil {
			r.t.Errorf("a notice's body %s: %v", body, err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, pushed{header: req.Header.Clone(), body: body, notice: n})
		if r.status != 0 {
			w.WriteHeader(r.status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) notices() []pushed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pushed(nil), r.got...)
}

func (r *receiver) config() json.RawMessage {
	return json.RawMessage(`{"notify":{"webhook":"` + r.srv.URL + `/push","secret":"` + testSecret + `"}}`)
}

func TestPrepareWithoutDevice(t *testing.T) {
	r := newReceiver(t)
	g := newRig(t, r.config())
	ctx := context.Background()
	if _, err := g.b.PrepareChallenge(ctx, request("r1", 0)); err == nil || !strings.Contains(err.Error(), "no active device") {
		t.Fatalf("a user without devices: %v", err)
	}
	// Only revoked devices, or only another user's: none either.
	g.tokenDevice("u-alice", "alice", "old")
	g.must(CommandRevoke, map[string]any{"device_id": "old"}, "", nil)
	g.tokenDevice("u-bob", "bob", "bobs")
	if _, err := g.b.PrepareChallenge(ctx, request("r2", 0)); err == nil {
		t.Fatal("a user with only a revoked device got a challenge")
	}
	if n := len(r.notices()); n != 0 {
		t.Errorf("%d notices for challenges refused", n)
	}
	if _, err := g.b.PrepareChallenge(ctx, &authreq.Request{ID: "r3"}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a request without a user: %v", err)
	}
}

func TestPrepareNotifies(t *testing.T) {
	r := newReceiver(t)
	g := newRig(t, r.config())
	ctx := context.Background()
	t1 := g.tokenDevice("u-alice", "alice", "one")
	g.clock.Advance(time.Second)
	t2 := g.tokenDevice("u-alice", "alice", "two")
	g.tokenDevice("u-alice", "alice", "gone")
	g.must(CommandRevoke, map[string]any{"device_id": "gone"}, "", nil)
	g.tokenDevice("u-bob", "bob", "bobs")

	req := request("r1", 2)
	ch, err := g.b.PrepareChallenge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Delivery != DeliveryDevice {
		t.Errorf("delivery %q", ch.Delivery)
	}
	var st state
	if err := json.Unmarshal(ch.State, &st); err != nil || st != (state{Version: 1, RequestID: "r1", UserID: "u-alice", Generation: 2}) {
		t.Errorf("state %s (%v)", ch.State, err)
	}
	got := r.notices()
	if len(got) != 1 {
		t.Fatalf("%d notices, want 1", len(got))
	}
	n := got[0].notice
	if n.Type != "authorization_request" || n.ID != "r1" || n.Slug != "transfer" || n.UserID != "u-alice" || n.Username != "alice" ||
		n.Title != req.Title || n.Description != req.Description || n.ExpiresAt == nil || !n.ExpiresAt.Equal(req.ExpiresAt) ||
		strings.Join(n.Devices, ",") != "gone,one,two"[len("gone,"):] {
		t.Errorf("notice %+v", n)
	}
	h := got[0].header
	if h.Get("User-Agent") != "portcullis-mobiledevice" || !strings.HasPrefix(h.Get("webhook-id"), "dev_") {
		t.Errorf("headers %v", h)
	}
	for _, secret := range []string{t1, t2, hashToken(t1), g.record("one").TokenHash} {
		if bytes.Contains(got[0].body, []byte(secret)) || bytes.Contains(ch.State, []byte(secret)) {
			t.Errorf("a token or its hash is in the notice %s or the state %s", got[0].body, ch.State)
		}
	}
	for _, key := range []string{"token", "secret", "code", "data"} {
		if bytes.Contains(got[0].body, []byte(`"`+key)) {
			t.Errorf("the notice has a %s: %s", key, got[0].body)
		}
	}

	// A reset is another notice.
	if _, err := g.b.PrepareChallenge(ctx, request("r1", 3)); err != nil {
		t.Fatal(err)
	}
	if all := r.notices(); len(all) != 2 || all[1].header.Get("webhook-id") == h.Get("webhook-id") {
		t.Errorf("a reset's notice: %d notices", len(all))
	}
}

func TestPrepareWithTheWebhookDown(t *testing.T) {
	for _, tt := range []struct {
		name string
		down func(r *receiver)
	}{
		{"closed", func(r *receiver) { r.srv.Close() }},
		{"503", func(r *receiver) { r.status = http.StatusServiceUnavailable }},
		{"401", func(r *receiver) { r.status = http.StatusUnauthorized }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t)
			g := newRig(t, r.config())
			token := g.tokenDevice("u-alice", "alice", "phone")
			tt.down(r)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			req := request("r1", 0)
			ch, err := g.b.PrepareChallenge(ctx, req)
			if err != nil {
				t.Fatalf("the challenge failed with the webhook: %v", err)
			}
			if !strings.Contains(g.log.String(), "notification webhook was not reached") {
				t.Errorf("the failure is not logged:\n%s", g.log.String())
			}
			if contains(token, g.log.String()) {
				t.Error("the token is in the log")
			}
			if v, err := g.b.CheckAnswer(context.Background(), req, ch.State, answerOf("phone", token)); err != nil || !v.Valid {
				t.Errorf("the device's answer: %+v, %v", v, err)
			}
		})
	}
}

func TestSlowWebhookLeavesTimeToAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	g := newRig(t, json.RawMessage(`{"notify":{"webhook":"`+srv.URL+`","secret":"`+testSecret+`"}}`))
	g.tokenDevice("u-alice", "alice", "phone")
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	if _, err := g.b.PrepareChallenge(ctx, request("slow", 0)); err != nil {
		t.Fatalf("a webhook that never answers failed the challenge: %v", err)
	}
}

func TestCheckAnswer(t *testing.T) {
	g := newRig(t, nil)
	ctx := context.Background()
	token := g.tokenDevice("u-alice", "alice", "phone")
	bobs := g.tokenDevice("u-bob", "bob", "bobs")
	old := g.tokenDevice("u-alice", "alice", "old")
	g.must(CommandRevoke, map[string]any{"device_id": "old"}, "", nil)
	g.keyedDevice("u-alice", "keyed")
	req := request("r1", 1)
	ch, err := g.b.PrepareChallenge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	v, err := g.b.CheckAnswer(ctx, req, ch.State, answerOf("phone", token))
	if err != nil || !v.Valid || v.State != nil {
		t.Fatalf("the right answer: %+v, %v", v, err)
	}
	otherReq := *req
	otherReq.ID = "r2"
	older := *req
	older.Generation = 0
	otherUser := *req
	otherUser.UserID = "u-bob"
	tests := []struct {
		name   string
		req    *authreq.Request
		answer authreq.Answer
	}{
		{"empty", req, authreq.Answer{}},
		{"a code", req, authreq.Answer{Code: token}},
		{"no token", req, authreq.Answer{Credentials: map[string]string{"device_id": "phone"}}},
		{"no device id", req, authreq.Answer{Credentials: map[string]string{"device_token": token}}},
		{"wrong token", req, answerOf("phone", bobs)},
		{"another user's device", req, answerOf("bobs", bobs)},
		{"a revoked device", req, answerOf("old", old)},
		{"an unknown device", req, answerOf("nope", token)},
		{"a malformed device id", req, answerOf("no/pe", token)},
		{"an ed25519 device", req, answerOf("keyed", token)},
		{"another request", &otherReq, answerOf("phone", token)},
		{"another generation", &older, answerOf("phone", token)},
		{"another user's request", &otherUser, answerOf("bobs", bobs)},
	}
	for _, tt := range tests {
		v, err := g.b.CheckAnswer(ctx, tt.req, ch.State, tt.answer)
		if err != nil || v.Valid || v.Reason != ReasonInvalidDevice || v.State != nil {
			t.Errorf("%s: %+v, %v; want not valid, invalid_device", tt.name, v, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("{}"), []byte(`{"v":2,"request_id":"r1","user_id":"u-alice"}`), ch.State[:5]} {
		if _, err := g.b.CheckAnswer(ctx, req, bad, answerOf("phone", token)); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("state %q: %v", bad, err)
		}
	}
}

// storageDown is a host whose storage fails every call.
type storageDown struct{ *sdktest.MemoryHost }

func (s storageDown) Storage() sdk.Storage { return s }
func (storageDown) Get(context.Context, string) (sdk.Entry, error) {
	return sdk.Entry{}, errors.New("the database is down")
}
func (storageDown) List(context.Context, string) ([]sdk.Entry, error) {
	return nil, errors.New("the database is down")
}

func TestStorageErrorsAreErrors(t *testing.T) {
	remote := sdktest.Start(t, quiet(), nil, storageDown{sdktest.NewMemoryHost()})
	ctx := context.Background()
	req := request("r1", 0)
	if _, err := remote.AuthorizationRequestBackend().PrepareChallenge(ctx, req); err == nil {
		t.Error("PrepareChallenge without storage")
	}
	st := state{Version: 1, RequestID: "r1", UserID: "u-alice"}.encode()
	if _, err := remote.AuthorizationRequestBackend().CheckAnswer(ctx, req, st, answerOf("phone", "x")); err == nil {
		t.Error("CheckAnswer without storage")
	}
	var resp sdk.AuthenticateResponse
	err := remote.Authenticator().Authenticate(ctx, &sdk.AuthenticateRequest{Username: "alice", Credentials: map[string]string{"device_id": "phone", "device_token": "x"}}, &resp)
	if err == nil || errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("Authenticate without storage: %v, %+v", err, resp)
	}
	if _, err := sdkAdmin(remote.Admin(), CommandAuthenticate, `{"device_id":"phone"}`, "x"); err == nil || errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("device_authenticate without storage: %v", err)
	}
}

// sdkAdmin runs a command on an sdk.Admin.
func sdkAdmin(a sdk.Admin, command, args, secret string) (json.RawMessage, error) {
	var resp sdk.AdminResponse
	err := a.Admin(context.Background(), &sdk.AdminRequest{Command: command, Args: json.RawMessage(args), Secret: secret}, &resp)
	return resp.Result, err
}

// The conformance suite plays the host. Its Answer is the device's: each
// call revokes and registers again the device of alice, so that each
// challenge has an answer of its own (a new token) and the old one stops
// working, as a reset kills an old code.
func TestConformance(t *testing.T) {
	host := sdktest.NewMemoryHost()
	admin := sdktest.Start(t, quiet(), nil, host).Admin()
	rotate := func(t testing.TB) string {
		if _, err := sdkAdmin(admin, CommandRevoke, `{"device_id":"conformance-phone"}`, ""); err != nil && !errors.Is(err, sdk.ErrNotFound) {
			t.Fatal(err)
		}
		raw, err := sdkAdmin(admin, CommandRegister, `{"user_id":"u-alice","username":"alice","device_id":"conformance-phone"}`, "")
		if err != nil {
			t.Fatal(err)
		}
		var r registerResult
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		return r.DeviceToken
	}
	rotate(t)
	r := newReceiver(t)
	for _, tt := range []struct {
		name   string
		config json.RawMessage
	}{
		{"polling", nil},
		{"notified", r.config()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sdktest.AuthorizationRequestSuite{
				New:    func() sdk.Plugin { return quiet() },
				Config: tt.config,
				Host:   func(testing.TB) sdk.Host { return host },
				Answer: func(t testing.TB, _ *authreq.Request, _ authreq.Challenge) authreq.Answer {
					return answerOf("conformance-phone", rotate(t))
				},
			}.Run(t)
		})
	}
}
