package adminui

import (
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/host/httpapi"
)

// loginData is the login form's: the name typed, shown again after a
// refusal (never the password).
type loginData struct {
	Username string
}

// serveLogin serves the login form (GET) and takes it (POST). It needs
// no session; an admin who has one is sent to the overview.
func (p *Page) serveLogin(w http.ResponseWriter, r *http.Request, api *httpapi.Server) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if _, _, err := api.AdminSession(r); err == nil {
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		o := outcomeOf(r.URL.Query())
		p.render(w, http.StatusOK, "login", view{Title: "Log in", Notice: o.Notice, Data: loginData{}}, session{})
	case http.MethodPost:
		p.login(w, r, api)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
	}
}

// login takes the login form. It has no session to hold a CSRF token, so
// the same-origin rule alone keeps another site's page from logging the
// browser in (login CSRF). The login itself is the admin API's: the
// lockout twins, the admin session and its cookie.
func (p *Page) login(w http.ResponseWriter, r *http.Request, api *httpapi.Server) {
	form := func(status int, msg, username string) {
		p.render(w, status, "login", view{Title: "Log in", Error: msg, Data: loginData{Username: username}}, session{})
	}
	if !sameOrigin(api, r) {
		form(http.StatusForbidden, "A login from another site's page is refused.", "")
		return
	}
	if err := r.ParseForm(); err != nil {
		form(http.StatusBadRequest, "The form could not be read.", "")
		return
	}
	username := r.PostForm.Get("username")
	res, answered := api.AdminLogin(w, r, username, r.PostForm.Get("password"))
	switch {
	case answered:
	case res.Status != http.StatusOK:
		msg := res.Description
		if res.RetryAfter > 0 {
			msg += "; try again in " + retryIn(int(res.RetryAfter.Seconds()+0.999))
		}
		form(res.Status, msg, username)
	default:
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
	}
}

// retryIn words a wait in seconds.
func retryIn(s int) string {
	switch {
	case s < 120:
		return strconv.Itoa(max(s, 1)) + " seconds"
	case s < 2*3600:
		return strconv.Itoa((s+59)/60) + " minutes"
	}
	return strconv.Itoa((s+3599)/3600) + " hours"
}

// logout ends the admin's session and clears the cookie.
func (p *Page) logout(w http.ResponseWriter, r *http.Request, s session) {
	if err := p.api.Load().AdminLogout(w, r, s.caller); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, loginPath+"?done=logged-out", http.StatusSeeOther)
}

// sentence makes a message of the API's (lower case, no full stop) a
// sentence.
func sentence(msg string) string {
	if msg == "" {
		return ""
	}
	first, size := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(first)) + msg[size:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}
