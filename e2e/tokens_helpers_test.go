package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/client"
)

// Helpers of the token and session tests (tokens_test.go, sessions_test.go
// and their splits).

// startHostEnv is startHost through launchEnv.
func startHostEnv(t testing.TB, configPath string, env ...string) *host {
	t.Helper()
	h, err := launchEnv(t, configPath, env...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// runEnv is run with the environment changed by env (see environ).
func runEnv(t testing.TB, configPath string, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(portcullisBin, append(args, "--config", configPath)...)
	cmd.Dir = filepath.Dir(configPath)
	cmd.Env = environ(env)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustRunEnv is runEnv that fails the test on error.
func mustRunEnv(t testing.TB, configPath string, env []string, stdin string, args ...string) string {
	t.Helper()
	out, err := runEnv(t, configPath, env, stdin, args...)
	if err != nil {
		t.Fatalf("portcullis %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// send makes a request to the host with the given headers; a non-empty
// body is sent as application/json.
func send(t testing.TB, method, url, body string, hdr http.Header) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return readResponse(t, resp)
}

// credentials is the body of a login for username and password.
func credentials(username, password string) string {
	b, _ := json.Marshal(map[string]string{"username": username, "password": password})
	return string(b)
}

// pair is a login's or refresh's tokens.
type pair struct{ access, refresh string }

// mustLogin logs in through POST /v1/login and returns the tokens.
func mustLogin(t testing.TB, h *host, username, password string) pair {
	t.Helper()
	r := h.login(username, password)
	if r.status != 200 {
		t.Fatalf("login of %s: %d %s", username, r.status, r.raw)
	}
	return tokensOf(t, r)
}

func tokensOf(t testing.TB, r response) pair {
	t.Helper()
	a, _ := r.body["access_token"].(string)
	rt, _ := r.body["refresh_token"].(string)
	if a == "" || !strings.HasPrefix(rt, "pcr_") || r.body["token_type"] != "Bearer" {
		t.Fatalf("not a token answer: %d %s", r.status, r.raw)
	}
	return pair{a, rt}
}

// refresh posts a refresh token.
func refresh(t testing.TB, h *host, token string) response {
	t.Helper()
	return send(t, http.MethodPost, h.url+"/v1/token/refresh", fmt.Sprintf(`{"refresh_token":%q}`, token), nil)
}

// forwardAuth asks GET /v1/forward-auth with a bearer token.
func forwardAuth(t testing.TB, h *host, token string) response {
	t.Helper()
	return send(t, http.MethodGet, h.url+"/v1/forward-auth", "", http.Header{"Authorization": {"Bearer " + token}})
}

// forwardAuthCookie asks GET /v1/forward-auth with a session cookie.
func forwardAuthCookie(t testing.TB, h *host, cookie *http.Cookie) response {
	t.Helper()
	return send(t, http.MethodGet, h.url+"/v1/forward-auth", "", http.Header{"Cookie": {cookie.String()}})
}

// introspect asks POST /v1/token/introspect with an app key and returns
// the answer, which must be 200 with an active member.
func introspect(t testing.TB, h *host, appKey, token string) response {
	t.Helper()
	r := send(t, http.MethodPost, h.url+"/v1/token/introspect", fmt.Sprintf(`{"token":%q}`, token),
		http.Header{"Authorization": {"Bearer " + appKey}})
	if _, ok := r.body["active"].(bool); r.status != 200 || !ok {
		t.Fatalf("introspection: %d %s", r.status, r.raw)
	}
	return r
}

// active reports whether introspection says the token is active.
func active(t testing.TB, h *host, appKey, token string) bool {
	t.Helper()
	return introspect(t, h, appKey, token).body["active"] == true
}

// createApp runs `apps create` and returns the key, the last line.
func createApp(t testing.TB, cfg string, env []string, name string) string {
	t.Helper()
	out := mustRunEnv(t, cfg, env, "", "apps", "create", name)
	key := lastLine(out)
	if !strings.HasPrefix(key, "pck_") {
		t.Fatalf("apps create printed no key on its last line:\n%s", out)
	}
	return key
}

// addUser runs `users add` with the password on stdin.
func addUser(t testing.TB, cfg string, env []string, username, password string) {
	t.Helper()
	mustRunEnv(t, cfg, env, password+"\n", "users", "add", username, "--password-stdin")
}

// jwtSegments decodes a JWT's header and claims.
func jwtSegments(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d segments)", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT segment %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("JWT segment %d: %v", i, err)
		}
	}
	return header, claims
}

// kidOf is the kid in a JWT's header.
func kidOf(t testing.TB, token string) string {
	t.Helper()
	h, _ := jwtSegments(t, token)
	kid, _ := h["kid"].(string)
	if kid == "" {
		t.Fatalf("the token has no kid: %v", h)
	}
	return kid
}

// jwks reads the host's key set.
func jwks(t testing.TB, h *host) map[string]accesstoken.Key {
	t.Helper()
	r := h.get("/.well-known/jwks.json")
	if r.status != 200 {
		t.Fatalf("GET /.well-known/jwks.json: %d %s", r.status, r.raw)
	}
	keys, err := accesstoken.ParseSet([]byte(r.raw))
	if err != nil {
		t.Fatalf("the host's key set: %v\n%s", err, r.raw)
	}
	return keys
}

// issuerOf reads the issuer from the host's OpenID configuration.
func issuerOf(t testing.TB, h *host) string {
	t.Helper()
	r := h.get("/.well-known/openid-configuration")
	iss, _ := r.body["issuer"].(string)
	if r.status != 200 || iss == "" {
		t.Fatalf("GET /.well-known/openid-configuration: %d %s", r.status, r.raw)
	}
	return iss
}

// app is a small app behind the Go middleware, pointed at a running host.
type app struct {
	client *client.Client
	srv    *httptest.Server
	calls  atomic.Int64
}

// newApp starts an httptest server whose handler, wrapped in the
// client's Middleware, counts its calls and greets the token's user.
func newApp(t testing.TB, h *host, audience string) *app {
	t.Helper()
	c, err := client.New(client.Options{HostURL: h.url, Audience: audience, Issuer: issuerOf(t, h)})
	if err != nil {
		t.Fatal(err)
	}
	a := &app{client: c}
	a.srv = httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		claims, ok := client.ClaimsFrom(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello %s", claims.Username)
	})))
	t.Cleanup(a.srv.Close)
	return a
}

