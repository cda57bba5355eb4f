package adminui

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// posts are every form the page takes, each filled in so that it would
// change something if it were accepted.
var posts = []struct {
	path string
	form url.Values
}{
	{"/admin/logout", url.Values{}},
	{"/admin/lockouts/reset", url.Values{"all": {"true"}, "confirm": {"yes"}}},
	{"/admin/lockouts/reset", url.Values{"username": {"alice"}, "ip": {"203.0.113.9"}, "backend": {"lockout"}}},
	{"/admin/users", url.Values{"username": {"mallory"}, "password": {"pw"}}},
	{"/admin/users/disable", url.Values{"username": {"alice"}}},
	{"/admin/users/enable", url.Values{"username": {"bob"}}},
	{"/admin/users/roles/add", url.Values{"username": {"bob"}, "role": {"staff"}}},
	{"/admin/users/roles/remove", url.Values{"username": {"alice"}, "role": {"staff"}}},
	{"/admin/roles", url.Values{"name": {"evil"}, "permissions": {"all:write"}}},
	{"/admin/roles/delete", url.Values{"role": {"staff"}}},
	{"/admin/roles/grant", url.Values{"role": {"staff"}, "permissions": {"all:write"}}},
	{"/admin/roles/revoke", url.Values{"role": {"staff"}, "permissions": {"reports:read"}}},
	{"/admin/deliveries/retry", url.Values{"id": {"1"}}},
}

var getPages = []string{"/admin/", "/admin/lockouts", "/admin/lockouts?locked=true&offset=50", "/admin/users", "/admin/users?q=a",
	"/admin/roles", "/admin/deliveries", "/admin/no-such-page", "/admin/lockouts/reset"}

// state is what the forms of posts would change.
type state struct {
	counters    int
	aliceOff    bool
	bobOff      bool
	users       int64
	roles       string
	dead        int
	sessionLive bool
}

// seed makes what the forms of posts would change: alice (with role
// staff, which grants reports:read) locked out from 203.0.113.9, bob
// disabled, and a dead letter.
func (rg *rig) seed() {
	rg.t.Helper()
	ctx := context.Background()
	if _, err := rg.svc.CreateRole(ctx, admin.Caller{}, "staff"); err != nil {
		rg.t.Fatal(err)
	}
	if _, err := rg.svc.GrantPermissions(ctx, admin.Caller{}, "staff", []string{"reports:read"}); err != nil {
		rg.t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := rg.svc.CreateUser(ctx, admin.Caller{}, u, "pw-"+u, []string{"staff"}[:len(u)%2]); err != nil { // alice gets staff
			rg.t.Fatal(err)
		}
	}
	if _, err := rg.svc.SetUserDisabled(ctx, admin.Caller{}, "bob", true); err != nil {
		rg.t.Fatal(err)
	}
	rg.fail("alice", "203.0.113.9", "curl/8", 3)
	rg.deadLetter("webhook_test")
}

// deadLetter queues a signal to subscriber and lets its one attempt fail.
func (rg *rig) deadLetter(subscriber string) {
	rg.t.Helper()
	ctx := context.Background()
	sig := sdk.Signal{ID: "sig-" + subscriber, Name: "user_logged_in", Sender: "host", Origin: "host", Time: time.Now(), Args: []byte(`{}`)}
	if err := rg.store.Enqueue(ctx, sig, []string{subscriber}); err != nil {
		rg.t.Fatal(err)
	}
	ds, err := rg.store.Claim(ctx, "test", 10, time.Minute)
	if err != nil || len(ds) == 0 {
		rg.t.Fatalf("claiming: %v %v", ds, err)
	}
	for _, d := range ds {
		if err := rg.store.MarkFailed(ctx, d.ID, "test", "connection refused <b>", time.Now(), 1); err != nil {
			rg.t.Fatal(err)
		}
	}
}

