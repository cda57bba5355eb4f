package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// fakeAuth is an Authenticator whose answer is a function. It records the
// requests it was asked to decide.
type fakeAuth struct {
	authenticate func(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error

	mu       sync.Mutex
	requests []sdk.AuthenticateRequest
}

func (f *fakeAuth) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	f.mu.Lock()
	f.requests = append(f.requests, *req)
	f.mu.Unlock()
	return f.authenticate(ctx, req, resp)
}

func (f *fakeAuth) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeAuth) last(t *testing.T) sdk.AuthenticateRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the authenticator was never asked")
	}
	return f.requests[len(f.requests)-1]
}

// Interface guard.
var _ sdk.Authenticator = (*fakeAuth)(nil)

func granting(id sdk.Identity) *fakeAuth {
	return &fakeAuth{authenticate: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		r.Grant(id)
		return nil
	}}
}

func abstaining(reason string) *fakeAuth {
	return &fakeAuth{authenticate: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		r.Abstain(reason)
		return nil
	}}
}

// denying answers with resp as given.
func denying(resp sdk.AuthenticateResponse) *fakeAuth {
	return &fakeAuth{authenticate: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		*r = resp
		r.Decision = sdk.DecisionDeny
		return nil
	}}
}

func failing(err error) *fakeAuth {
	return &fakeAuth{authenticate: func(context.Context, *sdk.AuthenticateRequest, *sdk.AuthenticateResponse) error { return err }}
}

// api is a Server over fake backends, a real SQLite store and a real
// token issuer.
type api struct {
	handler http.Handler
	store   *storage.Store
	ready   func(ctx context.Context) (bool, any)
	issuer  *tokens.Issuer
}

const accessTTL = 15 * time.Minute

// newAPI builds the API over backends named b0, b1, ... in order. Peers in
// 127.0.0.0/8 are trusted proxies.
func newAPI(t testing.TB, backends ...*fakeAuth) *api {
	t.Helper()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	links := make([]chain.Link, len(backends))
	for i, b := range backends {
		links[i] = chain.Link{Name: fmt.Sprintf("b%d", i), Authenticator: b, Timeout: 5 * time.Second}
	}
	a := &api{store: store, ready: func(context.Context) (bool, any) { return true, nil }, issuer: newIssuer(t, store, accessTTL, 24*time.Hour)}
	a.handler = httpapi.New(httpapi.Options{
		Chain:          chain.New(slog.New(slog.DiscardHandler), links...),
		Tokens:         a.issuer,
		Ready:          func(ctx context.Context) (bool, any) { return a.ready(ctx) },
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:         slog.New(slog.DiscardHandler),
	})
	return a
}

// do sends a request from 192.0.2.1 (an untrusted peer) unless edit says
// otherwise.
func (a *api) do(t *testing.T, method, path, body string, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for _, e := range edit {
		e(r)
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	return w
}

func fromPeer(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

// jsonBody decodes a JSON object response and checks the headers every
// response carries.
func jsonBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if id := w.Header().Get("X-Request-Id"); len(id) != 24 {
		t.Errorf("X-Request-Id = %q, want 24 hex digits", id)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", w.Body, err)
	}
	return body
}

// checkError requires a JSON error response with status and code.
func checkError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Errorf("status = %d, want %d (body %s)", w.Code, status, w.Body)
	}
	body := jsonBody(t, w)
	if body["error"] != code {
		t.Errorf("error = %v, want %q (body %s)", body["error"], code, w.Body)
	}
	if d, _ := body["error_description"].(string); d == "" {
		t.Errorf("error_description is missing (body %s)", w.Body)
	}
	return body
}

const goodLogin = `{"username": "alice", "password": "s3cret"}`

