package signals

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/host/signals/webhooksig"
	"github.com/portcullis-auth/portcullis/sdk"
)

// captured is one request a test server received.
type captured struct {
	method string
	header http.Header
	body   []byte
}

// hookServer is an httptest.Server whose answer is set by respond; it keeps
// the requests it received.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []captured
}

func newHookServer(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *hookServer {
	t.Helper()
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.requests = append(h.requests, captured{method: r.Method, header: r.Header.Clone(), body: body})
		h.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) received() []captured {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// testSecret is the webhook secret of most tests: the Standard Webhooks
// libraries' own example, in the standard's form.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// libVerify checks a captured request with the official Standard Webhooks
// Go library, as a receiver would, given secret in the form that library
// takes.
func libVerify(t *testing.T, secret string, req captured) error {
	t.Helper()
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("the library refuses the secret: %v", err)
	}
	return lib.Verify(req.body, req.header)
}

func testSignal() *sdk.Signal {
	return &sdk.Signal{
		ID:     "6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11",
		Name:   "user_login_failed",
		Sender: "ldap",
		Origin: OriginHost,
		Time:   time.Date(2031, 7, 14, 12, 30, 45, 123000000, time.FixedZone("CEST", 2*60*60)),
		Args:   json.RawMessage(`{"username":"alice","client_ip":"192.0.2.7"}`),
	}
}

func TestWebhookRequest(t *testing.T) {
	srv := newHookServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	sig := testSignal()
	before := time.Now().Unix()
	if err := NewWebhook(srv.URL+"/hooks/portcullis", testSecret).Receive(context.Background(), sig); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	after := time.Now().Unix()
	reqs := srv.received()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.method != http.MethodPost {
		t.Errorf("method %s, want POST", req.method)
	}
	if got := req.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}

	// The body is the envelope, with exactly these members.
	var env map[string]json.RawMessage
	if err := json.Unmarshal(req.body, &env); err != nil {
		t.Fatalf("body %s: %v", req.body, err)
	}
	var keys []string
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"args", "id", "name", "origin", "sender", "time"}; !slices.Equal(keys, want) {
		t.Errorf("envelope members %q, want %q", keys, want)
	}
	want := map[string]string{
		"id":     `"6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11"`,
		"name":   `"user_login_failed"`,
		"sender": `"ldap"`,
		"origin": `"host"`,
		"time":   `"2031-07-14T10:30:45.123Z"`,
		"args":   `{"username":"alice","client_ip":"192.0.2.7"}`,
	}
	for k, v := range want {
		if got := string(env[k]); got != v {
			t.Errorf("envelope %s = %s, want %s", k, got, v)
		}
	}

	// Standard Webhooks: the official library verifies the delivery.
	if err := libVerify(t, testSecret, req); err != nil {
		t.Errorf("the Standard Webhooks library refuses the delivery: %v\nheaders: %v", err, req.header)
	}
	if got := req.header.Get("webhook-id"); got != sig.ID {
		t.Errorf("webhook-id = %q, want the signal id %q", got, sig.ID)
	}
	// The timestamp is the attempt's, not the signal's (2031).
	ts, err := strconv.ParseInt(req.header.Get("webhook-timestamp"), 10, 64)
	if err != nil || ts < before || ts > after {
		t.Errorf("webhook-timestamp = %q, want the attempt's unix time in [%d, %d]", req.header.Get("webhook-timestamp"), before, after)
	}
	// The same check, written out: v1, base64 HMAC-SHA256 of id.timestamp.body.
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sig.ID + "." + req.header.Get("webhook-timestamp") + "." + string(req.body)))
	if got, wantSig := req.header.Get("webhook-signature"), "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)); got != wantSig {
		t.Errorf("webhook-signature = %q, want %q", got, wantSig)
	}
	if got := req.header.Get(HeaderSignal); got != sig.Name {
		t.Errorf("%s = %q, want %q", HeaderSignal, got, sig.Name)
	}
	// The old body-only signature, replayable for ever, is gone.
	for _, old := range []string{"X-Portcullis-Signature", "X-Portcullis-Signal-Id"} {
		if v, ok := req.header[old]; ok {
			t.Errorf("the delivery still carries %s: %q", old, v)
		}
	}
	if got := req.header.Get("User-Agent"); got != "portcullis-webhook" {
		t.Errorf("User-Agent %q", got)
	}
}