func (rg *rig) state() state {
	rg.t.Helper()
	ctx := context.Background()
	var st state
	st.counters = rg.counters()
	for _, u := range []struct {
		name string
		off  *bool
	}{{"alice", &st.aliceOff}, {"bob", &st.bobOff}} {
		usr, err := rg.svc.User(ctx, u.name)
		if err != nil {
			rg.t.Fatal(err)
		}
		*u.off = usr.Disabled
		st.roles += u.name + "=" + strings.Join(usr.Roles, ",") + ";"
	}
	var err error
	if st.users, _, err = rg.store.CountUsers(ctx); err != nil {
		rg.t.Fatal(err)
	}
	roles, err := rg.svc.Roles(ctx)
	if err != nil {
		rg.t.Fatal(err)
	}
	for _, r := range roles {
		st.roles += r.Name + ":" + strings.Join(r.Permissions, ",") + ";"
	}
	dead, err := rg.svc.Deliveries(ctx, storage.DeliveryDead, 100)
	if err != nil {
		rg.t.Fatal(err)
	}
	st.dead = len(dead)
	st.sessionLive = rg.get("/admin/").Code == http.StatusOK
	return st
}

func TestEveryPageNeedsASession(t *testing.T) {
	rg := newRig(t).loggedIn()
	rg.seed()
	for _, c := range []struct {
		name string
		edit edit
	}{
		{"no cookie", withoutCookie},
		{"a made-up cookie", func(r *http.Request) {
			r.Header.Del("Cookie")
			r.AddCookie(&http.Cookie{Name: httpapi.AdminCookie, Value: "pcas_" + strings.Repeat("A", 43)})
		}},
		{"a user's session cookie", func(r *http.Request) {
			r.Header.Del("Cookie")
			r.AddCookie(&http.Cookie{Name: "portcullis_session", Value: rg.cookie.Value})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range getPages {
				w := rg.get(path, c.edit)
				if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/login" {
					t.Errorf("GET %s: %d Location %q, want 303 to /admin/login", path, w.Code, w.Header().Get("Location"))
				}
				checkHeaders(t, "GET "+path, w.Header())
			}
			before := rg.state()
			for _, p := range posts {
				w := rg.post(p.path, p.form, c.edit)
				if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/login" {
					t.Errorf("POST %s: %d Location %q, want 303 to /admin/login", p.path, w.Code, w.Header().Get("Location"))
				}
			}
			if after := rg.state(); after != before {
				t.Errorf("forms without a session changed something:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

func TestEveryFormNeedsTheCSRFTokenAndTheOrigin(t *testing.T) {
	rg := newRig(t).loggedIn()
	rg.seed()
	other := newRig(t).loggedIn() // another host's session: its token is not this one's
	before := rg.state()
	if before.counters == 0 || !before.bobOff || before.dead != 1 || !before.sessionLive {
		t.Fatalf("seeded state %+v", before)
	}
	for _, c := range []struct {
		name  string
		token string
		edits []edit
	}{
		{"no csrf_token", "", nil},
		{"a wrong csrf_token", "not-the-token", nil},
		{"another session's token", other.csrf(), nil},
		{"the cookie's value as the token", rg.cookie.Value, nil},
		{"the right token from another site's page", rg.csrf(), []edit{withOrigin("http://evil.example")}},
		{"the right token from an opaque origin", rg.csrf(), []edit{withOrigin("null")}},
		{"the right token from an opaque cross-site origin", rg.csrf(), []edit{withOrigin("null"), withHeader("Sec-Fetch-Site", "cross-site")}},
		{"the right token from an opaque same-site origin", rg.csrf(), []edit{withOrigin("null"), withHeader("Sec-Fetch-Site", "same-site")}},
		{"the right token in a cross-site request", rg.csrf(), []edit{func(r *http.Request) { r.Header.Del("Origin") }, withHeader("Sec-Fetch-Site", "cross-site")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range posts {
				form := url.Values{}
				for k, v := range p.form {
					form[k] = v
				}
				if c.token != "" {
					form.Set("csrf_token", c.token)
				}
				edits := append([]edit{withOrigin(origin)}, c.edits...)
				w := rg.send("POST", p.path, form, edits...)
				if w.Code != http.StatusForbidden {
					t.Errorf("POST %s: %d, want 403\n%s", p.path, w.Code, w.Body)
				}
				checkHeaders(t, "POST "+p.path, w.Header())
			}
			if after := rg.state(); after != before {
				t.Errorf("refused forms changed something:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	// The same forms with the token from the page's own origin are taken
	// (logout last: it ends the session), half of them as a browser sends
	// them from a page whose Referrer-Policy is no-referrer: with the
	// origin hidden, and Sec-Fetch-Site saying it is the same.
	for i, p := range posts[1:] {
		var edits []edit
		if i%2 == 0 {
			edits = []edit{withOrigin("null"), withHeader("Sec-Fetch-Site", "same-origin")}
		}
		if w := rg.post(p.path, p.form, edits...); w.Code == http.StatusForbidden {
			t.Errorf("POST %s with the token: 403\n%s", p.path, w.Body)
		}
	}
	if after := rg.state(); after == before {
		t.Errorf("the accepted forms changed nothing: %+v", after)
	}
	// A browser that sends no Origin but says it is the same site passes.
	if w := rg.post("/admin/logout", nil, func(r *http.Request) { r.Header.Del("Origin") }, withHeader("Sec-Fetch-Site", "same-origin")); w.Code != http.StatusSeeOther ||
		w.Header().Get("Location") != "/admin/login?done=logged-out" {
		t.Fatalf("logout: %d %v", w.Code, w.Header())
	}
	if rg.get("/admin/").Code != http.StatusSeeOther {
		t.Errorf("the session is alive after logout")
	}
}

func TestLoginForm(t *testing.T) {
	rg := newRig(t)
	rg.addAdmin()
	login := func(user, pw string, edits ...edit) *http.Response {
		t.Helper()
		w := rg.send("POST", "/admin/login", url.Values{"username": {user}, "password": {pw}}, edits...)
		checkHeaders(t, "POST /admin/login", w.Header())
		return w.Result()
	}
	body := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	w := rg.get("/admin/login")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<label for="password">Password</label>`) {
		t.Fatalf("GET /admin/login: %d\n%s", w.Code, w.Body)
	}
	checkHeaders(t, "GET /admin/login", w.Header())

	const wrong = "wrong-password-<i>secret</i>"
	resp := login(rootName, wrong, withOrigin(origin))
	page := body(resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "The username or password is wrong.") {
		t.Errorf("a wrong password: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "secret") || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong password's answer shows the password or sets a cookie: %v\n%s", resp.Cookies(), page)
	}
	if !strings.Contains(page, `value="root"`) {
		t.Errorf("the form does not keep the username:\n%s", page)
	}

	for _, e := range []struct {
		name  string
		edits []edit
	}{
		{"another site's page", []edit{withOrigin("http://evil.example")}},
		{"a cross-site request without Origin", []edit{withHeader("Sec-Fetch-Site", "cross-site")}},
		{"an opaque origin", []edit{withOrigin("null")}},
		{"an opaque cross-site origin", []edit{withOrigin("null"), withHeader("Sec-Fetch-Site", "cross-site")}},
	} {
		resp := login(rootName, rootPassword, e.edits...)
		if page := body(resp); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !strings.Contains(page, "another site") {
			t.Errorf("a login from %s: %d cookies %v\n%s", e.name, resp.StatusCode, resp.Cookies(), page)
		}
	}

	// The browser's own form, from a page whose Referrer-Policy hides
	// the origin.
	resp = login(rootName, rootPassword, withOrigin("null"), withHeader("Sec-Fetch-Site", "same-origin"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("the right password: %d %v", resp.StatusCode, resp.Header)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == httpapi.AdminCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("admin cookie %+v", cookie)
	}
	rg.cookie = cookie
	if w := rg.get("/admin/login"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/" {
		t.Errorf("the login form with a session: %d %v", w.Code, w.Header())
	}
	if w := rg.get("/admin/"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Logged in as <strong>root</strong>") {
		t.Errorf("overview after login: %d\n%s", w.Code, w.Body)
	}

	// The admin's lockout: the twin locks the name after 3 failures, and
	// the form says so with the lock's status.
	rg.cookie = nil
	for range 3 {
		login(rootName, "wrong", withOrigin(origin))
	}
	resp = login(rootName, rootPassword, withOrigin(origin))
	if page := body(resp); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many failed login attempts; try again in") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a locked-out admin: %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
	}
	if resp := login("not a name\x00", "x", withOrigin(origin)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a malformed username: %d", resp.StatusCode)
	}
}

// checkHeaders requires the headers every answer of the page carries.
func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, v := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestPagesAndStyleSheet(t *testing.T) {
	rg := newRig(t).loggedIn()
	rg.seed()
	for _, path := range getPages {
		w := rg.get(path)
		want := http.StatusOK
		if strings.Contains(path, "no-such") || strings.HasSuffix(path, "/reset") {
			want = http.StatusNotFound
		}
		if w.Code != want || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s: %d %q, want %d HTML\n%s", path, w.Code, w.Header().Get("Content-Type"), want, w.Body)
		}
		checkHeaders(t, "GET "+path, w.Header())
		page := w.Body.String()
		for _, must := range []string{`<html lang="en">`, `<a class="skip-link" href="#main">`, `<main id="main"`, `name="csrf_token" value="` + rg.csrf() + `"`} {
			if !strings.Contains(page, must) {
				t.Errorf("GET %s lacks %s", path, must)
			}
		}
		if strings.Contains(page, "style=") || strings.Contains(page, "<script") || strings.Contains(page, rg.cookie.Value) {
			t.Errorf("GET %s has an inline style, a script or the session's secret", path)
		}
	}
	// The style sheet needs no session.
	w := rg.get("/admin/", withoutCookie)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("overview without a session: %d", w.Code)
	}
	page := rg.get("/admin/").Body.String()
	i := strings.Index(page, `href="/admin/static/admin.css?v=`)
	if i < 0 {
		t.Fatalf("no style sheet link:\n%s", page)
	}
	href := page[i+len(`href="`):]
	href = href[:strings.IndexByte(href, '"')]
	w = rg.get(href, withoutCookie)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(w.Body.String(), ":focus-visible") ||
		!strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("GET %s: %d %v", href, w.Code, w.Header())
	}
}

func TestOverviewAndDeadLetters(t *testing.T) {
	rg := newRig(t).loggedIn()
	rg.seed()
	page := rg.get("/admin/").Body.String()
	for _, want := range []string{
		"<dt>Users</dt><dd>2</dd>", "<dt>Disabled</dt><dd>1</dd>", "<dt>Dead letters</dt><dd>1</dd>",
		`<th scope="row">alice</th>`, "203.0.113.9", `<th scope="row">local</th>`, "running",
		`href="/admin/lockouts?locked=true"`, `href="/admin/deliveries"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}

	page = rg.get("/admin/deliveries").Body.String()
	if !strings.Contains(page, "webhook_test") || !strings.Contains(page, "connection refused &lt;b&gt;") {
		t.Fatalf("dead letters page:\n%s", page)
	}
	dead, _ := rg.svc.Deliveries(context.Background(), storage.DeliveryDead, 10)
	w := rg.post("/admin/deliveries/retry", url.Values{"id": {itoa(dead[0].ID)}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/deliveries?done=retried" {
		t.Fatalf("retry: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	if page := rg.get(w.Header().Get("Location")).Body.String(); !strings.Contains(page, "The delivery is queued again.") || !strings.Contains(page, "There are no dead letters.") {
		t.Errorf("after retry:\n%s", page)
	}
	w = rg.post("/admin/deliveries/retry", url.Values{"id": {"999"}})
	if page := w.Body.String(); w.Code != http.StatusNotFound || !strings.Contains(page, "Signal delivery 999: not found.") {
		t.Errorf("retrying a delivery that does not exist: %d\n%s", w.Code, page)
	}
	if w := rg.post("/admin/deliveries/retry", url.Values{"id": {"x"}}); w.Code != http.StatusBadRequest {
		t.Errorf("retrying id x: %d", w.Code)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