func TestLoginSuccess(t *testing.T) {
	auth := granting(sdk.Identity{Subject: "user-1", Username: "alice"})
	a := newAPI(t, auth)
	w := a.do(t, "POST", "/v1/login", `{"username": "alice", "password": "s3cret", "credentials": {"otp": "123456"}}`,
		func(r *http.Request) { r.Header.Set("User-Agent", "test-agent/1") })

	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
	}
	body := jsonBody(t, w)
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	if strings.Count(access, ".") != 2 || !strings.HasPrefix(refresh, "pcr_") {
		t.Errorf("tokens = %q, %q; want a JWT and a pcr_ token", access, refresh)
	}
	if body["token_type"] != "Bearer" {
		t.Errorf("token_type = %v, want Bearer", body["token_type"])
	}
	if body["expires_in"] != accessTTL.Seconds() {
		t.Errorf("expires_in = %v, want %v", body["expires_in"], accessTTL.Seconds())
	}
	if len(body) != 4 {
		t.Errorf("body has extra fields: %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "s3cret") {
		t.Errorf("the response body holds the password: %s", w.Body)
	}

	// The access token names the subject and its session; the refresh
	// token is stored for the subject, by hash, in that session.
	ctx := context.Background()
	claims, err := a.issuer.Verify(ctx, access)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "user-1" || claims.Username != "alice" || claims.SessionID == "" {
		t.Errorf("claims = %+v", claims)
	}
	stored, err := a.store.TokenByHash(ctx, tokens.Hash(refresh))
	if err != nil {
		t.Fatalf("looking up the refresh token: %v", err)
	}
	if stored.Kind != tokens.Refresh || stored.Subject != "user-1" || stored.Username != "alice" || stored.FamilyID != claims.SessionID {
		t.Errorf("stored refresh token = %+v", stored)
	}

	// The backend was asked once, with the whole request.
	if n := auth.calls(); n != 1 {
		t.Errorf("authenticator called %d times, want 1", n)
	}
	req := auth.last(t)
	if req.Username != "alice" || req.Password != "s3cret" || req.Path != "/v1/login" || req.Credentials["otp"] != "123456" {
		t.Errorf("request = %+v", req)
	}
	if req.RequestID == "" || req.RequestID != w.Header().Get("X-Request-Id") {
		t.Errorf("request id = %q, header X-Request-Id = %q; want the same", req.RequestID, w.Header().Get("X-Request-Id"))
	}
	if req.Client != (sdk.Client{IP: "192.0.2.1", UserAgent: "test-agent/1"}) {
		t.Errorf("client = %+v", req.Client)
	}
}

func TestLoginChainOrder(t *testing.T) {
	first, second, third := abstaining(""), granting(sdk.Identity{Subject: "s"}), granting(sdk.Identity{Subject: "t"})
	a := newAPI(t, first, second, third)
	w := a.do(t, "POST", "/v1/login", goodLogin)
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
	}
	if first.calls() != 1 || second.calls() != 1 || third.calls() != 0 {
		t.Errorf("calls = %d, %d, %d; want 1, 1, 0", first.calls(), second.calls(), third.calls())
	}
}

