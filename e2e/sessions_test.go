package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/client"
	"github.com/portcullis-auth/portcullis/testkit/setcookie"
)

// TestCookieSessions: POST /v1/session sets an HttpOnly session cookie
// and returns a CSRF token; the cookie opens GET /v1/session and
// forward-auth until DELETE /v1/session, which needs the session's CSRF
// token and no other site's Origin. Each login gets a new cookie. The
// lockout guards POST /v1/session as it guards POST /v1/login, both ways.
func TestCookieSessions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n") // the default chain: lockout, password
	h := startHost(t, cfg)
	for _, u := range []string{"alice", "bob", "carol"} {
		addUser(t, cfg, nil, u, "pw-"+u)
	}

	first, c1 := sessionLogin(t, h, "alice", "pw-alice")
	if first.status != 200 || c1 == nil {
		t.Fatalf("POST /v1/session: %d %v %s", first.status, first.header, first.raw)
	}
	if !c1.HttpOnly || c1.Path != "/" || c1.SameSite != http.SameSiteLaxMode || c1.Secure || !strings.HasPrefix(c1.Value, "pcs_") {
		t.Errorf("session cookie %q: want HttpOnly, Path=/, SameSite=Lax, not Secure on http, a pcs_ value", first.header.Values("Set-Cookie"))
	}
	if c1.Expires.IsZero() || time.Until(c1.Expires) < 23*time.Hour || time.Until(c1.Expires) > 25*time.Hour {
		t.Errorf("session cookie expires %v; want the default 24h lifetime", c1.Expires)
	}
	csrf1, _ := first.body["csrf_token"].(string)
	if csrf1 == "" || strings.Contains(first.raw, c1.Value) {
		t.Errorf("session answer %s: want a csrf_token and never the cookie's value", first.raw)
	}
	if user, _ := first.body["user"].(map[string]any); user["username"] != "alice" || user["id"] == "" {
		t.Errorf("session answer names user %v", first.body["user"])
	}
	if first.header.Get("Cache-Control") != "no-store" {
		t.Errorf("session answer Cache-Control %q", first.header.Get("Cache-Control"))
	}
	if r := sessionStatus(t, h, c1); r.status != 200 || r.body["csrf_token"] != csrf1 || r.body["session_id"] != first.body["session_id"] {
		t.Fatalf("GET /v1/session: %d %s", r.status, r.raw)
	}
	if r := forwardAuthCookie(t, h, c1); r.status != 200 || r.header.Get("X-Portcullis-User") != "alice" || r.header.Get("X-Portcullis-User-Id") == "" {
		t.Errorf("forward-auth with the session cookie: %d %v", r.status, r.header)
	}

	second, c2 := sessionLogin(t, h, "alice", "pw-alice")
	if second.status != 200 || c2 == nil || c2.Value == c1.Value || second.body["csrf_token"] == csrf1 || second.body["session_id"] == first.body["session_id"] {
		t.Fatalf("a second login: %d %s; want a new cookie, CSRF token and session", second.status, second.raw)
	}
	csrf2 := second.body["csrf_token"].(string)

	// Writes that must be refused, each leaving the session alive.
	for _, bad := range []struct {
		name string
		hdr  http.Header
	}{
		{"no X-CSRF-Token", nil},
		{"another session's CSRF token", http.Header{"X-Csrf-Token": {csrf2}}},
		{"the cookie's value as the CSRF token", http.Header{"X-Csrf-Token": {c1.Value}}},
		{"another site's Origin", http.Header{"X-Csrf-Token": {csrf1}, "Origin": {"http://evil.example"}}},
		{"a cross-site fetch", http.Header{"X-Csrf-Token": {csrf1}, "Sec-Fetch-Site": {"cross-site"}}},
	} {
		if r := endSession(t, h, c1, bad.hdr); r.status != 403 || r.body["error"] != "csrf_failed" {
			t.Errorf("DELETE /v1/session with %s: %d %s; want 403 csrf_failed", bad.name, r.status, r.raw)
		}
		if r := sessionStatus(t, h, c1); r.status != 200 {
			t.Fatalf("after DELETE with %s the session is gone: %d %s", bad.name, r.status, r.raw)
		}
	}
	// The host's own origin passes.
	r := endSession(t, h, c1, http.Header{"X-Csrf-Token": {csrf1}, "Origin": {h.url}})
	if r.status != 200 {
		t.Fatalf("DELETE /v1/session with the CSRF token: %d %s", r.status, r.raw)
	}
	if gone := sessionCookie(r); gone == nil || gone.MaxAge >= 0 {
		t.Errorf("logout does not clear the cookie: %q", r.header.Values("Set-Cookie"))
	}
	if r := sessionStatus(t, h, c1); r.status != 401 || r.body["error"] != "invalid_session" {
		t.Errorf("GET /v1/session after logout: %d %s; want 401", r.status, r.raw)
	}
	if r := forwardAuthCookie(t, h, c1); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("forward-auth with an ended session: %d %v", r.status, r.header)
	}
	if r := endSession(t, h, c1, http.Header{"X-Csrf-Token": {csrf1}}); r.status != 401 {
		t.Errorf("a second logout: %d %s; want 401", r.status, r.raw)
	}
	if r := sessionStatus(t, h, c2); r.status != 200 {
		t.Errorf("the other session after the first logged out: %d %s", r.status, r.raw)
	}
	if r := sessionStatus(t, h, &http.Cookie{Name: "portcullis_session", Value: "pcs_" + strings.Repeat("A", 43)}); r.status != 401 {
		t.Errorf("GET /v1/session with a made-up cookie: %d", r.status)
	}
	if r := send(t, http.MethodGet, h.url+"/v1/session", "", nil); r.status != 401 {
		t.Errorf("GET /v1/session without a cookie: %d", r.status)
	}
	if r := send(t, http.MethodPost, h.url+"/v1/session", credentials("alice", "pw-alice"), http.Header{"Origin": {"http://evil.example"}}); r.status != 403 || sessionCookie(r) != nil {
		t.Errorf("POST /v1/session from another site's page: %d %s; want 403 and no cookie", r.status, r.raw)
	}

	// The lockout (default: 5 failures per username and address). Wrong
	// passwords through /v1/login lock /v1/session...
	for i := range 5 {
		if r := h.login("bob", "wrong"); r.status != 401 {
			t.Fatalf("wrong password %d for bob: %d %s", i+1, r.status, r.raw)
		}
	}
	if r, c := sessionLogin(t, h, "bob", "pw-bob"); r.status != 429 || r.body["error"] != "locked_out" || c != nil {
		t.Errorf("POST /v1/session with bob's right password after 5 failures: %d %s (cookie %v); want 429 locked_out", r.status, r.raw, c)
	}
	// ...and through /v1/session lock /v1/login.
	for i := range 5 {
		if r, c := sessionLogin(t, h, "carol", "wrong"); r.status != 401 || c != nil {
			t.Fatalf("wrong password %d for carol through /v1/session: %d %s", i+1, r.status, r.raw)
		}
	}
	if r, c := sessionLogin(t, h, "carol", "pw-carol"); r.status != 429 || c != nil {
		t.Errorf("POST /v1/session with carol's right password after 5 failures: %d %s; want 429", r.status, r.raw)
	}
	if r := h.login("carol", "pw-carol"); r.status != 429 {
		t.Errorf("POST /v1/login with carol's right password after 5 failures through /v1/session: %d %s; want 429", r.status, r.raw)
	}
	if r, _ := sessionLogin(t, h, "alice", "pw-alice"); r.status != 200 {
		t.Errorf("alice, never wrong, is refused: %d %s", r.status, r.raw)
	}
}

