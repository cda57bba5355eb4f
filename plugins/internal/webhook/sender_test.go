package webhook

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/host/signals/webhooksig"
)

// testSecret is the tests' secret, in the standard's form.
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// hit is one POST the receiver got.
type hit struct {
	header http.Header
	body   string
}

// receiver verifies each POST with the standard's own library and answers
// the statuses it is told to, then 204.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	verify *standardwebhooks.Webhook

	mu       sync.Mutex
	hits     []hit
	statuses []int
}

func newReceiver(t *testing.T) *receiver {
	verify, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verify: verify}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := r.verify.Verify(body, req.Header); err != nil {
			r.t.Errorf("a delivery does not verify: %v", err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.hits = append(r.hits, hit{header: req.Header.Clone(), body: string(body)})
		if len(r.statuses) > 0 {
			status := r.statuses[0]
			r.statuses = r.statuses[1:]
			if status == http.StatusFound {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) answer(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = statuses
}

func (r *receiver) got() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func newSender(t *testing.T, url string) *Sender {
	t.Helper()
	key, err := Key(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(url, key, Options{UserAgent: "portcullis-test", IDPrefix: "tst_"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSend(t *testing.T) {
	r := newReceiver(t)
	s := newSender(t, r.srv.URL+"/hook")
	if err := s.Send(context.Background(), []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	got := r.got()
	if len(got) != 1 {
		t.Fatalf("%d POSTs, want 1", len(got))
	}
	h := got[0].header
	if h.Get("User-Agent") != "portcullis-test" || h.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(h.Get("webhook-id"), "tst_") || len(h.Get("webhook-id")) != len("tst_")+32 {
		t.Errorf("headers %v", h)
	}
	if got[0].body != `{"a":1}` {
		t.Errorf("body %q", got[0].body)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		tries    int
		message  string // "" for a delivery
	}{
		{"two 503s, then 204", []int{503, 503}, 3, ""},
		{"always 503", []int{503, 503, 503}, Tries, "answered 503 Service Unavailable (3 tries)"},
		{"408 then 429 then 500", []int{408, 429, 500}, Tries, "answered 500 Internal Server Error (3 tries)"},
		{"a final 400", []int{400}, 1, "answered 400 Bad Request (1 try)"},
		{"a redirect is not followed", []int{302}, 1, "answered 302 Found (1 try)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t)
			r.answer(tt.statuses...)
			err := newSender(t, r.srv.URL).Send(context.Background(), []byte(`{}`))
			got := r.got()
			if len(got) != tt.tries {
				t.Errorf("%d tries, want %d", len(got), tt.tries)
			}
			for _, h := range got[1:] {
				if h.header.Get("webhook-id") != got[0].header.Get("webhook-id") {
					t.Error("a retry has another webhook-id")
				}
			}
			switch {
			case tt.message == "" && err != nil:
				t.Fatalf("want a delivery, got %v", err)
			case tt.message != "" && (err == nil || !strings.Contains(err.Error(), tt.message)):
				t.Fatalf("got %v, want an error saying %q", err, tt.message)
			}
		})
	}
}

func TestDeliveriesHaveTheirOwnIDs(t *testing.T) {
	r := newReceiver(t)
	s := newSender(t, r.srv.URL)
	for range 2 {
		if err := s.Send(context.Background(), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.got(); got[0].header.Get("webhook-id") == got[1].header.Get("webhook-id") {
		t.Error("two deliveries share a webhook-id")
	}
}

func TestUnreachableHidesCredentials(t *testing.T) {
	r := newReceiver(t)
	addr := strings.TrimPrefix(r.srv.URL, "http://")
	r.srv.Close()
	s := newSender(t, "http://user:pa55word@"+addr+"/hook?token=t0ken")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.Send(ctx, []byte(`{"secret":"b0dy"}`))
	if err == nil {
		t.Fatal("a closed server took the delivery")
	}
	for _, secret := range []string{"pa55word", "t0ken", "b0dy", testSecret} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q is in the error %q", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "(3 tries)") || s.Shown() != "http://"+addr+"/hook?…" {
		t.Errorf("error %q, shown %q", err, s.Shown())
	}
}

func TestSlowReceiverStaysInTheDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := newSender(t, srv.URL).Send(ctx, []byte(`{}`)); err == nil {
		t.Fatal("a receiver that never answers took the delivery")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v, well past the 600ms deadline", took)
	}
}

func TestNoKey(t *testing.T) {
	if _, err := New("https://x.example/", nil, Options{}); err == nil {
		t.Error("a sender without a key")
	}
}

// A secret works as a signal webhook's: the same key, the same signature,
// which the host's verifier accepts.
func TestKeyAndSignatureAsTheHosts(t *testing.T) {
	secrets := []string{
		"a webhook secret of some length",
		"whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567")),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n",
		"whsec_not base64",
		"short",
		"",
	}
	for _, secret := range secrets {
		ours, ourErr := Key(secret)
		theirs, theirErr := webhooksig.Key(secret)
		if (ourErr == nil) != (theirErr == nil) || string(ours) != string(theirs) {
			t.Errorf("secret %q: key %x, %v; the host's %x, %v", secret, ours, ourErr, theirs, theirErr)
			continue
		}
		if ourErr != nil {
			if secret != "" && strings.Contains(ourErr.Error(), strings.TrimPrefix(secret, SecretPrefix)) {
				t.Errorf("the error %q quotes the secret", ourErr)
			}
			continue
		}
		s, err := New("https://x.example/", ours, Options{})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1_800_000_000, 0)
		body := []byte(`{"code":"123456"}`)
		sig, err := s.Sign("msg_1", at, body)
		if err != nil {
			t.Fatal(err)
		}
		if want := webhooksig.Sign(theirs, "msg_1", at, body); sig != want {
			t.Errorf("secret %q: signature %s, the host's %s", secret, sig, want)
		}
		h := http.Header{}
		webhooksig.SetHeaders(h, theirs, "msg_1", at, body)
		h.Set(webhooksig.HeaderSignature, sig)
		v := webhooksig.Verifier{Key: theirs, Now: func() time.Time { return at }}
		if err := v.Verify(h, body); err != nil {
			t.Errorf("secret %q: the host's verifier: %v", secret, err)
		}
	}
}