func TestLoginClientFromTrustedProxy(t *testing.T) {
	tests := []struct {
		name string
		peer string
		xff  string
		want sdk.Client
	}{
		{"an app's body client", "127.0.0.1:5000", "", sdk.Client{IP: "198.51.100.7", UserAgent: "Firefox"}},
		// A proxy passes its end user's body on: a client in it is theirs.
		{"a proxy's X-Forwarded-For, not the body it passes on", "127.0.0.1:5000", "198.51.100.9", sdk.Client{IP: "198.51.100.9", UserAgent: "app/2"}},
		{"a blank X-Forwarded-For is none", "127.0.0.1:5000", " ", sdk.Client{IP: "198.51.100.7", UserAgent: "Firefox"}},
		{"untrusted peer's claims are ignored", "192.0.2.44:5000", "198.51.100.9", sdk.Client{IP: "192.0.2.44", UserAgent: "app/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			w := a.do(t, "POST", "/v1/login", `{"username": "alice", "password": "x", "client": {"ip": "198.51.100.7", "user_agent": "Firefox"}}`,
				fromPeer(tt.peer), func(r *http.Request) {
					r.Header.Set("User-Agent", "app/2")
					if tt.xff != "" {
						r.Header.Set("X-Forwarded-For", tt.xff)
					}
				})
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d (body %s)", w.Code, w.Body)
			}
			if got := auth.last(t).Client; got != tt.want {
				t.Errorf("client = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoginOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		backends   []*fakeAuth
		wantStatus int
		wantCode   string
		wantRetry  string // Retry-After; "" for none
		wantFields map[string]any
		wantCalls  []int
	}{
		{"all abstain", []*fakeAuth{abstaining(""), abstaining(sdk.ReasonInvalidCredentials)},
			401, "invalid_credentials", "", nil, []int{1, 1}},
		{"deny with a reason", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "account_disabled"}), granting(sdk.Identity{Subject: "x"})},
			403, "permission_denied", "", map[string]any{"reason": "account_disabled"}, []int{1, 0}},
		{"deny without a reason", []*fakeAuth{denying(sdk.AuthenticateResponse{})},
			403, "permission_denied", "", map[string]any{"reason": "permission_denied"}, []int{1}},
		{"deny for invalid credentials", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: sdk.ReasonInvalidCredentials})},
			401, "invalid_credentials", "", nil, []int{1}},
		{"locked out", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, RetryAfter: 30 * time.Second}), granting(sdk.Identity{Subject: "x"})},
			429, "locked_out", "30", nil, []int{1, 0}},
		{"retry-after rounds up", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, RetryAfter: 1500 * time.Millisecond})},
			429, "locked_out", "2", nil, []int{1}},
		{"retry-after of a nanosecond is a second", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, RetryAfter: time.Nanosecond})},
			429, "locked_out", "1", nil, []int{1}},
		{"retry-after of whole seconds is exact", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, RetryAfter: 2 * time.Second})},
			429, "locked_out", "2", nil, []int{1}},
		{"locked out without a cool-off", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut})},
			429, "locked_out", "", nil, []int{1}},
		{"details are merged but never override error fields", []*fakeAuth{denying(sdk.AuthenticateResponse{
			Reason: limiter.ReasonLockedOut, RetryAfter: 90 * time.Second,
			Details: map[string]any{"error": "hijacked", "error_description": "hijacked", "failures": 5, "cooloff": "30m"},
		})}, 429, "locked_out", "90", map[string]any{"failures": 5.0, "cooloff": "30m", "error_description": "too many failed login attempts"}, []int{1}},
		{"permission denied keeps its reason over details", []*fakeAuth{denying(sdk.AuthenticateResponse{
			Reason: "outside_hours", Details: map[string]any{"opens_at": "08:00", "error": "x"},
		})}, 403, "permission_denied", "", map[string]any{"reason": "outside_hours", "opens_at": "08:00"}, []int{1}},

		// Status hints.
		// The error code follows the status sent, whatever the reason.
		{"hint 401", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "custom", HTTPStatus: 401})},
			401, "invalid_credentials", "", nil, []int{1}},
		{"hint 403 on a lockout", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, HTTPStatus: 403, RetryAfter: time.Minute})},
			403, "permission_denied", "60", map[string]any{"reason": "locked_out", "error_description": "too many failed login attempts"}, []int{1}},
		{"hint 403 on invalid credentials", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: sdk.ReasonInvalidCredentials, HTTPStatus: 403})},
			403, "permission_denied", "", map[string]any{"reason": sdk.ReasonInvalidCredentials}, []int{1}},
		{"hint 429", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "slow_down", HTTPStatus: 429, RetryAfter: time.Minute})},
			429, "locked_out", "60", nil, []int{1}},
		{"hint 429 on invalid credentials", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: sdk.ReasonInvalidCredentials, HTTPStatus: 429})},
			429, "locked_out", "", nil, []int{1}},
		{"hint 401 on a lockout", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, HTTPStatus: 401})},
			401, "invalid_credentials", "", nil, []int{1}},
		{"hint equal to the default", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, HTTPStatus: 429})},
			429, "locked_out", "", nil, []int{1}},
		{"hint 403 keeps the reason over details", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "custom", HTTPStatus: 403, Details: map[string]any{"reason": "other"}})},
			403, "permission_denied", "", map[string]any{"reason": "custom"}, []int{1}},
		{"hint 200 ignored", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "custom", HTTPStatus: 200})},
			403, "permission_denied", "", nil, []int{1}},
		{"hint 302 ignored", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "custom", HTTPStatus: 302})},
			403, "permission_denied", "", nil, []int{1}},
		{"hint 400 ignored", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "custom", HTTPStatus: 400})},
			403, "permission_denied", "", nil, []int{1}},
		{"hint 500 ignored", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: "custom", HTTPStatus: 500})},
			403, "permission_denied", "", nil, []int{1}},
		{"hint 503 ignored", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: limiter.ReasonLockedOut, HTTPStatus: 503})},
			429, "locked_out", "", nil, []int{1}},
		{"negative hint ignored", []*fakeAuth{denying(sdk.AuthenticateResponse{Reason: sdk.ReasonInvalidCredentials, HTTPStatus: -401})},
			401, "invalid_credentials", "", nil, []int{1}},

		// Backends that cannot decide.
		{"backend unavailable", []*fakeAuth{failing(sdk.ErrUnavailable), granting(sdk.Identity{Subject: "x"})},
			503, "backend_unavailable", "", nil, []int{1, 0}},
		{"backend error after an abstain", []*fakeAuth{abstaining(""), failing(errors.New("ldap: connection reset")), granting(sdk.Identity{Subject: "x"})},
			503, "backend_unavailable", "", nil, []int{1, 1, 0}},
		{"backend without a decision", []*fakeAuth{{authenticate: func(context.Context, *sdk.AuthenticateRequest, *sdk.AuthenticateResponse) error { return nil }}},
			503, "backend_unavailable", "", nil, []int{1}},
		{"backend that errors after deciding", []*fakeAuth{{authenticate: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
			r.Grant(sdk.Identity{Subject: "x"})
			return errors.New("but then it broke")
		}}}, 503, "backend_unavailable", "", nil, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, tt.backends...)
			w := a.do(t, "POST", "/v1/login", goodLogin)
			body := checkError(t, w, tt.wantStatus, tt.wantCode)
			if got := w.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			for k, v := range tt.wantFields {
				if body[k] != v {
					t.Errorf("body[%q] = %v, want %v (body %s)", k, body[k], v, w.Body)
				}
			}
			if tt.wantCode != "permission_denied" {
				if _, ok := body["reason"]; ok {
					t.Errorf("body has a reason field for %s: %s", tt.wantCode, w.Body)
				}
			}
			if _, ok := body["access_token"]; ok {
				t.Errorf("a refused login returned a token: %s", w.Body)
			}
			for i, b := range tt.backends {
				if got := b.calls(); got != tt.wantCalls[i] {
					t.Errorf("backend b%d called %d times, want %d", i, got, tt.wantCalls[i])
				}
			}
		})
	}
}