// TestWebhookSecretForms: a whsec_ secret keys the HMAC with its decoded
// bytes, any other with its own bytes (a receiver library then takes
// whsec_ and their base64); a secret that gives no key sends nothing.
func TestWebhookSecretForms(t *testing.T) {
	plain := "a-plain-operator-secret"
	tests := []struct {
		name      string
		secret    string
		libSecret string // "" : Receive must fail without sending
	}{
		{"whsec_ secret", testSecret, testSecret},
		{"whsec_ secret of 64 bytes", "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 64))),
			"whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 64)))},
		{"plain secret", plain, "whsec_" + base64.StdEncoding.EncodeToString([]byte(plain))},
		{"whsec_ secret that is not base64", "whsec_not*base64*at*all*not*base64", ""},
		{"whsec_ secret too short", "whsec_" + base64.StdEncoding.EncodeToString([]byte("16 bytes is less")), ""},
		{"plain secret too short", "short", ""},
		{"no secret", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newHookServer(t, func(http.ResponseWriter, *http.Request) {})
			err := NewWebhook(srv.URL, tt.secret).Receive(context.Background(), testSignal())
			reqs := srv.received()
			if tt.libSecret == "" {
				if err == nil || len(reqs) != 0 {
					t.Fatalf("Receive with secret %q = %v after %d requests; want an error and no request", tt.secret, err, len(reqs))
				}
				if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
					t.Fatalf("the error %q quotes the secret", err)
				}
				return
			}
			if err != nil || len(reqs) != 1 {
				t.Fatalf("Receive = %v, %d requests; want nil and 1", err, len(reqs))
			}
			if err := libVerify(t, tt.libSecret, reqs[0]); err != nil {
				t.Fatalf("the library, given %q, refuses the delivery: %v", tt.libSecret, err)
			}
		})
	}
}

