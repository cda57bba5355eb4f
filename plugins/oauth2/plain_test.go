package oauth2

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk/redirect"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// endpoints reads the provider's endpoints as an operator would, to
// configure it as a plain OAuth2 provider.
func (g *rig) endpoints() (auth, token, userinfo string) {
	g.t.Helper()
	resp, err := http.Get(g.op.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var d discovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		g.t.Fatal(err)
	}
	return d.AuthURL, d.TokenURL, d.UserinfoURL
}

// A plain OAuth2 provider: no openid scope, no ID token, the identity
// from the userinfo endpoint.
func TestPlainOAuth2(t *testing.T) {
	g := newRig(t, nil)
	auth, token, userinfo := g.endpoints()
	g.configure(map[string]any{
		"auth_url": auth, "token_url": token, "userinfo_url": userinfo,
		"client_id": clientID, "client_secret": g.secret, "redirect_url": callback,
		"scopes": []string{"email", "profile", "groups"},
		"roles":  map[string][]string{"staff": {"reader"}},
	})
	f := g.begin("")
	u, _ := url.Parse(f.url)
	if q := u.Query(); q.Has("nonce") || q.Get("scope") != "email profile groups" || q.Get("code_challenge_method") != "S256" {
		t.Errorf("authorization URL's query: %v", q)
	}
	// The nonce is OpenID Connect's: a plain flow may go without.
	if _, err := g.p.Begin(ctx(t), &redirect.BeginRequest{State: "s", CodeChallenge: f.begin.CodeChallenge}); err != nil {
		t.Errorf("a plain flow without a nonce: %v", err)
	}

	f = g.login(alice)
	res := g.completeWith(f, f.verifier, "")
	if res.Identity == nil {
		t.Fatalf("failure %q: %s", res.Failure, res.Description)
	}
	id := res.Identity
	if id.Subject != userinfo+"#sub-alice" || id.Username != "alice" || id.Email != "alice@example.test" || !id.EmailVerified ||
		!slices.Equal(id.Roles, []string{"reader"}) || id.Provisioning != redirect.ProvisionLink {
		t.Errorf("identity %+v", id)
	}
	if got := g.signals(); !slices.Equal(got, []string{"oauth2_authorize_url_generated", "oauth2_authorize_url_generated", "oauth2_authorize_url_generated", "oauth2_token_fetched"}) {
		t.Errorf("signals %q", got)
	}
	g.checkNoSecrets()

	// The identity's claims are the configured ones: a provider without
	// the configured username claim vouches for no identity the host
	// could map.
	g.configure(map[string]any{
		"auth_url": auth, "token_url": token, "userinfo_url": userinfo,
		"client_id": clientID, "client_secret": g.secret, "redirect_url": callback,
		"scopes": []string{"email"}, "claims": map[string]string{"username": "login"},
	})
	f = g.login(alice)
	res = g.completeWith(f, f.verifier, "")
	wantFailure(t, res.Failure, res.Description, redirect.FailureNoIdentity, "the provider's identity has no login claim")
}

// fakeProvider is a plain provider whose answers a test writes, for what
// a real one does not do on demand.
type fakeProvider struct {
	srv      *httptest.Server
	token    func(w http.ResponseWriter)
	userinfo func(w http.ResponseWriter)
}

