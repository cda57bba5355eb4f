package adminui

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/plugins/lockout"
	"github.com/portcullis-auth/portcullis/sdk"
)

// The rig is the page as the host serves it: an admin.Service over a real
// SQLite store, with the lockout backend "lockout" (and its admin twin)
// enforced by real limiters, inside the real httpapi.Server.

const (
	rootName     = "root"
	rootPassword = "correct horse battery staple"
	// origin is the host's own origin as httptest's requests name it.
	origin = "http://example.com"
)

// lockoutConfig is the rule of the rig's lockout backend.
const lockoutConfig = `{"failure_limit": 3, "cooloff": "15m", "lockout_parameters": [["username", "ip_address"], "ip_address"]}`

type rig struct {
	t       testing.TB
	store   *storage.Store
	svc     *admin.Service
	api     *httpapi.Server
	page    *Page
	users   *limiter.Limiter
	signals *recorder
	// cookie is the admin session's cookie after login.
	cookie *http.Cookie
}

// recorder records the signals sent, unless discard is set.
type recorder struct {
	mu      sync.Mutex
	args    []any
	discard bool
}

func (r *recorder) Emit(_ context.Context, _ string, args any) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.discard {
		r.args = append(r.args, args)
	}
	return ""
}

func newRig(t testing.TB) *rig {
	t.Helper()
	return newRigAt(t, storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t)))
}

func newRigAt(t testing.TB, store *storage.Store) *rig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cfg, err := lockout.ParseConfig(json.RawMessage(lockoutConfig))
	if err != nil {
		t.Fatal(err)
	}
	rg := &rig{t: t, store: store, signals: &recorder{}}
	opts := limiter.Options{Emit: rg.signals, Logger: log}
	if rg.users, err = limiter.New("lockout", cfg.Rule, store, opts); err != nil {
		t.Fatal(err)
	}
	twin, err := limiter.New("lockout"+admin.TwinSuffix, cfg.Rule, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	rg.svc = admin.New(admin.Options{
		Store: store, Signals: rg.signals, Logger: log,
		Limiters:        []chain.Link{{Name: twin.Name(), Limiter: twin, Timeout: 5 * time.Second}},
		LockoutBackends: []string{"lockout"},
		HashPassword:    func(_ context.Context, pw string) (string, error) { return "test-hash:" + pw, nil },
		Plugins: func() []supervisor.Status {
			return []supervisor.Status{{Name: "local", Plugin: "password", State: "running", PID: 4242}}
		},
	})
	rg.page = New(rg.svc, Options{Logger: log})
	rg.api = httpapi.New(httpapi.Options{
		Chain: chain.New(log), Logger: log, Signals: rg.signals,
		Ready: func(context.Context) (bool, any) { return true, nil },
		Admin: rg.svc, AdminPage: rg.page,
	})
	rg.page.Attach(rg.api)
	return rg
}

// addAdmin registers the admin root.
func (rg *rig) addAdmin() {
	rg.t.Helper()
	if _, err := rg.svc.Register(context.Background(), admin.Caller{}, rootName, "", rootPassword); err != nil {
		rg.t.Fatal(err)
	}
}

// loggedIn registers root and logs in through the page's form.
func (rg *rig) loggedIn() *rig {
	rg.t.Helper()
	rg.addAdmin()
	w := rg.send("POST", "/admin/login", url.Values{"username": {rootName}, "password": {rootPassword}}, withOrigin(origin))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/" {
		rg.t.Fatalf("logging in: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == httpapi.AdminCookie {
			rg.cookie = c
		}
	}
	if rg.cookie == nil {
		rg.t.Fatalf("logging in set no admin cookie: %v", w.Header())
	}
	return rg
}

// csrf is the session's CSRF token.
func (rg *rig) csrf() string { return tokens.CSRFToken(rg.cookie.Value) }

type edit func(*http.Request)

func withOrigin(o string) edit { return func(r *http.Request) { r.Header.Set("Origin", o) } }

func withHeader(k, v string) edit { return func(r *http.Request) { r.Header.Set(k, v) } }

// withoutCookie sends the request without the admin cookie.
func withoutCookie(r *http.Request) { r.Header.Del("Cookie") }

// send sends a request (a form when form is not nil) with the session's
// cookie if there is one.
func (rg *rig) send(method, target string, form url.Values, edits ...edit) *httptest.ResponseRecorder {
	rg.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if rg.cookie != nil {
		r.AddCookie(rg.cookie)
	}
	for _, e := range edits {
		e(r)
	}
	w := httptest.NewRecorder()
	rg.api.ServeHTTP(w, r)
	return w
}

// get fetches a page.
func (rg *rig) get(target string, edits ...edit) *httptest.ResponseRecorder {
	rg.t.Helper()
	return rg.send("GET", target, nil, edits...)
}

// post sends a form from the page's own origin with the session's CSRF
// token.
func (rg *rig) post(target string, form url.Values, edits ...edit) *httptest.ResponseRecorder {
	rg.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", rg.csrf())
	return rg.send("POST", target, form, append([]edit{withOrigin(origin)}, edits...)...)
}

// fail counts n wrong logins of username from ip with user agent ua.
func (rg *rig) fail(username, ip, ua string, n int) {
	rg.t.Helper()
	ctx := context.Background()
	for range n {
		v, err := rg.users.Check(ctx, &sdk.AuthenticateRequest{Username: username, Password: "wrong", Client: sdk.Client{IP: ip, UserAgent: ua}})
		if err != nil {
			rg.t.Fatal(err)
		}
		if v.Attempt == nil {
			continue // refused while locked
		}
		if err := v.Attempt.End(ctx, sdk.LoginFailed, ""); err != nil {
			rg.t.Fatal(err)
		}
	}
}

// counters returns the number of live lockout counters.
func (rg *rig) counters() int {
	rg.t.Helper()
	cs, err := limiter.List(context.Background(), rg.store, "lockout")
	if err != nil {
		rg.t.Fatal(err)
	}
	return len(cs)
}
