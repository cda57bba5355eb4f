package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
)

// metricsAPI is the API over the chain [gate, local]: gate denies
// mallory, local grants alice her password, says a known user's wrong
// password is invalid_credentials, fails for "crash" and knows nobody
// else.
func metricsAPI(t *testing.T) (http.Handler, *metrics.Registry) {
	t.Helper()
	gate := &fakeAuth{authenticate: func(_ context.Context, req *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		if req.Username == "mallory" {
			r.Deny("banned", 0)
		} else {
			r.Abstain("")
		}
		return nil
	}}
	local := &fakeAuth{authenticate: func(_ context.Context, req *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		switch {
		case req.Username == "crash":
			return sdk.ErrUnavailable
		case req.Username == "alice" && req.Password == "s3cret":
			r.Grant(sdk.Identity{Subject: "u-alice", Username: "alice"})
		case req.Username == "alice":
			r.Abstain(sdk.ReasonInvalidCredentials)
		default:
			r.Abstain("")
		}
		return nil
	}}
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	reg := metrics.New()
	h := httpapi.New(httpapi.Options{
		Chain: chain.New(slog.New(slog.DiscardHandler),
			chain.Link{Name: "gate", Authenticator: gate, Timeout: 5 * time.Second},
			chain.Link{Name: "local", Authenticator: local, Timeout: 5 * time.Second}),
		Tokens:         newIssuer(t, store, accessTTL, 24*time.Hour),
		Ready:          func(context.Context) (bool, any) { return true, nil },
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:         slog.New(slog.DiscardHandler),
		Metrics:        reg,
	})
	return h, reg
}

func serve(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "127.0.0.1:5000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLoginMetrics(t *testing.T) {
	h, reg := metricsAPI(t)
	login := func(user, password string) int {
		body := fmt.Sprintf(`{"username": %q, "password": %q, "client": {"ip": "203.0.113.77"}}`, user, password)
		return serve(h, "POST", "/v1/login", body).Code
	}
	for _, l := range []struct {
		user, password string
		status         int
	}{
		{"alice", "s3cret", 200},
		{"alice", "wrong", 401},
		{"nobody", "x", 401},
		{"mallory", "x", 403},
		{"crash", "x", 503},
	} {
		if got := login(l.user, l.password); got != l.status {
			t.Fatalf("login of %s: %d, want %d", l.user, got, l.status)
		}
	}
	if w := serve(h, "POST", "/v1/login", `{"username":`); w.Code != 400 {
		t.Fatalf("a malformed login: %d", w.Code)
	}

	logins := reg.Counter("portcullis_logins_total", "", "outcome", "backend")
	for _, c := range []struct{ outcome, backend string }{
		{"success", "local"}, {"invalid_credentials", "local"}, {"invalid_credentials", "none"}, {"denied", "gate"}, {"unavailable", "local"},
	} {
		if n := logins.Value(c.outcome, c.backend); n != 1 {
			t.Errorf("portcullis_logins_total{outcome=%s,backend=%s} = %d, want 1", c.outcome, c.backend, n)
		}
	}
	durations := reg.Histogram("portcullis_login_duration_seconds", "", nil, "outcome")
	for outcome, want := range map[string]uint64{"success": 1, "invalid_credentials": 2, "denied": 1, "unavailable": 1, "rejected": 1} {
		if n := durations.Count(outcome); n != want {
			t.Errorf("portcullis_login_duration_seconds_count{outcome=%s} = %d, want %d", outcome, n, want)
		}
	}

	// Nothing about the user is in a label.
	w := serve(h, "GET", "/metrics", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "portcullis_login_duration_seconds_bucket") {
		t.Fatalf("GET /metrics: %d\n%s", w.Code, w.Body)
	}
	for _, secret := range []string{"alice", "mallory", "nobody", "203.0.113.77", "s3cret"} {
		if strings.Contains(w.Body.String(), secret) {
			t.Errorf("the scrape contains %q:\n%s", secret, w.Body)
		}
	}
}

func TestHTTPRequestMetrics(t *testing.T) {
	h, reg := metricsAPI(t)
	serve(h, "GET", "/healthz", "")
	serve(h, "GET", "/healthz", "")
	serve(h, "GET", "/v1/login", "")       // 405: no pattern of its method
	serve(h, "GET", "/no/such/thing", "")  // 404
	serve(h, "BREW", "/healthz", "")       // a method of the client's own
	serve(h, "POST", "/v1/login", `{"x"}`) // 400
	requests := reg.Counter("portcullis_http_requests_total", "", "route", "method", "status")
	for _, c := range []struct {
		route, method, status string
		want                  uint64
	}{
		{"GET /healthz", "GET", "200", 2},
		{"unmatched", "GET", "405", 1},
		{"unmatched", "GET", "404", 1},
		{"unmatched", "other", "405", 1},
		{"POST /v1/login", "POST", "400", 1},
	} {
		if n := requests.Value(c.route, c.method, c.status); n != c.want {
			t.Errorf("portcullis_http_requests_total{route=%q,method=%s,status=%s} = %d, want %d", c.route, c.method, c.status, n, c.want)
		}
	}
	if n := reg.Histogram("portcullis_http_request_duration_seconds", "", nil, "route", "method").Count("GET /healthz", "GET"); n != 2 {
		t.Errorf("GET /healthz timed %d times, want 2", n)
	}
	if w := serve(h, "GET", "/metrics", ""); strings.Contains(w.Body.String(), "/no/such/thing") || strings.Contains(w.Body.String(), "BREW") {
		t.Errorf("a path or a method of the client's own is a label:\n%s", w.Body)
	}
}

func TestRefusedLoginsAreTimed(t *testing.T) {
	backend := newHoldingAuth(t)
	a := newLimitedAPI(t, httpapi.LoginLimits{PerAddress: 1}, backend.fakeAuth)
	running := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.1") })
	backend.waitArrivals(t, 1)
	checkRefusal(t, a.login("203.0.113.1"), http.StatusTooManyRequests, "too_many_concurrent_logins")
	backend.open()
	if w := receive(t, running); w.Code != 200 {
		t.Fatalf("the running login: %d %s", w.Code, w.Body)
	}
	durations := a.metrics.Histogram("portcullis_login_duration_seconds", "", nil, "outcome")
	if durations.Count("refused") != 1 || durations.Count("success") != 1 {
		t.Fatalf("timed: refused %d, success %d; want 1 and 1", durations.Count("refused"), durations.Count("success"))
	}
	if n := a.metrics.Counter("portcullis_logins_total", "", "outcome", "backend").Value("success", "b0"); n != 1 {
		t.Fatalf("portcullis_logins_total{success,b0} = %d", n)
	}
}
