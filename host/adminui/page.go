package adminui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Prefix is the path the page serves under: httpapi.Server mounts
// Options.AdminPage there.
const Prefix = "/admin/"

// The paths served without a session.
const (
	loginPath = Prefix + "login"
	cssPath   = Prefix + "static/admin.css"
)

// contentSecurityPolicy allows the page its own style sheet and images and
// its own forms, and nothing else: no script, no frame, no other origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/admin.css
var styleSheet []byte

// Options configure the page.
type Options struct {
	// Logger receives the failures the page answers 503 for; nil:
	// slog.Default().
	Logger *slog.Logger
}

// Page is the admin web page: an http.Handler for the paths under
// /admin/, mounted as httpapi.Options.AdminPage. It is safe for concurrent
// use.
type Page struct {
	svc    *admin.Service
	api    atomic.Pointer[httpapi.Server]
	log    *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*template.Template
	cssURL string
}

// New returns the admin page over svc. The page logs admins in through
// the HTTP API's server that mounts it, which does not exist yet when the
// page is made: Attach gives it to the page, and until then every request
// is answered 503.
func New(svc *admin.Service, opts Options) *Page {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	sum := sha256.Sum256(styleSheet)
	p := &Page{svc: svc, log: opts.Logger, mux: http.NewServeMux(), pages: parseTemplates(),
		cssURL: cssPath + "?v=" + hex.EncodeToString(sum[:6])}
	p.routes()
	return p
}

// Attach gives the page the server it is mounted in, whose admin cookie,
// login and same-origin rule it uses. Call it once, before the server
// serves.
func (p *Page) Attach(api *httpapi.Server) { p.api.Store(api) }

// parseTemplates parses each page's template with the layout.
func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"when":     when,
		"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"link":     withQuery,
	}
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		panic("adminui: " + err.Error())
	}
	out := map[string]*template.Template{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".html")
		if !ok || name == "layout" {
			continue
		}
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+e.Name()))
	}
	return out
}

// when shows a time in UTC to the minute; the zero time is "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// withQuery is path with the encoded query q ("" for none).
func withQuery(path, q string) string {
	if q == "" {
		return path
	}
	return path + "?" + q
}

// session is the logged-in admin of a request, with the CSRF token its
// forms carry.
type session struct {
	caller admin.Caller
	csrf   string
}

type sessionKey struct{}

// handler is a page's handler: s is the request's admin session.
type handler func(w http.ResponseWriter, r *http.Request, s session)

func (p *Page) handle(pattern string, h handler) {
	p.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		h(w, r, r.Context().Value(sessionKey{}).(session))
	})
}

// routes registers every page but the login form and the style sheet,
// which ServeHTTP serves before it asks for a session.
func (p *Page) routes() {
	p.handle("GET /admin/{$}", p.overview)
	p.handle("POST /admin/logout", p.logout)
	p.handle("GET /admin/lockouts", p.lockouts)
	p.handle("POST /admin/lockouts/reset", p.resetLockouts)
	p.handle("GET /admin/users", p.users)
	p.handle("POST /admin/users", p.createUser)
	p.handle("POST /admin/users/disable", p.setDisabled(true))
	p.handle("POST /admin/users/enable", p.setDisabled(false))
	p.handle("POST /admin/users/roles/add", p.userRole(true))
	p.handle("POST /admin/users/roles/remove", p.userRole(false))
	p.handle("GET /admin/roles", p.roles)
	p.handle("POST /admin/roles", p.createRole)
	p.handle("POST /admin/roles/delete", p.deleteRole)
	p.handle("POST /admin/roles/grant", p.grant(true))
	p.handle("POST /admin/roles/revoke", p.grant(false))
	p.handle("GET /admin/deliveries", p.deliveries)
	p.handle("POST /admin/deliveries/retry", p.retryDelivery)
	p.handle("/admin/", p.notFound)
}