func TestLoginBackendErrorNamesTheBackend(t *testing.T) {
	a := newAPI(t, abstaining(""), failing(fmt.Errorf("%w: dial tcp: refused", sdk.ErrUnavailable)))
	w := a.do(t, "POST", "/v1/login", goodLogin)
	body := checkError(t, w, http.StatusServiceUnavailable, "backend_unavailable")
	desc, _ := body["error_description"].(string)
	if !strings.Contains(desc, `"b1"`) {
		t.Errorf("error_description = %q, want it to name backend b1", desc)
	}
	if strings.Contains(desc, "dial tcp") {
		t.Errorf("error_description = %q leaks the backend's error", desc)
	}
}

func TestLoginTokenFailureFailsClosed(t *testing.T) {
	auth := granting(sdk.Identity{Subject: "s"})
	a := newAPI(t, auth)
	if err := a.store.Close(); err != nil {
		t.Fatal(err)
	}
	w := a.do(t, "POST", "/v1/login", goodLogin)
	body := checkError(t, w, http.StatusServiceUnavailable, "backend_unavailable")
	if _, ok := body["access_token"]; ok {
		t.Errorf("tokens returned: %s", w.Body)
	}
	if auth.calls() != 1 {
		t.Errorf("authenticator called %d times, want 1", auth.calls())
	}
}