// userState is what a user holds: a token session and a cookie session.
type userState struct {
	tokens pair
	cookie *http.Cookie
}

// TestUserChangesEndTheirSessions: `users passwd`, `users remove` and
// `users disable`, run against the running host's database, end the
// user's token families and cookie sessions: refresh and GET /v1/session
// fail, forward-auth refuses the cookie, and introspection reports the
// access tokens inactive. Another user's sessions stand.
func TestUserChangesEndTheirSessions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHost(t, cfg)
	key := createApp(t, cfg, nil, "web")
	users := []string{"pat", "rem", "dis", "ctl"}
	state := map[string]userState{}
	for _, u := range users {
		addUser(t, cfg, nil, u, "pw-"+u)
		r, c := sessionLogin(t, h, u, "pw-"+u)
		if r.status != 200 || c == nil {
			t.Fatalf("session login of %s: %d %s", u, r.status, r.raw)
		}
		state[u] = userState{tokens: mustLogin(t, h, u, "pw-"+u), cookie: c}
	}
	standing := func(u string) map[string]bool {
		s := state[u]
		return map[string]bool{
			"introspection":       active(t, h, key, s.tokens.access),
			"GET /v1/session":     sessionStatus(t, h, s.cookie).status == 200,
			"forward-auth cookie": forwardAuthCookie(t, h, s.cookie).status == 200,
		}
	}
	for _, u := range users {
		for what, ok := range standing(u) {
			if !ok {
				t.Fatalf("before any change, %s of %s fails", what, u)
			}
		}
	}

	changes := map[string]struct {
		args  []string
		stdin string
		said  string
	}{
		"pat": {[]string{"users", "passwd", "pat", "--password-stdin"}, "new-pw-pat\n", `Password of "pat" changed; 2 sessions ended.`},
		"rem": {[]string{"users", "remove", "rem"}, "", `User "rem" removed; 2 sessions ended.`},
		"dis": {[]string{"users", "disable", "dis"}, "", `User "dis" disabled; 2 sessions ended.`},
	}
	for _, c := range changes {
		if out := mustRun(t, cfg, c.stdin, c.args...); !strings.Contains(out, c.said) {
			t.Errorf("portcullis %s:\n%s\nwant %q", strings.Join(c.args, " "), out, c.said)
		}
	}
	for u := range changes {
		t.Run(u, func(t *testing.T) {
			for what, ok := range standing(u) {
				if ok {
					t.Errorf("%s still passes", what)
				}
			}
			if r := refresh(t, h, state[u].tokens.refresh); r.status != 401 {
				t.Errorf("refresh: %d %s; want 401", r.status, r.raw)
			}
		})
	}
	// The Go client: Middleware verifies locally and still takes the
	// disabled user's token until it expires (as documented);
	// IntrospectionMiddleware asks the host and refuses it at once.
	c, err := client.New(client.Options{HostURL: h.url, Audience: "portcullis", Issuer: issuerOf(t, h), AppKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for name, mw := range map[string]http.Handler{"Middleware": c.Middleware(ok), "IntrospectionMiddleware": c.IntrospectionMiddleware(ok)} {
		srv := httptest.NewServer(mw)
		defer srv.Close()
		call := func(token string) response {
			return send(t, http.MethodGet, srv.URL, "", http.Header{"Authorization": {"Bearer " + token}})
		}
		want := map[string]int{"Middleware": 204, "IntrospectionMiddleware": 401}[name]
		if r := call(state["dis"].tokens.access); r.status != want {
			t.Errorf("%s with the disabled user's token: %d %s; want %d", name, r.status, r.raw, want)
		}
		if r := call(state["ctl"].tokens.access); r.status != 204 {
			t.Errorf("%s with the untouched user's token: %d %s", name, r.status, r.raw)
		}
	}
	for what, ok := range standing("ctl") {
		if !ok {
			t.Errorf("the untouched user's %s fails", what)
		}
	}
	if r := refresh(t, h, state["ctl"].tokens.refresh); r.status != 200 {
		t.Errorf("the untouched user's refresh: %d %s", r.status, r.raw)
	}
	// The new password works, in new sessions; the old one does not.
	if r := h.login("pat", "pw-pat"); r.status != 401 {
		t.Errorf("pat's old password: %d", r.status)
	}
	fresh := mustLogin(t, h, "pat", "new-pw-pat")
	if !active(t, h, key, fresh.access) {
		t.Error("a session started after the password change is inactive")
	}
	// A new user under the removed name is someone else: the old sessions
	// stay ended.
	addUser(t, cfg, nil, "rem", "pw-rem")
	if active(t, h, key, state["rem"].tokens.access) || sessionStatus(t, h, state["rem"].cookie).status != 401 {
		t.Error("adding a user under a removed name revived the removed user's sessions")
	}
}

// TestRefreshFamilyEndsAtItsMaxLifetime: a token family refreshed
// continually ends at tokens.refresh_max_lifetime after its login, and no
// access token of it outlives that end. Cookie sessions end at
// sessions.idle_timeout when unused, and at sessions.max_lifetime however
// much they are used.
func TestRefreshFamilyEndsAtItsMaxLifetime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\ntokens: {refresh_max_lifetime: 3s}\nsessions: {idle_timeout: 1500ms, max_lifetime: 3s}\n")
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "s3cret")
	key := createApp(t, cfg, nil, "web")

	t.Run("cookie sessions", func(t *testing.T) {
		t.Parallel()
		r1, used := sessionLogin(t, h, "alice", "s3cret")
		r2, idle := sessionLogin(t, h, "alice", "s3cret")
		if used == nil || idle == nil {
			t.Fatalf("session logins: %d %s; %d %s", r1.status, r1.raw, r2.status, r2.raw)
		}
		start := time.Now()
		// A session used every 300ms outlives its idle timeout, and ends at
		// its max lifetime; one left alone ends at its idle timeout.
		idleAsked, usedEnded := false, time.Duration(0)
		for usedEnded == 0 && time.Since(start) < 8*time.Second {
			time.Sleep(300 * time.Millisecond)
			if sessionStatus(t, h, used).status != 200 {
				usedEnded = time.Since(start)
			}
			// Asked once only: asking uses the session.
			if !idleAsked && time.Since(start) > 2*time.Second {
				idleAsked = true
				if r := sessionStatus(t, h, idle); r.status != 401 {
					t.Errorf("a session unused for %v, with an idle timeout of 1.5s: %d %s; want 401", time.Since(start), r.status, r.raw)
				}
			}
		}
		if !idleAsked {
			t.Error("the session left alone was never asked about")
		}
		if usedEnded < 2*time.Second || usedEnded > 4500*time.Millisecond {
			t.Errorf("a session used every 300ms ended after %v; want its max lifetime, 3s", usedEnded)
		}
	})

	login := h.login("alice", "s3cret")
	tok := tokensOf(t, login)
	_, c := jwtSegments(t, tok.access)
	if e := login.body["expires_in"].(float64); e > 3 || e != c["exp"].(float64)-c["iat"].(float64) {
		t.Errorf("expires_in %v with a session of 3s; want the access token's lifetime, cut to the session's", e)
	}
	iat := time.Unix(int64(c["iat"].(float64)), 0)
	end := iat.Add(3 * time.Second) // the login's second plus the lifetime
	if got := time.Unix(int64(c["exp"].(float64)), 0); !got.Equal(end) {
		t.Errorf("the first access token expires at %v, want the session's end %v", got, end)
	}
	refreshes := 0
	var refused response
	for {
		sent := time.Now()
		r := refresh(t, h, tok.refresh)
		answered := time.Now() // the host decided between sent and answered
		if r.status != 200 {
			if answered.Before(end) {
				t.Fatalf("refresh %d refused %v before the session's end: %d %s", refreshes+1, end.Sub(answered), r.status, r.raw)
			}
			refused = r
			break
		}
		if sent.After(end) {
			t.Fatalf("refresh %d succeeded %v after the session's end", refreshes+1, sent.Sub(end))
		}
		refreshes++
		tok = tokensOf(t, r)
		if _, c := jwtSegments(t, tok.access); time.Unix(int64(c["exp"].(float64)), 0).After(end) {
			t.Errorf("refresh %d gave an access token expiring at %v, after the session's end %v", refreshes, c["exp"], end)
		}
		if time.Since(iat) > 10*time.Second {
			t.Fatal("the family still refreshes 10s after a login with a max lifetime of 3s")
		}
		time.Sleep(150 * time.Millisecond)
	}
	if refreshes < 5 || refused.status != 401 || refused.body["error"] != "invalid_token" {
		t.Errorf("%d refreshes, then %d %s; want several, then 401 invalid_token", refreshes, refused.status, refused.raw)
	}
	// The last access token is within the host's clock-skew leeway of its
	// expiry, but its session has ended.
	if active(t, h, key, tok.access) {
		t.Error("introspection of the last access token after the session's end: active")
	}
	if r := refresh(t, h, tok.refresh); r.status != 401 {
		t.Errorf("refreshing again: %d", r.status)
	}
	t.Logf("%d refreshes before the end", refreshes)
}