// ServeHTTP implements http.Handler. Every path but the login form and
// the style sheet needs a live admin session (without one: 303 to the
// login form), and every method but GET and HEAD the same-origin rule and
// the session's CSRF token in the form's csrf_token field (otherwise 403,
// and nothing changes), before the request reaches a page.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	api := p.api.Load()
	if api == nil || p.svc == nil {
		p.plain(w, http.StatusServiceUnavailable, "The admin page is not available.")
		return
	}
	switch r.URL.Path {
	case cssPath:
		p.serveCSS(w, r)
		return
	case loginPath:
		p.serveLogin(w, r, api)
		return
	}
	h.Set("Cache-Control", "no-store")
	c, csrf, err := api.AdminSession(r)
	switch {
	case errors.Is(err, admin.ErrUnauthenticated):
		http.Redirect(w, r, loginPath, http.StatusSeeOther)
		return
	case err != nil:
		p.log.ErrorContext(r.Context(), "admin page: checking the admin session", "request_id", h.Get("X-Request-Id"), "error", err)
		p.plain(w, http.StatusServiceUnavailable, "The admin session could not be checked; try again later.")
		return
	}
	s := session{caller: c, csrf: csrf}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if status, msg := p.checkForm(r, api); status != 0 {
			p.render(w, status, "error", view{Title: "Refused", Error: msg}, s)
			return
		}
	}
	p.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
}

// sameOrigin is the HTTP API's same-origin rule (httpapi.Server.SameOrigin:
// the Origin header, or Sec-Fetch-Site when the browser sends no Origin)
// with one case that the page's own Referrer-Policy makes: a browser posts
// a form from a page with "Referrer-Policy: no-referrer" with the origin
// hidden, "Origin: null", and says in Sec-Fetch-Site where it came from.
// Such a form passes only when Sec-Fetch-Site is same-origin (an opaque
// origin such as a sandboxed frame's is cross-site); a browser that sends
// no Sec-Fetch-Site is refused.
func sameOrigin(api *httpapi.Server, r *http.Request) bool {
	if r.Header.Get("Origin") == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	return api.SameOrigin(r)
}

// checkForm checks a form's proof that the admin's own page sent it: the
// same-origin rule (sameOrigin) and the session's CSRF token in
// csrf_token, compared in constant time. It returns 0 when both hold.
func (p *Page) checkForm(r *http.Request, api *httpapi.Server) (int, string) {
	if !sameOrigin(api, r) {
		return http.StatusForbidden, "A form sent from another site's page is refused."
	}
	if err := r.ParseForm(); err != nil {
		return http.StatusBadRequest, "The form could not be read."
	}
	cookie, err := r.Cookie(httpapi.AdminCookie)
	if err != nil || !tokens.CSRFValid(cookie.Value, r.PostForm.Get("csrf_token")) {
		return http.StatusForbidden, "The form's CSRF token is missing or wrong: reload the page and try again."
	}
	return 0, ""
}

func (p *Page) serveCSS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		p.plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	// The URL the pages use names the sheet's hash: a new binary's sheet
	// has a new URL, so the old one may be kept for good.
	if r.URL.RawQuery == strings.TrimPrefix(p.cssURL, cssPath+"?") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(styleSheet)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(styleSheet)
	}
}

// view is what the layout shows around a page's Data.
type view struct {
	Title string
	// Section is the navigation's current entry.
	Section string
	Notice  string
	Error   string
	Data    any

	// Filled in by render.
	Admin, CSRF, CSS string
}

// render writes the page name with v, for the admin of s (none on the
// login form).
func (p *Page) render(w http.ResponseWriter, status int, name string, v view, s session) {
	v.Admin, v.CSRF, v.CSS = s.caller.Username, s.csrf, p.cssURL
	v.Error = sentence(v.Error)
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.log.Error("admin page: rendering", "page", name, "request_id", w.Header().Get("X-Request-Id"), "error", err)
		p.plain(w, http.StatusInternalServerError, "The page could not be shown.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// plain answers with a short text, for when no page can be shown.
func (p *Page) plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, msg)
}

// failure is the status and sentence a page shows for an admin
// operation's error: the service's own words for bad input (400), what
// does not exist (404), a conflict (409) or a part not configured (503);
// anything else is logged and shown as a failure to try again (503).
func (p *Page) failure(r *http.Request, err error) (int, string) {
	// admin.Message drops the sentinel: "role \"x\" already exists"
	// reads better without it, "signal delivery 9: not found" not.
	msg := admin.Message(err)
	if errors.Is(err, sdk.ErrNotFound) {
		msg = err.Error()
	}
	switch {
	case errors.Is(err, sdk.ErrInvalidArgument):
		return http.StatusBadRequest, msg
	case errors.Is(err, sdk.ErrNotFound):
		return http.StatusNotFound, msg
	case errors.Is(err, sdk.ErrConflict):
		return http.StatusConflict, msg
	case errors.Is(err, admin.ErrUnavailable):
		return http.StatusServiceUnavailable, msg
	}
	p.log.ErrorContext(r.Context(), "admin page: operation failed", "path", r.URL.Path, "error", err)
	return http.StatusServiceUnavailable, "The operation failed; try again later."
}

