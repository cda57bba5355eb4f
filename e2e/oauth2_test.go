package e2e

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/testkit/oidcprovider"
)

// freePort returns a loopback port nobody listens on now, for a host
// whose callback URL a provider must know before the host starts.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// oauth2Provider starts a provider whose users are carol (verified email,
// group "staff") and dave, and whose client portcullis may come back to
// the callback of each of the backends (space-separated) on each of the
// ports.
func oauth2Provider(t *testing.T, backends string, ports ...int) *oidcprovider.Provider {
	var uris []string
	for _, p := range ports {
		for _, backend := range strings.Fields(backends) {
			uris = append(uris, fmt.Sprintf("http://127.0.0.1:%d/v1/oauth2/%s/callback", p, backend))
		}
	}
	return oidcprovider.Start(t, oidcprovider.Options{
		Users: []oidcprovider.User{
			{Subject: "u-carol", Username: "carol", Password: "carol-at-the-idp", Email: "carol@example.com", EmailVerified: true, Groups: []string{"staff"}},
			{Subject: "u-dave", Username: "dave", Password: "dave-at-the-idp", Email: "dave@example.com", EmailVerified: true},
		},
		Clients: []oidcprovider.Client{{ID: "portcullis", Secret: "a-client-secret-of-the-idp", RedirectURIs: uris}},
	})
}

// oauth2Backend is a backend entry of the oauth2 plugin for provider p.
func oauth2Backend(name string, p *oidcprovider.Provider, port int, provisioning string) string {
	return fmt.Sprintf(`  - name: %s
    plugin: oauth2
    config:
      issuer: %q
      client_id: portcullis
      client_secret: a-client-secret-of-the-idp
      redirect_url: "http://127.0.0.1:%d/v1/oauth2/%s/callback"
      scopes: [openid, email, profile, groups]
      roles: {staff: [staff]}
      provisioning: %s
`, name, p.Issuer, port, name, provisioning)
}