func newFakeProvider(t *testing.T) *fakeProvider {
	fp := &fakeProvider{}
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			fp.token(w)
		case "/userinfo":
			fp.userinfo(w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(fp.srv.Close)
	return fp
}

func jsonAnswer(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func TestProviderAnswers(t *testing.T) {
	fp := newFakeProvider(t)
	g := &rig{t: t, host: sdktest.NewMemoryHost(), log: &logBuffer{}, secrets: []string{"planted-access-token", "planted-code", "planted-verifier", "planted-secret"}}
	g.configure(map[string]any{
		"auth_url": fp.srv.URL + "/authorize", "token_url": fp.srv.URL + "/token", "userinfo_url": fp.srv.URL + "/userinfo",
		"client_id": "c", "client_secret": "planted-secret", "claims": map[string]string{"subject": "id", "username": "login"},
		"redirect_url": "http://127.0.0.1:9/cb",
	})
	goodToken := jsonAnswer(200, `{"access_token":"planted-access-token","token_type":"bearer"}`)
	complete := func() *redirect.CompleteResponse {
		t.Helper()
		res, err := g.p.Complete(ctx(t), &redirect.CompleteRequest{Code: "planted-code", CodeVerifier: "planted-verifier"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tests := []struct {
		name              string
		token, userinfo   func(w http.ResponseWriter)
		failure, starts   string
		subject, username string
	}{
		{"numeric subject", goodToken, jsonAnswer(200, `{"id":12345678901234567890,"login":"octo","email_verified":"true"}`), "", "", "12345678901234567890", "octo"},
		{"no access token", jsonAnswer(200, `{"token_type":"bearer"}`), nil, FailureRequestError, "the answer of the token endpoint could not be read", "", ""},
		{"an error code that echoes", jsonAnswer(400, `{"error":"invalid client planted-code"}`), nil, "http_error_400", "the token endpoint answered HTTP 400 (an unreadable error code)", "", ""},
		{"invalid_client", jsonAnswer(401, `{"error":"invalid_client","error_description":"planted-code is bad"}`), nil, "http_error_401", "the token endpoint answered HTTP 401 (invalid_client)", "", ""},
		{"an error on 200", jsonAnswer(200, `{"error":"slow_down"}`), nil, FailureRequestError, "the token endpoint refused the request (slow_down)", "", ""},
		{"userinfo refuses", goodToken, jsonAnswer(401, `{}`), "http_error_401", "the userinfo endpoint answered HTTP 401", "", ""},
		{"userinfo not JSON", goodToken, func(w http.ResponseWriter) { fmt.Fprint(w, "planted-access-token") }, FailureRequestError, "the userinfo endpoint answered text/plain, not JSON", "", ""},
		{"userinfo not an object", goodToken, jsonAnswer(200, `["x"]`), FailureRequestError, "the userinfo endpoint's answer is not", "", ""},
		{"no subject", goodToken, jsonAnswer(200, `{"login":"octo"}`), redirect.FailureNoIdentity, "the provider named no subject (id)", "", ""},
		{"a subject of another type", goodToken, jsonAnswer(200, `{"id":{"x":1},"login":"octo"}`), redirect.FailureNoIdentity, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp.token, fp.userinfo = tt.token, tt.userinfo
			res := complete()
			if tt.failure == "" {
				if res.Identity == nil || res.Identity.Subject != fp.srv.URL+"/userinfo#"+tt.subject || res.Identity.Username != tt.username || !res.Identity.EmailVerified {
					t.Errorf("identity %+v (%q %s)", res.Identity, res.Failure, res.Description)
				}
				return
			}
			wantFailure(t, res.Failure, res.Description, tt.failure, tt.starts)
		})
	}
	if n := len(g.host.Emitted()); n != len(tests) {
		t.Errorf("%d signals for %d flows", n, len(tests))
	}
	g.checkNoSecrets()
}

// Discovery that failed is tried again by the next flow.
func TestDiscoveryIsRetried(t *testing.T) {
	var fails atomic.Int32
	fails.Store(1)
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		if fails.Add(-1) >= 0 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		jsonAnswer(200, `{"issuer":"`+issuer+`","authorization_endpoint":"`+issuer+`/authorize","token_endpoint":"`+issuer+`/token","jwks_uri":"`+issuer+`/keys"}`)(w)
	}))
	defer srv.Close()
	issuer = srv.URL
	g := &rig{t: t, host: sdktest.NewMemoryHost(), log: &logBuffer{}}
	g.configure(map[string]any{"issuer": issuer, "client_id": "c", "client_secret": "s", "redirect_url": "http://127.0.0.1:9/cb"})
	req := &redirect.BeginRequest{State: "s", CodeChallenge: "c", Nonce: "n"}
	if _, err := g.p.Begin(ctx(t), req); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("begin while discovery fails: %v", err)
	}
	res, err := g.p.Begin(ctx(t), req)
	if err != nil || !strings.HasPrefix(res.URL, issuer+"/authorize?") {
		t.Fatalf("begin once discovery works: %+v, %v", res, err)
	}
	// An issuer that is not the configured one is refused.
	issuer += "/"
	g.configure(map[string]any{"issuer": srv.URL, "client_id": "c", "client_secret": "s", "redirect_url": "http://127.0.0.1:9/cb"})
	if _, err := g.p.Begin(ctx(t), req); err == nil || !strings.Contains(err.Error(), "another issuer") {
		t.Errorf("begin with another issuer in the discovery document: %v", err)
	}
}