func TestLoginBadRequests(t *testing.T) {
	login := func(fields string) string { return `{"username": "alice", "password": "pw"` + fields + `}` }
	credentials := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`"k%d": "v"`, i))
		}
		return login(`, "credentials": {` + strings.Join(parts, ", ") + `}`)
	}
	tests := []struct {
		name   string
		body   string
		peer   string // default: an untrusted peer
		status int    // default: 400
	}{
		{name: "empty body", body: ""},
		{name: "blank body", body: " \n\t "},
		{name: "malformed JSON", body: `{"username": "alice", "password":`},
		{name: "missing comma", body: `{"username": "alice" "password": "pw"}`},
		{name: "single quotes", body: `{'username': 'alice'}`},
		{name: "array", body: `[]`},
		{name: "array of a login", body: "[" + goodLogin + "]"},
		{name: "string", body: `"alice"`},
		{name: "number", body: `42`},
		{name: "null", body: `null`},
		{name: "unknown field", body: login(`, "remember_me": true`)},
		{name: "unknown field in client", body: login(`, "client": {"ip": "198.51.100.1", "port": 5}`)},
		{name: "two objects", body: goodLogin + " " + goodLogin},
		{name: "trailing word", body: goodLogin + " trailing"},
		{name: "trailing number", body: goodLogin + "1"},
		{name: "missing username", body: `{"password": "pw"}`},
		{name: "null username", body: `{"username": null, "password": "pw"}`},
		{name: "empty username", body: `{"username": "", "password": "pw"}`},
		{name: "username over 255 bytes", body: `{"username": "` + strings.Repeat("a", 256) + `", "password": "pw"}`},
		{name: "username over 255 bytes in fewer characters", body: `{"username": "` + strings.Repeat("é", 128) + `", "password": "pw"}`},
		{name: "username with a newline", body: `{"username": "alice\nadmin", "password": "pw"}`},
		{name: "username with a tab", body: `{"username": "alice\t", "password": "pw"}`},
		{name: "username with NUL", body: `{"username": "alice\u0000", "password": "pw"}`},
		{name: "username with DEL", body: `{"username": "alice\u007f", "password": "pw"}`},
		{name: "username with a C1 control", body: `{"username": "alice\u0085", "password": "pw"}`},
		{name: "missing password", body: `{"username": "alice"}`},
		{name: "null password", body: `{"username": "alice", "password": null}`},
		{name: "password over 4096 bytes", body: `{"username": "alice", "password": "` + strings.Repeat("p", 4097) + `"}`},
		{name: "password with NUL", body: `{"username": "alice", "password": "pw\u0000"}`},
		{name: "too many credentials", body: credentials(17)},
		{name: "empty credential name", body: login(`, "credentials": {"": "v"}`)},
		{name: "credential name over 64 bytes", body: login(`, "credentials": {"` + strings.Repeat("k", 65) + `": "v"}`)},
		{name: "credential value over 4096 bytes", body: login(`, "credentials": {"otp": "` + strings.Repeat("1", 4097) + `"}`)},
		{name: "username is a number", body: `{"username": 5, "password": "pw"}`},
		{name: "username is an object", body: `{"username": {"name": "alice"}, "password": "pw"}`},
		{name: "password is a bool", body: `{"username": "alice", "password": true}`},
		{name: "credentials is a list", body: login(`, "credentials": ["otp"]`)},
		{name: "credential value is a number", body: login(`, "credentials": {"otp": 123456}`)},
		{name: "client is a string", body: login(`, "client": "198.51.100.1"`)},
		{name: "client ip is a number", body: login(`, "client": {"ip": 3325256705}`)},
		{name: "trusted proxy sends an invalid client ip", body: login(`, "client": {"ip": "198.51.100.999"}`), peer: "127.0.0.1:4000"},
		{name: "body over 64 KiB", body: `{"username": "alice", "password": "` + strings.Repeat("p", 70_000) + `"}`, status: http.StatusRequestEntityTooLarge},
		{name: "body just over 64 KiB", body: login(strings.Repeat(" ", 64<<10)), status: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			peer := tt.peer
			if peer == "" {
				peer = "192.0.2.1:1234"
			}
			w := a.do(t, "POST", "/v1/login", tt.body, fromPeer(peer))
			status := tt.status
			if status == 0 {
				status = http.StatusBadRequest
			}
			checkError(t, w, status, "invalid_request")
			if n := auth.calls(); n != 0 {
				t.Errorf("the authenticator was asked %d times about a bad request", n)
			}
		})
	}
}

