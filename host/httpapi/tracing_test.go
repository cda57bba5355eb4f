package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/telemetry"
	"github.com/portcullis-auth/portcullis/sdk"
)

// tracedAPI is the API over one granting backend with tracing on, its
// spans recorded and its log (at debug level) kept. Peers in 127.0.0.0/8
// are trusted proxies.
type tracedAPI struct {
	*api
	spans *tracetest.SpanRecorder
	log   *bytes.Buffer
}

func newTracedAPI(t *testing.T, allow telemetry.Attributes) *tracedAPI {
	t.Helper()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	rec := tracetest.NewSpanRecorder()
	tracing := telemetry.WithProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), allow)
	var out bytes.Buffer
	log := tracing.Logger(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a := &api{store: store, issuer: newIssuer(t, store, accessTTL, 24*time.Hour)}
	a.handler = httpapi.New(httpapi.Options{
		Chain:          chain.New(log, chain.Link{Name: "local", Authenticator: granting(sdk.Identity{Subject: "u1", Username: "zelda"}), Timeout: 5 * time.Second}),
		Tokens:         a.issuer,
		Ready:          func(context.Context) (bool, any) { return true, nil },
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:         log,
		Tracing:        tracing,
	})
	return &tracedAPI{api: a, spans: rec, log: &out}
}

// span returns the one ended span named name.
func (a *tracedAPI) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range a.spans.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1", len(found), name)
	}
	return found[0]
}

func attrsOf(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

const (
	sentTrace   = "4bf92f3577b34da6a3ce929d0e0e4736"
	sentSpan    = "00f067aa0ba902b7"
	traceparent = "00-" + sentTrace + "-" + sentSpan + "-01"
	zeldaLogin  = `{"username": "zelda", "password": "pw-planted", "client": {"ip": "198.51.100.77"}}`
)

func withTraceparent(r *http.Request) { r.Header.Set("Traceparent", traceparent) }

func TestTraceparentOfATrustedProxyIsContinued(t *testing.T) {
	a := newTracedAPI(t, telemetry.Attributes{})
	if w := a.do(t, "POST", "/v1/login", zeldaLogin, fromPeer("127.0.0.1:4000"), withTraceparent); w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	login := a.span(t, "portcullis.login")
	if login.SpanContext().TraceID().String() != sentTrace || login.Parent().SpanID().String() != sentSpan || !login.Parent().IsRemote() {
		t.Errorf("login span in trace %s under %s; want the proxy's trace %s under its span %s", login.SpanContext().TraceID(), login.Parent().SpanID(), sentTrace, sentSpan)
	}
	if login.SpanKind() != trace.SpanKindServer {
		t.Errorf("login span kind %v, want server", login.SpanKind())
	}
}

func TestTraceparentOfAnyoneElseStartsANewTrace(t *testing.T) {
	a := newTracedAPI(t, telemetry.Attributes{})
	if w := a.do(t, "POST", "/v1/login", zeldaLogin, fromPeer("192.0.2.1:4000"), withTraceparent); w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	login := a.span(t, "portcullis.login")
	if login.SpanContext().TraceID().String() == sentTrace || login.Parent().IsValid() {
		t.Errorf("login span in trace %s with parent %v; an untrusted peer's traceparent must start a new trace", login.SpanContext().TraceID(), login.Parent())
	}
}

func TestLoginSpanAttributes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		allow telemetry.Attributes
		want  map[string]string // "" for an attribute that must be absent
	}{
		{"by default, nothing about the user", telemetry.Attributes{}, map[string]string{"user.name": "", "client.address": ""}},
		{"usernames and addresses allowed", telemetry.Attributes{Usernames: true, ClientIPs: true}, map[string]string{"user.name": "zelda", "client.address": "198.51.100.77"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newTracedAPI(t, tt.allow)
			w := a.do(t, "POST", "/v1/login", zeldaLogin, fromPeer("127.0.0.1:4000"))
			if w.Code != http.StatusOK {
				t.Fatalf("login: %d %s", w.Code, w.Body)
			}
			got := attrsOf(a.span(t, "portcullis.login"))
			want := map[string]string{
				"portcullis.login.outcome": "success", "portcullis.login.backend": "local", "http.route": "/v1/login",
				"http.request.method": "POST", "http.response.status_code": "200", "portcullis.request_id": w.Header().Get("X-Request-Id"),
			}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if strings.Contains(v, "pw-planted") {
					t.Errorf("%s carries the password", k)
				}
			}
		})
	}
}

func TestRequestSpans(t *testing.T) {
	a := newTracedAPI(t, telemetry.Attributes{})
	a.do(t, "GET", "/healthz", "", fromPeer("127.0.0.1:4000"))
	a.do(t, "GET", "/metrics", "", fromPeer("127.0.0.1:4000"))
	if n := len(a.spans.Ended()); n != 0 {
		t.Errorf("%d spans for the probe and the scrape; want none", n)
	}
	if w := a.do(t, "GET", "/v1/session", "", fromPeer("127.0.0.1:4000")); w.Code != http.StatusUnauthorized {
		t.Fatalf("GET /v1/session without a cookie: %d", w.Code)
	}
	got := attrsOf(a.span(t, "GET /v1/session"))
	if got["http.route"] != "/v1/session" || got["http.response.status_code"] != "401" {
		t.Errorf("GET /v1/session span attributes %v", got)
	}
}

func TestRequestLogLinesCarryTheTrace(t *testing.T) {
	a := newTracedAPI(t, telemetry.Attributes{})
	if w := a.do(t, "POST", "/v1/login", zeldaLogin, fromPeer("127.0.0.1:4000")); w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	login := a.span(t, "portcullis.login")
	for _, raw := range bytes.Split(bytes.TrimSpace(a.log.Bytes()), []byte("\n")) {
		var line map[string]any
		if err := json.Unmarshal(raw, &line); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		if line["msg"] != "login succeeded" {
			continue
		}
		if line["trace_id"] != login.SpanContext().TraceID().String() || line["span_id"] != login.SpanContext().SpanID().String() {
			t.Errorf("log line %s; want trace_id %s and span_id %s", raw, login.SpanContext().TraceID(), login.SpanContext().SpanID())
		}
		return
	}
	t.Errorf("no \"login succeeded\" line in the log:\n%s", a.log)
}