// call sends a request with the bearer token to the app and returns the
// answer and whether the app's handler ran.
func (a *app) call(t testing.TB, token string) (response, bool) {
	t.Helper()
	before := a.calls.Load()
	r := send(t, http.MethodGet, a.srv.URL+"/hello", "", http.Header{"Authorization": {"Bearer " + token}})
	return r, a.calls.Load() > before
}

// verifyType is the Type of the client's refusal of token, "" if it
// accepts it.
func (a *app) verifyType(t testing.TB, token string) string {
	t.Helper()
	_, err := a.client.Verify(context.Background(), token)
	if err == nil {
		return ""
	}
	var e *accesstoken.Error
	if !errors.As(err, &e) {
		t.Fatalf("client.Verify: %v is not an *accesstoken.Error", err)
	}
	return e.Type
}

// sessionLogin posts to /v1/session and returns the answer and the session
// cookie it set (nil if none).
func sessionLogin(t testing.TB, h *host, username, password string) (response, *http.Cookie) {
	t.Helper()
	r := send(t, http.MethodPost, h.url+"/v1/session", credentials(username, password), nil)
	return r, sessionCookie(r)
}

// sessionCookie is the portcullis_session cookie an answer sets.
func sessionCookie(r response) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "portcullis_session" {
			return c
		}
	}
	return nil
}

// sessionStatus asks GET /v1/session with a cookie.
func sessionStatus(t testing.TB, h *host, cookie *http.Cookie) response {
	t.Helper()
	return send(t, http.MethodGet, h.url+"/v1/session", "", http.Header{"Cookie": {(&http.Cookie{Name: cookie.Name, Value: cookie.Value}).String()}})
}

// endSession sends DELETE /v1/session with a cookie and extra headers.
func endSession(t testing.TB, h *host, cookie *http.Cookie, hdr http.Header) response {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Cookie", (&http.Cookie{Name: cookie.Name, Value: cookie.Value}).String())
	return send(t, http.MethodDelete, h.url+"/v1/session", "", hdr)
}

// auditLines returns the signals in an audit file, decoded.
func auditLines(t testing.TB, path string) []auditEntry {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []auditEntry
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		var e auditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

type auditEntry struct {
	ID   string         `json:"id"`
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
}

// refreshAtOnce presents refreshToken to each of hosts (a host may be
// listed more than once) at the same moment, and returns the statuses.
func refreshAtOnce(t *testing.T, hosts []*host, refreshToken string) []int {
	t.Helper()
	statuses := make([]int, len(hosts))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			<-start
			statuses[i] = refresh(t, h, refreshToken).status
		})
	}
	close(start)
	wg.Wait()
	return statuses
}