func TestLoginTrailingWhitespace(t *testing.T) {
	auth := granting(sdk.Identity{Subject: "s"})
	a := newAPI(t, auth)
	w := a.do(t, "POST", "/v1/login", " \n"+goodLogin+" \r\n\t ")
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
	}
}

// TestLoginTrailingClosers checks that a stray closing bracket after the
// object is refused like any other trailing data.
func TestLoginTrailingClosers(t *testing.T) {
	for _, trailer := range []string{"}", "]", " }", "]]", "\n}\n", ",", ":", `"`, "\x00", "\u00a0"} {
		t.Run(trailer, func(t *testing.T) {
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			w := a.do(t, "POST", "/v1/login", goodLogin+trailer)
			checkError(t, w, http.StatusBadRequest, "invalid_request")
			if n := auth.calls(); n != 0 {
				t.Errorf("the authenticator was asked %d times about a bad request", n)
			}
		})
	}
}

// TestLoginAmbiguousFields checks that a body naming a field twice, or in
// another case, is refused rather than resolved silently: a proxy or WAF
// that reads the first "password" and the host that uses the last one
// would disagree about what was sent.
func TestLoginAmbiguousFields(t *testing.T) {
	for _, body := range []string{
		`{"username": "alice", "password": "pw", "Password": "x"}`,
		`{"USERNAME": "alice", "PASSWORD": "pw"}`,
		`{"username": "alice", "password": "pw", "password": "x"}`,
		`{"username": "alice", "username": "admin", "password": "pw"}`,
		`{"username": "alice", "password": "pw", "password": "pw"}`,
		`{"Username": "alice", "password": "pw"}`,
		`{"username": "alice", "pasſword": "pw"}`,
		`{"username": "alice", "password": "pw", "client": {"ip": "198.51.100.1", "ip": "198.51.100.2"}}`,
		`{"username": "alice", "password": "pw", "client": {"IP": "198.51.100.1"}}`,
		`{"username": "alice", "password": "pw", "client": {"user_agent": "a"}, "client": {"ip": "198.51.100.2"}}`,
		`{"username": "alice", "password": "pw", "credentials": {"otp": "1", "otp": "2"}}`,
		`{"username": "alice", "password": "pw", "credentials": {}, "Credentials": {"otp": "2"}}`,
	} {
		t.Run(body, func(t *testing.T) {
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			w := a.do(t, "POST", "/v1/login", body, fromPeer("127.0.0.1:1"))
			checkError(t, w, http.StatusBadRequest, "invalid_request")
			if n := auth.calls(); n != 0 {
				t.Errorf("the authenticator was asked %d times about an ambiguous request", n)
			}
		})
	}
}

