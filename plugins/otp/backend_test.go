package otp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/plugins/internal/webhook"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	r := newReceiver(t)
	for _, tt := range []struct{ name, extra string }{
		{"stored key", ""},
		{"configured key", `"hash_key":"this is a test key of thirty-two bytes or more"`},
		{"letters", `"length":8,"alphabet":"ABCDEFGHJKMNPQRSTVWXYZ23456789"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sdktest.AuthorizationRequestSuite{
				New:       func() sdk.Plugin { return quiet() },
				Config:    r.config(tt.extra),
				Answer:    r.answer,
				SingleUse: true,
			}.Run(t)
		})
	}
}

// request is a request of the tests.
func request(id string, generation int) *authreq.Request {
	return &authreq.Request{
		ID: id, Slug: "2FA", UserID: "u-alice", Username: "alice",
		Title: "Sign in", Description: "from Firefox on Linux", Data: json.RawMessage(`{"ip":"192.0.2.1"}`),
		ExpiresAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Generation: generation,
	}
}

func TestWebhookDelivery(t *testing.T) {
	r := newReceiver(t)
	p, log := withLog()
	b := sdktest.Start(t, p, r.config(""), nil).AuthorizationRequestBackend()
	req := request("r1", 2)
	ch, err := b.PrepareChallenge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := r.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0].delivery
	want := Delivery{ID: "r1", Slug: "2FA", UserID: "u-alice", Username: "alice", Title: "Sign in",
		Description: "from Firefox on Linux", ExpiresAt: &req.ExpiresAt, Code: d.Code}
	if d.ExpiresAt == nil || !d.ExpiresAt.Equal(req.ExpiresAt) {
		t.Fatalf("expires_at %v, want %v", d.ExpiresAt, req.ExpiresAt)
	}
	d.ExpiresAt = want.ExpiresAt
	if d != want {
		t.Errorf("delivery %+v, want %+v", d, want)
	}
	if len(d.Code) != DefaultLength || strings.Trim(d.Code, DefaultAlphabet) != "" {
		t.Errorf("code %q is not %d digits", d.Code, DefaultLength)
	}
	h := got[0].header
	if h.Get("Content-Type") != "application/json" || !strings.HasPrefix(h.Get("webhook-id"), "otp_") || !strings.HasPrefix(h.Get("webhook-signature"), "v1,") {
		t.Errorf("headers %v", h)
	}
	if ch.Delivery != "webhook" {
		t.Errorf("delivery %q, want webhook", ch.Delivery)
	}

	// The code is nowhere but in the delivery: not in the state, not in
	// the log, which has no secret either.
	if bytes.Contains(ch.State, []byte(d.Code)) || contains(d.Code, log.String(), ch.Delivery) {
		t.Errorf("the code %s is in the state %s or the log %s", d.Code, ch.State, log.String())
	}
	if contains(testSecret, log.String()) || contains("0123456789abcdef", log.String()) {
		t.Errorf("the webhook secret is in the log: %s", log.String())
	}
	if !strings.Contains(log.String(), "code delivered") {
		t.Errorf("no debug line about the delivery: %s", log.String())
	}

	v, err := b.CheckAnswer(context.Background(), req, ch.State, authreq.Answer{Code: d.Code})
	if err != nil || !v.Valid {
		t.Fatalf("the delivered code: %+v, %v", v, err)
	}
	if contains(d.Code, log.String()) {
		t.Errorf("the code is in the log after the check: %s", log.String())
	}
}

func TestWebhookRetries(t *testing.T) {
	r := newReceiver(t)
	b := sdktest.Start(t, quiet(), r.config(""), nil).AuthorizationRequestBackend()

	// Two 503s, then a delivery: one webhook-id, each try signed anew.
	r.failNext(2, http.StatusServiceUnavailable)
	ch, err := b.PrepareChallenge(context.Background(), request("retried", 0))
	if err != nil {
		t.Fatalf("two failures then a delivery: %v", err)
	}
	got := r.deliveries()
	if len(got) != webhook.Tries {
		t.Fatalf("%d tries, want %d", len(got), webhook.Tries)
	}
	for _, d := range got[1:] {
		if d.header.Get("webhook-id") != got[0].header.Get("webhook-id") || d.delivery.Code != got[0].delivery.Code {
			t.Errorf("a retry is another delivery: %v %q, first %v %q", d.header, d.delivery.Code, got[0].header, got[0].delivery.Code)
		}
	}
	if v, err := b.CheckAnswer(context.Background(), request("retried", 0), ch.State, authreq.Answer{Code: got[0].delivery.Code}); err != nil || !v.Valid {
		t.Fatalf("the retried code: %+v, %v", v, err)
	}

	// Another request is another delivery, with an id of its own.
	if _, err := b.PrepareChallenge(context.Background(), request("next", 0)); err != nil {
		t.Fatal(err)
	}
	if all := r.deliveries(); all[len(all)-1].header.Get("webhook-id") == got[0].header.Get("webhook-id") {
		t.Error("two deliveries share a webhook-id")
	}
}

func TestFailedDeliveryFailsTheChallenge(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		times   int
		tries   int
		message string
	}{
		{"always 503", http.StatusServiceUnavailable, 10, webhook.Tries, "answered 503 Service Unavailable (3 tries)"},
		{"a final 400", http.StatusBadRequest, 10, 1, "answered 400 Bad Request (1 try)"},
		{"429 then 500", http.StatusTooManyRequests, 10, webhook.Tries, "answered 429 Too Many Requests (3 tries)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t)
			p, log := withLog()
			b := sdktest.Start(t, p, r.config(""), nil).AuthorizationRequestBackend()
			r.failNext(tt.times, tt.status)
			_, err := b.PrepareChallenge(context.Background(), request("failing", 0))
			if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("got %v, want sdk.ErrUnavailable saying %q", err, tt.message)
			}
			got := r.deliveries()
			if len(got) != tt.tries {
				t.Errorf("%d tries, want %d", len(got), tt.tries)
			}
			if code := got[0].delivery.Code; contains(code, err.Error(), log.String()) {
				t.Errorf("the code is in the error %q or the log %s", err, log.String())
			}
		})
	}
}

func TestUnreachableWebhook(t *testing.T) {
	// Credentials in the URL never reach an error; a deadline bounds
	// every try, and the tries fit in it.
	r := newReceiver(t)
	addr := strings.TrimPrefix(r.srv.URL, "http://")
	r.srv.Close()
	cfg := json.RawMessage(`{"sender":{"webhook":"http://user:pa55word@` + addr + `/codes?token=t0ken","secret":"` + testSecret + `"}}`)
	b := sdktest.Start(t, quiet(), cfg, nil).AuthorizationRequestBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := b.PrepareChallenge(ctx, request("unreachable", 0))
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("got %v, want sdk.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v, past the deadline", took)
	}
	if contains("pa55word", err.Error()) || contains("t0ken", err.Error()) || !strings.Contains(err.Error(), "(3 tries)") {
		t.Errorf("error %q: want 3 tries and no credentials", err)
	}
}

func TestSlowWebhookStaysInTheDeadline(t *testing.T) {
	r := newReceiver(t)
	release := make(chan struct{})
	defer close(release)
	slow := r.srv.Config.Handler
	r.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
		slow.ServeHTTP(w, req)
	})
	b := sdktest.Start(t, quiet(), r.config(""), nil).AuthorizationRequestBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := b.PrepareChallenge(ctx, request("slow", 0)); err == nil {
		t.Fatal("a webhook that never answers delivered the code")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v, well past the 600ms deadline", took)
	}
}

func TestLogSender(t *testing.T) {
	p, log := withLog()
	b := sdktest.Start(t, p, json.RawMessage(`{"sender":{"log":true},"development":true}`), nil).AuthorizationRequestBackend()
	req := request("dev", 0)
	ch, err := b.PrepareChallenge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Delivery != "log" {
		t.Errorf("delivery %q, want log", ch.Delivery)
	}
	var line struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
		Code  string `json:"code"`
		ID    string `json:"request_id"`
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		if line.Code != "" {
			found = true
			break
		}
	}
	if !found || line.Level != "WARN" || !strings.HasPrefix(line.Msg, "WARNING: DEVELOPMENT ONLY") || line.ID != "dev" {
		t.Fatalf("log line %+v; want the code in a WARN line marked development only\n%s", line, log.String())
	}
	if !strings.Contains(log.String(), "otp configuration: sender.log writes every one-time code") {
		t.Errorf("no warning at Configure: %s", log.String())
	}
	if v, err := b.CheckAnswer(context.Background(), req, ch.State, authreq.Answer{Code: line.Code}); err != nil || !v.Valid {
		t.Fatalf("the logged code: %+v, %v", v, err)
	}
}

func TestStoredKeyIsShared(t *testing.T) {
	// Two plugins (two hosts) on one storage make one key between them:
	// a code one prepared, the other checks.
	ctx := context.Background()
	r := newReceiver(t)
	host := sdktest.NewMemoryHost()
	one := sdktest.Start(t, quiet(), r.config(""), host).AuthorizationRequestBackend()
	two := sdktest.Start(t, quiet(), r.config(""), host).AuthorizationRequestBackend()
	req := request("shared", 0)
	ch, err := one.PrepareChallenge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	code := r.answer(t, req, ch)
	if v, err := two.CheckAnswer(ctx, req, ch.State, code); err != nil || !v.Valid {
		t.Fatalf("the other plugin's check: %+v, %v", v, err)
	}
	e, err := host.Storage().Get(ctx, storedKeyName)
	if err != nil || len(e.Value) != storedKeyBytes {
		t.Fatalf("stored key %d bytes, %v", len(e.Value), err)
	}

	// With hash_key configured, the stored key is not the one used: the
	// same state does not check.
	keyed := sdktest.Start(t, quiet(), r.config(`"hash_key":"this is a test key of thirty-two bytes or more"`), host).AuthorizationRequestBackend()
	if v, err := keyed.CheckAnswer(ctx, req, ch.State, code); err != nil || v.Valid {
		t.Fatalf("a code hashed with the stored key checks with the configured one: %+v, %v", v, err)
	}
}

func TestKeyRace(t *testing.T) {
	// Hosts that start together agree on one key.
	ctx := context.Background()
	host := sdktest.NewMemoryHost()
	keys := make(chan []byte, 8)
	for range cap(keys) {
		go func() {
			k, err := loadOrCreateKey(ctx, host.Storage())
			if err != nil {
				t.Error(err)
			}
			keys <- k
		}()
	}
	first := <-keys
	for range cap(keys) - 1 {
		if k := <-keys; !bytes.Equal(k, first) {
			t.Fatal("two hosts made different keys")
		}
	}
	// A stored value the plugin did not write is refused, not used.
	if err := host.Storage().Put(ctx, storedKeyName, []byte("short"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateKey(ctx, host.Storage()); err == nil || contains("short", err.Error()) {
		t.Fatalf("a 5-byte stored key: %v", err)
	}
}

func TestChecks(t *testing.T) {
	ctx := context.Background()
	r := newReceiver(t)
	b := sdktest.Start(t, quiet(), r.config(""), nil).AuthorizationRequestBackend()
	req := request("checks", 1)
	ch, err := b.PrepareChallenge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	right := r.answer(t, req, ch)
	used, err := b.CheckAnswer(ctx, req, ch.State, right)
	if err != nil || !used.Valid {
		t.Fatalf("the right code: %+v, %v", used, err)
	}
	other := *req
	other.ID = "checks-other"
	older := *req
	older.Generation = 0

	tests := []struct {
		name   string
		req    *authreq.Request
		state  []byte
		answer authreq.Answer
		reason string
	}{
		{"empty", req, ch.State, authreq.Answer{}, ReasonInvalidCode},
		{"empty with credentials", req, ch.State, authreq.Answer{Credentials: map[string]string{"code": right.Code}}, ReasonInvalidCode},
		{"wrong", req, ch.State, authreq.Answer{Code: changeFirst(right.Code)}, ReasonInvalidCode},
		{"spaced", req, ch.State, authreq.Answer{Code: " " + right.Code}, ReasonInvalidCode},
		{"another request", &other, ch.State, right, ReasonInvalidCode},
		{"another generation", &older, ch.State, right, ReasonInvalidCode},
		{"used", req, used.State, right, ReasonCodeUsed},
		{"used, wrong", req, used.State, authreq.Answer{Code: "000000"}, ReasonCodeUsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := b.CheckAnswer(ctx, tt.req, tt.state, tt.answer)
			if err != nil || v.Valid || v.Reason != tt.reason || v.State != nil {
				t.Fatalf("got %+v, %v; want not valid, %s, no new state", v, err, tt.reason)
			}
		})
	}
	for _, state := range [][]byte{nil, []byte("{}"), []byte(`{"v":2}`), ch.State[:10]} {
		if _, err := b.CheckAnswer(ctx, req, state, right); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("state %q: %v, want sdk.ErrInvalidArgument", state, err)
		}
	}
}

// changeFirst changes the first character of a code.
func changeFirst(code string) string {
	if code[0] == '1' {
		return "2" + code[1:]
	}
	return "1" + code[1:]
}

func TestPrepareRefuses(t *testing.T) {
	ctx := context.Background()
	r := newReceiver(t)
	b := sdktest.Start(t, quiet(), r.config(""), nil).AuthorizationRequestBackend()
	if _, err := b.PrepareChallenge(ctx, request("", 0)); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a request without an id: %v", err)
	}
	if _, err := b.PrepareChallenge(ctx, request(strings.Repeat("i", authreq.MaxState), 0)); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a request id too long for the state: %v", err)
	}
	if n := len(r.deliveries()); n != 0 {
		t.Errorf("%d codes delivered for requests refused", n)
	}

	unconfigured := quiet()
	if _, err := unconfigured.PrepareChallenge(ctx, request("x", 0)); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("unconfigured: %v", err)
	}
	if _, err := unconfigured.CheckAnswer(ctx, request("x", 0), nil, authreq.Answer{Code: "1"}); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("unconfigured: %v", err)
	}
}
