package signals

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// hmacHex is the test's own HMAC-SHA256, hex-encoded.
func hmacHex(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func testSignal() *sdk.Signal {
	return &sdk.Signal{
		ID:     "6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11",
		Name:   "user_login_failed",
		Sender: "ldap",
		Time:   time.Date(2031, 7, 14, 12, 30, 45, 123000000, time.FixedZone("CEST", 2*60*60)),
		Args:   json.RawMessage(`{"username":"alice","client_ip":"192.0.2.7"}`),
	}
}

func TestWebhookRequest(t *testing.T) {
	const secret = "s3cr3t-key"
	srv := newHookServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	sig := testSignal()
	if err := NewWebhook(srv.URL+"/hooks/portcullis", secret).Receive(context.Background(), sig); err != nil {
		t.Fatalf("Receive: %v", err)
	}
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
	if want := []string{"args", "id", "name", "sender", "time"}; !slices.Equal(keys, want) {
		t.Errorf("envelope members %q, want %q", keys, want)
	}
	want := map[string]string{
		"id":     `"6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11"`,
		"name":   `"user_login_failed"`,
		"sender": `"ldap"`,
		"time":   `"2031-07-14T10:30:45.123Z"`,
		"args":   `{"username":"alice","client_ip":"192.0.2.7"}`,
	}
	for k, v := range want {
		if got := string(env[k]); got != v {
			t.Errorf("envelope %s = %s, want %s", k, got, v)
		}
	}

	// The signature is the HMAC of the exact body bytes.
	wantSig := "sha256=" + hmacHex(secret, string(req.body))
	if got := req.header.Get(HeaderSignature); got != wantSig {
		t.Errorf("%s = %q, want %q", HeaderSignature, got, wantSig)
	}
	if got := Sign([]byte(secret), req.body); got != wantSig {
		t.Errorf("Sign(secret, body) = %q, want the header's %q", got, wantSig)
	}
	if Sign([]byte("other secret"), req.body) == wantSig {
		t.Error("another secret gives the same signature")
	}
	if got := req.header.Get(HeaderSignalID); got != sig.ID {
		t.Errorf("%s = %q, want %q", HeaderSignalID, got, sig.ID)
	}
	if got := req.header.Get(HeaderSignal); got != sig.Name {
		t.Errorf("%s = %q, want %q", HeaderSignal, got, sig.Name)
	}
	if got := req.header.Get("User-Agent"); got != "portcullis-webhook" {
		t.Errorf("User-Agent %q", got)
	}
}

func TestWebhookEmptyArgs(t *testing.T) {
	srv := newHookServer(t, func(http.ResponseWriter, *http.Request) {})
	sig := testSignal()
	sig.Args = nil
	if err := NewWebhook(srv.URL, "k").Receive(context.Background(), sig); err != nil {
		t.Fatal(err)
	}
	var env struct {
		Args json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(srv.received()[0].body, &env); err != nil || string(env.Args) != "{}" {
		t.Fatalf("args of a signal without arguments = %s, %v; want {}", env.Args, err)
	}
}

func TestSign(t *testing.T) {
	tests := []struct {
		name         string
		secret, body string
		want         string
	}{
		// RFC 4231, test case 2.
		{"RFC 4231 case 2", "Jefe", "what do ya want for nothing?",
			"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"empty body", "k", "", "sha256=" + hmacHex("k", "")},
		{"empty secret", "", `{"id":"x"}`, "sha256=" + hmacHex("", `{"id":"x"}`)},
		{"envelope", "s3cr3t", `{"id":"1","name":"n","sender":"s","time":"2031-01-01T00:00:00Z","args":{}}`,
			"sha256=" + hmacHex("s3cr3t", `{"id":"1","name":"n","sender":"s","time":"2031-01-01T00:00:00Z","args":{}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sign([]byte(tt.secret), []byte(tt.body)); got != tt.want {
				t.Fatalf("Sign(%q, %q) = %q, want %q", tt.secret, tt.body, got, tt.want)
			}
		})
	}
	// One changed byte changes the signature.
	if Sign([]byte("k"), []byte(`{"a":1}`)) == Sign([]byte("k"), []byte(`{"a":2}`)) {
		t.Fatal("different bodies share a signature")
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
			err := NewWebhook(srv.URL, "k").Receive(context.Background(), testSignal())
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
	err := NewWebhook(srv.URL, "k").Receive(ctx, testSignal())
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
	if err := NewWebhook(srv.URL, "k").Receive(ctx, testSignal()); !errors.Is(err, context.Canceled) {
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
	err := NewWebhook(url, "k").Receive(ctx, testSignal())
	if err == nil || !strings.HasPrefix(err.Error(), "webhook: ") {
		t.Fatalf("Receive to a closed server = %v, want a webhook error", err)
	}
}

func TestWebhookBadURL(t *testing.T) {
	if err := NewWebhook("://not a url", "k").Receive(context.Background(), testSignal()); err == nil {
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
		Receiver: NewWebhook(srv.URL, "k")})
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
		if r.header.Get(HeaderSignalID) != id {
			t.Errorf("request for %q, want %q (the same id on a retry)", r.header.Get(HeaderSignalID), id)
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