// TestLoginCredentialKeysAreCaseSensitive checks that the keys of a map
// field are only checked for repeats: "otp" and "OTP" are two credentials.
func TestLoginCredentialKeysAreCaseSensitive(t *testing.T) {
	auth := granting(sdk.Identity{Subject: "s"})
	a := newAPI(t, auth)
	w := a.do(t, "POST", "/v1/login", `{"username": "alice", "password": "pw", "credentials": {"otp": "1", "OTP": "2", "Password": "3"}}`)
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
	}
	if got := auth.last(t).Credentials; len(got) != 3 || got["otp"] != "1" || got["OTP"] != "2" || got["Password"] != "3" {
		t.Errorf("credentials = %v", got)
	}
}

// TestTokenBodiesAreStrict checks that the token endpoints, which share the
// login's decoding, refuse the same ambiguous and malformed bodies.
func TestTokenBodiesAreStrict(t *testing.T) {
	tests := []struct {
		path, body, want string
	}{
		{"/v1/token/refresh", `{"refresh_token": "pcr_a", "refresh_token": "pcr_b"}`, `field "refresh_token" is given twice`},
		{"/v1/token/refresh", `{"Refresh_Token": "pcr_a"}`, `unknown field "Refresh_Token"`},
		{"/v1/token/refresh", `{"refresh_token": "pcr_a"}}`, "more than one JSON value"},
		{"/v1/token/refresh", `["pcr_a"]`, "the request body must be a JSON object"},
		{"/v1/token/refresh", `{"refresh_token": 1}`, `field "refresh_token" must be a string, not a number`},
		{"/v1/token/revoke", `{"token": "pca_a", "token": "pca_b"}`, `field "token" is given twice`},
		{"/v1/token/revoke", `{"token": "pca_a", "TOKEN_TYPE_HINT": "access_token"}`, `unknown field "TOKEN_TYPE_HINT"`},
		{"/v1/token/revoke", `{"token": "pca_a", "token_type_hint": "a", "token_type_hint": "b"}`, `field "token_type_hint" is given twice`},
		{"/v1/token/revoke", `{"token": "pca_a"}]`, "more than one JSON value"},
		{"/v1/token/revoke", `{"token": ["pca_a"]}`, `field "token" must be a string, not an array`},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.body, func(t *testing.T) {
			a := newAPI(t, abstaining(""))
			w := a.do(t, "POST", tt.path, tt.body)
			body := checkError(t, w, http.StatusBadRequest, "invalid_request")
			if d, _ := body["error_description"].(string); !strings.Contains(d, tt.want) {
				t.Errorf("error_description = %q, want it to hold %q", d, tt.want)
			}
		})
	}
}

func TestLoginInputBounds(t *testing.T) {
	credentials := make(map[string]string)
	for i := range 16 {
		credentials[fmt.Sprintf("k%d", i)] = "v"
	}
	credentials[strings.Repeat("k", 64)] = strings.Repeat("v", 4096)
	delete(credentials, "k0")
	tests := []struct {
		name string
		body map[string]any
	}{
		{"username of 255 bytes", map[string]any{"username": strings.Repeat("a", 255), "password": "pw"}},
		{"username of 254 bytes in 127 characters", map[string]any{"username": strings.Repeat("é", 127), "password": "pw"}},
		{"unicode username", map[string]any{"username": "zoë@example.com", "password": "pw"}},
		{"password of 4096 bytes", map[string]any{"username": "alice", "password": strings.Repeat("p", 4096)}},
		{"empty password", map[string]any{"username": "alice", "password": ""}},
		{"password with control characters other than NUL", map[string]any{"username": "alice", "password": "p\tw\n"}},
		{"16 credentials at their size limits", map[string]any{"username": "alice", "password": "pw", "credentials": credentials}},
		{"empty credentials", map[string]any{"username": "alice", "password": "pw", "credentials": map[string]string{}}},
		{"empty client", map[string]any{"username": "alice", "password": "pw", "client": map[string]string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			w := a.do(t, "POST", "/v1/login", string(raw))
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
			}
			req := auth.last(t)
			if req.Username != tt.body["username"] || req.Password != tt.body["password"] {
				t.Errorf("request = %q/%q", req.Username, req.Password)
			}
		})
	}
}

