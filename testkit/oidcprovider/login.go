package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"html/template"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	loginPath = "/login"
	// csrfCookie ties the login form to the browser that fetched it, so
	// the form round trip needs a cookie jar as a real browser has one.
	csrfCookie = "oidcprovider_login"
)

// Form fields and submit buttons of the login page, which Login and Deny
// fill in as a person would.
const (
	fieldAuthRequestID = "authRequestID"
	fieldCSRF          = "csrf"
	fieldUsername      = "username"
	fieldPassword      = "password"
	fieldAction        = "action"
	actionSignIn       = "sign-in"
	actionDeny         = "deny"
)

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form id="login" method="post" action="/login">
<input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Username <input type="text" name="username" value="{{.Username}}" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="sign-in">Sign in</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form>
</body>
</html>
`))

// login is the user interface the op package leaves to its caller: it
// checks the password and hands the auth request back to the op's
// callback, or answers access_denied when the user refuses.
type login struct {
	storage  *storage
	provider *op.Provider
	callback func(context.Context, string) string
}

func (l *login) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		l.showForm(w, r)
	case http.MethodPost:
		l.submit(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (l *login) showForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get(fieldAuthRequestID)
	if _, ok := l.storage.authRequest(id); !ok {
		http.Error(w, "unknown sign-in request", http.StatusBadRequest)
		return
	}
	csrf := rand.Text()
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: csrf, Path: loginPath,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	render(w, loginView{AuthRequestID: id, CSRF: csrf})
}

func (l *login) submit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse form", http.StatusBadRequest)
		return
	}
	cookie, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(r.PostForm.Get(fieldCSRF))) != 1 {
		http.Error(w, "the sign-in form was not fetched by this browser", http.StatusForbidden)
		return
	}
	id := r.PostForm.Get(fieldAuthRequestID)
	req, ok := l.storage.authRequest(id)
	if !ok {
		http.Error(w, "unknown sign-in request", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get(fieldAction) == actionDeny {
		// The op package formats the error redirect, with the state, to
		// the client's redirect_uri; the request cannot be resumed.
		_ = l.storage.DeleteAuthRequest(r.Context(), id)
		op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("the user refused the request"), l.provider)
		return
	}
	username := r.PostForm.Get(fieldUsername)
	if err := l.storage.checkPassword(id, username, r.PostForm.Get(fieldPassword)); err != nil {
		render(w, loginView{AuthRequestID: id, CSRF: cookie.Value, Username: username, Error: err.Error()})
		return
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}

type loginView struct {
	AuthRequestID, CSRF, Username, Error string
}

func render(w http.ResponseWriter, f loginView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := loginPage.Execute(w, f); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