// TestWebhookReplayIsRefused: a captured delivery verifies within the
// tolerance and is refused, by the documented check, once the tolerance
// has passed, either way.
func TestWebhookReplayIsRefused(t *testing.T) {
	srv := newHookServer(t, func(http.ResponseWriter, *http.Request) {})
	if err := NewWebhook(srv.URL, testSecret).Receive(context.Background(), testSignal()); err != nil {
		t.Fatal(err)
	}
	captured := srv.received()[0]
	sent, err := strconv.ParseInt(captured.header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", captured.header.Get("webhook-timestamp"), err)
	}
	at := time.Unix(sent, 0)
	tests := []struct {
		name   string
		replay time.Time
		want   error
	}{
		{"at once", at, nil},
		{"4m59s later", at.Add(4*time.Minute + 59*time.Second), nil},
		{"5m1s later", at.Add(5*time.Minute + time.Second), webhooksig.ErrTooOld},
		{"a week later", at.Add(7 * 24 * time.Hour), webhooksig.ErrTooOld},
		{"by a receiver whose clock is 5m1s behind", at.Add(-5*time.Minute - time.Second), webhooksig.ErrTooNew},
	}
	key, _ := webhooksig.Key(testSecret)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &webhooksig.Verifier{Key: key, Now: func() time.Time { return tt.replay }}
			if err := v.Verify(captured.header, captured.body); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestWebhookTimestampIsEachAttempts: a retry carries the same webhook-id
// and the time of its own attempt, signed anew.
func TestWebhookTimestampIsEachAttempts(t *testing.T) {
	srv := newHookServer(t, func(http.ResponseWriter, *http.Request) {})
	w := NewWebhook(srv.URL, testSecret)
	first := time.Unix(1_900_000_000, 0)
	attempts := []time.Time{first, first.Add(90 * time.Second)}
	for _, at := range attempts {
		w.now = func() time.Time { return at }
		if err := w.Receive(context.Background(), testSignal()); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.received()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	key, _ := webhooksig.Key(testSecret)
	for i, r := range reqs {
		if got := r.header.Get("webhook-id"); got != testSignal().ID {
			t.Errorf("attempt %d: webhook-id %q, want %q", i, got, testSignal().ID)
		}
		if got, want := r.header.Get("webhook-timestamp"), strconv.FormatInt(attempts[i].Unix(), 10); got != want {
			t.Errorf("attempt %d: webhook-timestamp %s, want %s", i, got, want)
		}
		v := &webhooksig.Verifier{Key: key, Now: func() time.Time { return attempts[i] }}
		if err := v.Verify(r.header, r.body); err != nil {
			t.Errorf("attempt %d does not verify at its own time: %v", i, err)
		}
	}
	if reqs[0].header.Get("webhook-signature") == reqs[1].header.Get("webhook-signature") {
		t.Error("two attempts at different times share a signature")
	}
}

// TestWebhookRefusesUnsignableIDs: an id that cannot stand between the dots
// of the signed content, or is empty, is never sent.
func TestWebhookRefusesUnsignableIDs(t *testing.T) {
	for _, id := range []string{"", "a.b", "a b", "a\nb"} {
		t.Run(strconv.Quote(id), func(t *testing.T) {
			srv := newHookServer(t, func(http.ResponseWriter, *http.Request) {})
			sig := testSignal()
			sig.ID = id
			if err := NewWebhook(srv.URL, testSecret).Receive(context.Background(), sig); err == nil {
				t.Fatal("Receive succeeded")
			}
			if n := len(srv.received()); n != 0 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
}

func TestWebhookEmptyArgs(t *testing.T) {
	srv := newHookServer(t, func(http.ResponseWriter, *http.Request) {})
	sig := testSignal()
	sig.Args = nil
	if err := NewWebhook(srv.URL, testSecret).Receive(context.Background(), sig); err != nil {
		t.Fatal(err)
	}
	var env struct {
		Args json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(srv.received()[0].body, &env); err != nil || string(env.Args) != "{}" {
		t.Fatalf("args of a signal without arguments = %s, %v; want {}", env.Args, err)
	}
}

func TestWebhookStatus(t *testing.T) {
	tests := []struct {
		status  int
		wantErr bool
	}{
		{http.StatusOK, false},
		{http.StatusCreated, false},
		{http.StatusAccepted, false},
		{http.StatusNoContent, false},
		{299, false},
		{http.StatusMovedPermanently, true},
		{http.StatusFound, true},
		{http.StatusSeeOther, true},
		{http.StatusTemporaryRedirect, true},
		{http.StatusPermanentRedirect, true},
		{http.StatusNotModified, true},
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusNotFound, true},
		{http.StatusGone, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			var redirected atomic.Int32
			target := newHookServer(t, func(http.ResponseWriter, *http.Request) { redirected.Add(1) })
			srv := newHookServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.status >= 300 && tt.status < 400 {
					w.Header().Set("Location", target.URL+"/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, strings.Repeat("x", 100<<10)) // a body larger than the webhook reads
			})
			err := NewWebhook(srv.URL, testSecret).Receive(context.Background(), testSignal())
			if (err != nil) != tt.wantErr {
				t.Fatalf("status %d: Receive = %v, want error: %v", tt.status, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), http.StatusText(tt.status)) {
				t.Errorf("error %q does not give the status", err)
			}
			if n := redirected.Load(); n != 0 {
				t.Errorf("the redirect was followed (%d requests at its target)", n)
			}
			if n := len(srv.received()); n != 1 {
				t.Errorf("%d requests, want 1 (no retry inside Receive)", n)
			}
		})
	}
}

func TestWebhookDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := NewWebhook(srv.URL, testSecret).Receive(ctx, testSignal())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive against a server that does not answer = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Receive took %s with a 100ms deadline", took)
	}
}

func TestWebhookCancelledContext(t *testing.T) {
	srv := newHookServer(t, func(http.ResponseWriter, *http.Request) {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewWebhook(srv.URL, testSecret).Receive(ctx, testSignal()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive with a cancelled context = %v, want context.Canceled", err)
	}
	if n := len(srv.received()); n != 0 {
		t.Fatalf("%d requests sent with a cancelled context", n)
	}
}

func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := NewWebhook(url, testSecret).Receive(ctx, testSignal())
	if err == nil || !strings.HasPrefix(err.Error(), "webhook: ") {
		t.Fatalf("Receive to a closed server = %v, want a webhook error", err)
	}
}

func TestWebhookBadURL(t *testing.T) {
	if err := NewWebhook("://not a url", testSecret).Receive(context.Background(), testSignal()); err == nil {
		t.Fatal("Receive with an invalid URL succeeded")
	}
}

// TestWebhookThroughTheDeliverer: a webhook subscriber behind the outbox;
// a 503 is retried and a later 200 delivers.
func TestWebhookThroughTheDeliverer(t *testing.T) {
	var calls atomic.Int32
	srv := newHookServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	e := newEnv(t, openSQLite(t))
	e.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: 5 * time.Second,
		Receiver: NewWebhook(srv.URL, testSecret)})
	id := e.disp.Emit(context.Background(), "local", loginFailed("alice"))
	run(t, e.newDeliverer(shortOptions()))
	waitFor(t, 10*time.Second, "the webhook delivery", func() bool {
		return countState(e.rows(t), "delivered") == 1
	})
	reqs := srv.received()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get("webhook-id") != id {
			t.Errorf("request for %q, want %q (the same id on a retry)", r.header.Get("webhook-id"), id)
		}
		if err := libVerify(t, testSecret, r); err != nil {
			t.Errorf("the Standard Webhooks library refuses a delivery: %v", err)
		}
	}
	if string(reqs[0].body) != string(reqs[1].body) {
		t.Errorf("a retry sent another body:\n%s\n%s", reqs[0].body, reqs[1].body)
	}
	if r := e.rows(t)[0]; r.Attempts != 1 || r.LastError != "" {
		t.Errorf("row delivered after one 503: attempts %d, last error %q; want 1 and none", r.Attempts, r.LastError)
	}
	if log := e.log.String(); !strings.Contains(log, "webhook answered 503 Service Unavailable") {
		t.Errorf("the 503 is not logged:\n%s", log)
	}
}