func TestLoginBadRequestDescriptions(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // a piece of error_description
		bug  string
	}{
		{"empty", "", "empty", ""},
		{"malformed", `{"username":`, "not valid JSON", ""},
		{"unknown field", `{"username": "a", "password": "p", "remember": 1}`, `unknown field "remember"`, ""},
		{"trailing data", goodLogin + " {}", "more than one JSON value", ""},
		{"trailing closer", goodLogin + "}", "more than one JSON value", ""},
		{"wrong type", `{"username": 5, "password": "p"}`, `"username" must be a string`, ""},
		{"wrong nested type", `{"username": "a", "password": "p", "client": {"ip": 5}}`, `"client.ip" must be a string`, ""},
		{"wrong type names the JSON type given", `{"username": {"name": "a"}, "password": "p"}`, `field "username" must be a string, not an object`, ""},
		{"password is a bool", `{"username": "a", "password": true}`, `field "password" must be a string, not a boolean`, ""},
		{"credentials is a list", `{"username": "a", "password": "p", "credentials": ["otp"]}`, `field "credentials" must be a JSON object, not an array`, ""},
		{"credential value is a number", `{"username": "a", "password": "p", "credentials": {"otp": 123456}}`, "credentials values must be strings, not a number", ""},
		{"credential value is an object", `{"username": "a", "password": "p", "credentials": {"otp": {}}}`, "credentials values must be strings, not an object", ""},
		{"client is a string", `{"username": "a", "password": "p", "client": "198.51.100.1"}`, `field "client" must be a JSON object, not a string`, ""},
		{"client ip is a list", `{"username": "a", "password": "p", "client": {"ip": []}}`, `field "client.ip" must be a string, not an array`, ""},
		{"key given twice", `{"username": "a", "password": "p", "password": "q"}`, `field "password" is given twice`, ""},
		{"nested key given twice", `{"username": "a", "password": "p", "client": {"ip": "1.2.3.4", "ip": "1.2.3.4"}}`, `field "client.ip" is given twice`, ""},
		{"credential given twice", `{"username": "a", "password": "p", "credentials": {"otp": "1", "otp": "1"}}`, `field "credentials.otp" is given twice`, ""},
		{"key in another case", `{"USERNAME": "a", "password": "p"}`, `unknown field "USERNAME"`, ""},
		{"nested key in another case", `{"username": "a", "password": "p", "client": {"User_Agent": "x"}}`, `unknown field "client.User_Agent"`, ""},
		{"nested unknown field", `{"username": "a", "password": "p", "client": {"port": 5}}`, `unknown field "client.port"`, ""},
		{"malformed inside", `{"username": "a", "password": "p", "client": {"ip" "x"}}`, "not valid JSON", ""},
		{"truncated", `{"username": "a", "password": "p", "client": {`, "not valid JSON", ""},
		{"blank", " \n ", "empty", ""},
		{"a string", `"alice"`, "the request body must be a JSON object, not a string", ""},
		{"null", `null`, "the request body must be a JSON object, not null", ""},
		{"missing username", `{"password": "p"}`, "username is required", ""},
		{"long password", `{"username": "a", "password": "` + strings.Repeat("p", 4097) + `"}`, "password is longer than 4096 bytes", ""},
		{"invalid client ip", `{"username": "a", "password": "p", "client": {"ip": "x"}}`, "client.ip is not an IP address", ""},
		{"not an object", `[]`, "JSON object", ""},
		{"not an object names no empty field", `[]`, "the request body must be a JSON object, not an array", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip("BUG: " + tt.bug)
			}
			a := newAPI(t, abstaining(""))
			w := a.do(t, "POST", "/v1/login", tt.body, fromPeer("127.0.0.1:1"))
			body := checkError(t, w, http.StatusBadRequest, "invalid_request")
			if d, _ := body["error_description"].(string); !strings.Contains(d, tt.want) {
				t.Errorf("error_description = %q, want it to hold %q", d, tt.want)
			}
		})
	}
}
