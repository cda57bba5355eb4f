package otp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/testkit/notrace"
	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

// TestMain fails the package if its plugins leave a socket behind.
func TestMain(m *testing.M) { os.Exit(notrace.Run("pcotp-", m.Run)) }

// testSecret is the webhook secret of the tests, in the standard's form.
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// received is one POST the receiver got.
type received struct {
	header   http.Header
	delivery Delivery
}

// receiver is the app's delivery service: it verifies each POST's
// Standard Webhooks signature with the library of the standard, refuses
// what does not verify, and records the codes.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	verify *standardwebhooks.Webhook

	mu   sync.Mutex
	got  []received
	last map[string]string // request id -> last code delivered
	// fail answers this status to the next failures POSTs.
	failures int
	status   int
}

func newReceiver(t testing.TB) *receiver {
	verify, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verify: verify, last: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := r.verify.Verify(body, req.Header); err != nil {
		r.t.Errorf("a delivery does not verify: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var d Delivery
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		r.t.Errorf("a delivery's body %s: %v", body, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, received{header: req.Header.Clone(), delivery: d})
	if r.failures > 0 {
		r.failures--
		w.WriteHeader(r.status)
		return
	}
	r.last[d.ID] = d.Code
	w.WriteHeader(http.StatusNoContent)
}

// failNext makes the next n POSTs answer status.
func (r *receiver) failNext(n, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures, r.status = n, status
}

// deliveries returns every POST received so far.
func (r *receiver) deliveries() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// answer is the conformance suite's Answer: the last code delivered for
// the request.
func (r *receiver) answer(t testing.TB, req *authreq.Request, _ authreq.Challenge) authreq.Answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	code, ok := r.last[req.ID]
	if !ok {
		t.Fatalf("no code was delivered for %s", req.ID)
	}
	return authreq.Answer{Code: code}
}

// config is a configuration that sends codes to the receiver, with extra
// settings (a JSON object's members, or "").
func (r *receiver) config(extra string) json.RawMessage {
	cfg := `{"sender":{"webhook":"` + r.srv.URL + `/codes","secret":"` + testSecret + `"}`
	if extra != "" {
		cfg += "," + extra
	}
	return json.RawMessage(cfg + "}")
}

// logBuffer is a plugin log the tests read.
type logBuffer = syncbuf.Buffer

// withLog returns a new plugin that logs, at every level, to a buffer.
func withLog() (*Plugin, *logBuffer) {
	buf := &logBuffer{}
	p := New()
	p.log = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return p, buf
}

// quiet returns a new plugin whose log is dropped.
func quiet() *Plugin {
	p := New()
	p.log = slog.New(slog.DiscardHandler)
	return p
}

// contains reports whether any of the texts holds s.
func contains(s string, texts ...string) bool {
	for _, t := range texts {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}