// oauth2Config is a host on port with the lockout, passwords and the
// given oauth2 backends; storage is its storage line, and may carry its
// own oauth2 line.
func oauth2Config(t *testing.T, dir string, port int, storage string, backends ...string) string {
	path := filepath.Join(dir, "portcullis.yaml")
	if !strings.Contains(storage, "oauth2:") {
		storage += "\noauth2: {return_origins: [\"https://app.example\"]}"
	}
	yaml := fmt.Sprintf("listen: 127.0.0.1:%d\nlog: {format: json, level: debug}\ntrusted_proxies: [127.0.0.1]\n%s\n"+
		"signals: {subscribers: [{name: audit, audit_file: ./audit.jsonl, signals: [\"*\"], mode: sync}]}\n"+
		"backends:\n  - {name: lockout, plugin: lockout}\n  - {name: local, plugin: password}\n%s",
		port, storage, strings.Join(backends, ""))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// browser is a cookie-jar client that does not follow redirects: the
// test follows them, so that it sees where each one goes.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// startSignIn asks the host for a sign-in with backend and returns the
// provider's authorize URL it redirects to.
func startSignIn(t *testing.T, b *http.Client, h *host, backend, returnTo string) string {
	t.Helper()
	u := h.url + "/v1/oauth2/" + backend + "/start"
	if returnTo != "" {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("start: %d, Location %q", resp.StatusCode, loc)
	}
	return loc
}

// callback delivers the provider's redirect to host h (which may be
// another host than the one that started the flow).
func callback(t *testing.T, b *http.Client, h *host, cb *url.URL, accept string) response {
	t.Helper()
	target := h.url + cb.Path + "?" + cb.RawQuery
	req, _ := http.NewRequest("GET", target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, resp)
}

// TestOAuth2SignIn (acceptance 1, 2, 3, 5): against a real OpenID
// Provider, a browser signs in and gets a session and a redirect to
// return_to; a forged or replayed state, a replayed code, a denial, an ID
// token for another audience or with another nonce, and a provider that
// is down each fail with a clear answer; two oauth2 backends with their
// own providers both work; provisioning create, link and deny do what
// docs/oauth2.md says.
func TestOAuth2SignIn(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	corp, partner := oauth2Provider(t, "corp", port), oauth2Provider(t, "partner closed", port)
	dir := t.TempDir()
	cfg := oauth2Config(t, dir, port, "storage: {driver: sqlite, dsn: ./portcullis.db}",
		oauth2Backend("corp", corp, port, "create"), oauth2Backend("partner", partner, port, "link"),
		oauth2Backend("closed", partner, port, "deny"))
	h := startHost(t, cfg)
	mustRun(t, cfg, "", "roles", "create", "staff")

	// Success: a session cookie, and back to return_to.
	b := browser(t)
	authorize := startSignIn(t, b, h, "corp", "https://app.example/after")
	if u, _ := url.Parse(authorize); u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("code_challenge") == "" || u.Query().Get("state") == "" || u.Query().Get("nonce") == "" {
		t.Fatalf("the authorize URL lacks PKCE, state or nonce: %s", authorize)
	}
	cb, err := corp.Login(b, authorize, "carol", "carol-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	// A forged state is refused and changes nothing: the real one works
	// after it.
	forged := *cb
	q := forged.Query()
	q.Set("state", "forged-state")
	forged.RawQuery = q.Encode()
	if r := callback(t, b, h, &forged, ""); r.status != 400 || r.body["error"] != "invalid_state" {
		t.Errorf("a forged state: %d %s, want 400 invalid_state", r.status, r.raw)
	}
	done := callback(t, b, h, cb, "text/html")
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "https://app.example/after" {
		t.Fatalf("callback: %d %s (Location %q)", done.status, done.raw, done.header.Get("Location"))
	}
	st := send(t, "GET", h.url+"/v1/session", "", http.Header{"Cookie": {cookieOf(t, b, h, "portcullis_session")}})
	if st.status != 200 || !strings.Contains(st.raw, `"carol"`) {
		t.Fatalf("the session after the sign-in: %d %s", st.status, st.raw)
	}
	// The same callback again: its state is used.
	if r := callback(t, b, h, cb, ""); r.status != 400 || r.body["error"] != "invalid_state" {
		t.Errorf("a replayed state: %d %s, want 400 invalid_state", r.status, r.raw)
	}
	// A code already used, with the state of a new flow (so with another
	// verifier): the provider refuses it.
	b2 := browser(t)
	next := startSignIn(t, b2, h, "corp", "")
	nextState, _ := url.Parse(next)
	replay := *cb
	q = replay.Query()
	q.Set("state", nextState.Query().Get("state"))
	replay.RawQuery = q.Encode()
	if r := callback(t, b2, h, &replay, ""); r.status != 401 || r.body["error"] != "invalid_grant" {
		t.Errorf("a replayed code: %d %s, want 401 invalid_grant", r.status, r.raw)
	}
	// The user refuses at the provider.
	b3 := browser(t)
	denied, err := corp.Deny(b3, startSignIn(t, b3, h, "corp", ""))
	if err != nil {
		t.Fatal(err)
	}
	if r := callback(t, b3, h, denied, "text/html"); r.status != 401 || !strings.Contains(r.raw, "access_denied") || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("access_denied: %d %q %s, want a 401 page", r.status, r.header.Get("Content-Type"), r.raw)
	}
	// ID tokens that must not verify.
	for _, f := range []struct {
		name  string
		fault oidcprovider.Fault
	}{{"wrong audience", oidcprovider.WrongAudience}, {"wrong nonce", oidcprovider.WrongNonce}} {
		corp.SetFault(f.fault)
		bf := browser(t)
		cbf, err := corp.Login(bf, startSignIn(t, bf, h, "corp", ""), "carol", "carol-at-the-idp")
		if err != nil {
			t.Fatal(err)
		}
		if r := callback(t, bf, h, cbf, ""); r.status != 401 || r.body["error"] != "invalid_id_token" {
			t.Errorf("an ID token with a %s: %d %s, want 401 invalid_id_token", f.name, r.status, r.raw)
		}
		corp.SetFault(oidcprovider.NoFault)
	}

	// The second backend links by verified email only: dave has no local
	// account with it, then gets one.
	bp := browser(t)
	cbp, err := partner.Login(bp, startSignIn(t, bp, h, "partner", ""), "dave", "dave-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	if r := callback(t, bp, h, cbp, ""); r.status != 403 || r.body["error"] != "not_provisioned" {
		t.Errorf("link without a local user: %d %s, want 403 not_provisioned", r.status, r.raw)
	}
	addUser(t, cfg, nil, "david", "david-password-1")
	mustRun(t, cfg, "", "users", "email", "david", "dave@example.com")
	bp = browser(t)
	cbp, err = partner.Login(bp, startSignIn(t, bp, h, "partner", ""), "dave", "dave-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	if r := callback(t, bp, h, cbp, ""); r.status != 200 || !strings.Contains(r.raw, `"david"`) {
		t.Errorf("link by verified email: %d %s, want a session of david", r.status, r.raw)
	}

	// A backend that provisions nobody refuses even a user who has a
	// local account with that email.
	bc := browser(t)
	cbc, err := partner.Login(bc, startSignIn(t, bc, h, "closed", ""), "dave", "dave-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	if r := callback(t, bc, h, cbc, ""); r.status != 403 || r.body["error"] != "not_provisioned" {
		t.Errorf("provisioning deny: %d %s, want 403 not_provisioned", r.status, r.raw)
	}

	// Open redirects are refused.
	resp, err := browser(t).Get(h.url + "/v1/oauth2/corp/start?return_to=" + url.QueryEscape("https://evil.example/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("return_to another origin: %d, want 400", resp.StatusCode)
	}
	// A provider that is down: the sign-in fails closed.
	bd := browser(t)
	authorize = startSignIn(t, bd, h, "corp", "")
	cbd, err := corp.Login(bd, authorize, "carol", "carol-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	corp.Down()
	if r := callback(t, bd, h, cbd, ""); r.status != 502 || r.body["error"] != "provider_error" {
		t.Errorf("a provider that is down: %d %s, want 502", r.status, r.raw)
	}

	h.kill(15)
	audit, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	for _, want := range []string{"oauth2_authorize_url_generated", "oauth2_token_fetched", "oauth2_token_fetch_failed", "user_logged_in"} {
		if !strings.Contains(string(audit), `"`+want+`"`) {
			t.Errorf("the audit has no %s", want)
		}
	}
	for where, text := range map[string]string{"the host's output": h.output(), "the audit file": string(audit)} {
		for _, secret := range []string{cb.Query().Get("code"), "a-client-secret-of-the-idp", "carol-at-the-idp"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds a secret", where)
			}
		}
	}
}

// cookieOf returns the Cookie header value of the browser's cookie name
// for host h.
func cookieOf(t *testing.T, b *http.Client, h *host, name string) string {
	u, _ := url.Parse(h.url)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("the browser has no %s cookie", name)
	return ""
}

// TestOAuth2FlowAcrossHosts (acceptance 4): a sign-in started on one host
// finishes on another sharing PostgreSQL.
func TestOAuth2FlowAcrossHosts(t *testing.T) {
	dsn, ok := postgresDSN(t)
	if !ok {
		t.Skip("skipping: it needs PostgreSQL")
	}
	pa, pb := freePort(t), freePort(t)
	corp := oauth2Provider(t, "corp", pa, pb)
	storage := fmt.Sprintf("storage: {driver: postgres, dsn: %q}", dsn)
	// Hosts sharing a database share the key-encryption key, from which
	// each derives the key of the flows' verifiers and nonces.
	kek := "PORTCULLIS_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString([]byte("a-shared-key-encryption-key-32b!"))
	start := func(port int) *host {
		h, err := launchEnv(t, oauth2Config(t, t.TempDir(), port, storage, oauth2Backend("corp", corp, pa, "create")), kek)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	a, hb := start(pa), start(pb)
	b := browser(t)
	cb, err := corp.Login(b, startSignIn(t, b, a, "corp", ""), "carol", "carol-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	if r := callback(t, b, hb, cb, ""); r.status != 200 || !strings.Contains(r.raw, `"carol"`) {
		t.Fatalf("finishing on the other host: %d %s", r.status, r.raw)
	}
}

// TestOAuth2ExpiredState: a callback after the flow's time (flow_ttl) is
// refused, and the provider's code is never redeemed.
func TestOAuth2ExpiredState(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	corp := oauth2Provider(t, "corp", port)
	h := startHost(t, oauth2Config(t, t.TempDir(), port, "storage: {driver: sqlite, dsn: ./portcullis.db}\noauth2: {flow_ttl: 30s}",
		oauth2Backend("corp", corp, port, "create")))
	b := browser(t)
	cb, err := corp.Login(b, startSignIn(t, b, h, "corp", ""), "carol", "carol-at-the-idp")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(31 * time.Second)
	if r := callback(t, b, h, cb, ""); r.status != 400 || r.body["error"] != "invalid_state" {
		t.Fatalf("a callback after flow_ttl: %d %s, want 400 invalid_state", r.status, r.raw)
	}
}