// TestSessionCookieConfig: the sessions block reaches the Set-Cookie a
// session login answers with, and the one a logout clears the cookie with:
// the name, cookie_domain, same_site strict or none, and secure (set, or
// true by default under an https issuer). A cookie browsers would refuse
// (same_site none without secure) stops the host from starting, naming
// the setting.
func TestSessionCookieConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml, cookie string
		want, not          []string
	}{
		{"strict, a domain, not secure", "sessions: {cookie_name: pc_s, cookie_domain: example.test, same_site: strict}\n",
			"pc_s", []string{"Domain=example.test", "SameSite=Strict"}, []string{"Secure"}},
		{"none, secure by the https issuer", "tokens: {issuer: https://auth.example.test}\nsessions: {cookie_name: __Host-pc, same_site: none}\n",
			"__Host-pc", []string{"SameSite=None", "Secure"}, []string{"Domain="}},
		{"lax, secure set", "sessions: {cookie_domain: example.test, secure: true}\n",
			"portcullis_session", []string{"Domain=example.test", "SameSite=Lax", "Secure"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n"+tt.yaml)
			h := startHost(t, cfg)
			addUser(t, cfg, nil, "alice", "pw-alice")
			r := send(t, http.MethodPost, h.url+"/v1/session", credentials("alice", "pw-alice"), nil)
			set := setCookie(t, r, tt.cookie)
			if r.status != 200 || set == "" {
				t.Fatalf("POST /v1/session: %d %q %s", r.status, r.header.Values("Set-Cookie"), r.raw)
			}
			value := strings.TrimPrefix(strings.SplitN(set, ";", 2)[0], tt.cookie+"=")
			cookie := &http.Cookie{Name: tt.cookie, Value: value}
			if r := sessionStatus(t, h, cookie); r.status != 200 {
				t.Fatalf("GET /v1/session with the %s cookie: %d %s", tt.cookie, r.status, r.raw)
			}
			out := endSession(t, h, cookie, http.Header{"X-Csrf-Token": {r.body["csrf_token"].(string)}})
			cleared := setCookie(t, out, tt.cookie)
			if out.status != 200 || !strings.Contains(cleared, "Max-Age=0") {
				t.Fatalf("DELETE /v1/session: %d %q", out.status, out.header.Values("Set-Cookie"))
			}
			for what, header := range map[string]string{"login": set, "logout": cleared} {
				setcookie.CheckAttrs(t, what, header, append([]string{"Path=/", "HttpOnly"}, tt.want...), tt.not)
			}
		})
	}
	t.Run("same_site none without secure", func(t *testing.T) {
		t.Parallel()
		cfg := writeConfig(t, t.TempDir(), "storage: {driver: sqlite, dsn: ./portcullis.db}\nsessions: {same_site: none}\n")
		h, err := launch(t, cfg)
		if err == nil {
			t.Fatal("the host started with sessions.same_site none under an http issuer (no Secure)")
		}
		if out := h.output(); !strings.Contains(out, "sessions.same_site") || !strings.Contains(out, "needs sessions.secure: true") {
			t.Errorf("the refusal does not name sessions.same_site:\n%s", out)
		}
	})
}

// setCookie is the raw Set-Cookie header of the cookie name in r, "" if
// none; more than one fails t.
func setCookie(t testing.TB, r response, name string) string {
	t.Helper()
	var found []string
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			found = append(found, v)
		}
	}
	if len(found) > 1 {
		t.Fatalf("%d Set-Cookie headers for %s: %q", len(found), name, found)
	}
	if len(found) == 0 {
		return ""
	}
	return found[0]
}