// fail shows the error page for err.
func (p *Page) fail(w http.ResponseWriter, r *http.Request, s session, err error) {
	status, msg := p.failure(r, err)
	p.render(w, status, "error", view{Title: "Error", Error: msg}, s)
}

func (p *Page) notFound(w http.ResponseWriter, _ *http.Request, s session) {
	p.render(w, http.StatusNotFound, "error", view{Title: "Not found", Error: "There is no such page."}, s)
}

// outcome is what a page shows above its content: a notice after a change
// (carried in the redirect's query as a code from notices, never as text),
// or an error with its status when a form was refused.
type outcome struct {
	Status        int
	Notice, Error string
}

// notices are the sentences a redirect after a change may name; %d is
// the query's n.
var notices = map[string]string{
	"logged-out":    "You have logged out.",
	"reset":         "Lockout counters reset: %d.",
	"user-created":  "The user was created.",
	"user-disabled": "The user is disabled; their sessions have ended.",
	"user-enabled":  "The user is enabled.",
	"unchanged":     "Nothing needed changing.",
	"role-added":    "The role was given to the user.",
	"role-removed":  "The role was taken from the user.",
	"role-created":  "The role was created.",
	"role-deleted":  "The role was deleted.",
	"granted":       "Permissions granted: %d.",
	"revoked":       "Permissions revoked: %d.",
	"retried":       "The delivery is queued again.",
}

// outcomeOf reads the notice a redirect named.
func outcomeOf(q url.Values) outcome {
	msg, ok := notices[q.Get("done")]
	if !ok {
		return outcome{Status: http.StatusOK}
	}
	if strings.Contains(msg, "%d") {
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			return outcome{Status: http.StatusOK}
		}
		msg = fmt.Sprintf(msg, n)
	}
	return outcome{Status: http.StatusOK, Notice: msg}
}

// refused is the outcome of a form the service refused.
func (p *Page) refused(r *http.Request, err error) outcome {
	status, msg := p.failure(r, err)
	return outcome{Status: status, Error: msg}
}

// done answers a change with a redirect (303) to path, keeping the list
// query keep and naming the notice code (with n).
func done(w http.ResponseWriter, r *http.Request, path string, keep url.Values, code string, n int) {
	q := url.Values{}
	for k, v := range keep {
		q[k] = v
	}
	q.Set("done", code)
	if strings.Contains(notices[code], "%d") {
		q.Set("n", strconv.Itoa(n))
	}
	http.Redirect(w, r, path+"?"+q.Encode(), http.StatusSeeOther)
}

// kept returns the values of q's keys named, the state of a list (its
// filters and page) that a form's redirect brings the admin back to.
func kept(q url.Values, keys ...string) url.Values {
	out := url.Values{}
	for _, k := range keys {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// pager is a list's place and its links to the pages beside it.
type pager struct {
	From, To int
	Total    int64
	Prev     string
	Next     string
	Shown    bool
}

// paginate builds the pager of a page of items, whose links keep the
// list's query q.
func paginate[T any](path string, q url.Values, pg admin.PageOf[T]) pager {
	pgr := pager{From: pg.Offset + 1, To: pg.Offset + len(pg.Items), Total: pg.Total, Shown: len(pg.Items) > 0}
	link := func(offset int) string {
		c := url.Values{}
		for k, v := range q {
			if k != "offset" && k != "done" && k != "n" {
				c[k] = v
			}
		}
		if offset > 0 {
			c.Set("offset", strconv.Itoa(offset))
		}
		return withQuery(path, c.Encode())
	}
	if prev := pg.Prev(); prev >= 0 {
		pgr.Prev = link(prev)
	}
	if next := pg.Next(); next >= 0 {
		pgr.Next = link(next)
	}
	return pgr
}

// Interface guards
var _ http.Handler = (*Page)(nil)
