package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
)

// AdminCookie is the admin session cookie's name. It is its own cookie,
// scoped to the whole host (the page at /admin/ and the API at
// /v1/admin/ share it), SameSite=Strict and HttpOnly.
const AdminCookie = "portcullis_admin"

const codeAdminRequired = "admin_required"

// adminHandler is an endpoint for admins: c is the authenticated admin.
type adminHandler func(w http.ResponseWriter, r *http.Request, c admin.Caller)

// requireAdmin authenticates an admin endpoint's caller: an admin token
// (Authorization: Bearer pcat_...) or the admin session cookie. A write
// (any method but GET and HEAD) with the cookie also needs the session's
// CSRF token in X-CSRF-Token and no other site's Origin. Anything else is
// 401 admin_required (403 csrf_failed for the CSRF proof); the answer
// never tells which part was wrong beyond that.
func (s *Server) requireAdmin(next adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Admin == nil {
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the admin API is not available", nil)
			return
		}
		c, secret, err := s.adminCaller(r)
		switch {
		case errors.Is(err, admin.ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis-admin"`)
			writeError(w, http.StatusUnauthorized, codeAdminRequired, "this endpoint is for admins: log in at /v1/admin/login, or send an admin token as Authorization: Bearer <token>", nil)
			return
		case err != nil:
			s.log.ErrorContext(r.Context(), "checking an admin's credentials", "request_id", w.Header().Get("X-Request-Id"), "error", err)
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the admin's credentials could not be checked; try again later", nil)
			return
		}
		if c.Via == "session" && r.Method != http.MethodGet && r.Method != http.MethodHead && !s.csrfOK(w, r, secret) {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next(w, r, c)
	}
}

// adminCaller finds the request's admin: its admin token if it sends an
// Authorization header (a request with one is judged by it alone), else
// its admin session cookie, whose value it returns as secret.
func (s *Server) adminCaller(r *http.Request) (c admin.Caller, secret string, err error) {
	if len(r.Header.Values("Authorization")) > 0 {
		token, problem := bearerCredential(r.Header)
		if problem != "" {
			return admin.Caller{}, "", admin.ErrUnauthenticated
		}
		c, err = s.opts.Admin.TokenCaller(r.Context(), token)
		return c, "", err
	}
	return s.adminCookie(r)
}

// adminCookie finds the admin of the request's admin session cookie, and
// returns the cookie's value as secret.
func (s *Server) adminCookie(r *http.Request) (c admin.Caller, secret string, err error) {
	cookie, cerr := r.Cookie(AdminCookie)
	if cerr != nil || cookie.Value == "" {
		return admin.Caller{}, "", admin.ErrUnauthenticated
	}
	c, err = s.opts.Admin.SessionCaller(r.Context(), cookie.Value)
	return c, cookie.Value, err
}

// AdminSession returns the admin of a request's admin session cookie and
// the session's CSRF token, for the admin page; err is
// admin.ErrUnauthenticated without a live session.
func (s *Server) AdminSession(r *http.Request) (c admin.Caller, csrf string, err error) {
	if s.opts.Admin == nil {
		return admin.Caller{}, "", admin.ErrUnavailable
	}
	c, secret, err := s.adminCookie(r)
	if err != nil {
		return admin.Caller{}, "", err
	}
	return c, tokens.CSRFToken(secret), nil
}

// setAdminCookie sets (or with an empty value, clears) the admin session
// cookie.
func (s *Server) setAdminCookie(w http.ResponseWriter, value string, expires time.Time) {
	cookie := &http.Cookie{Name: AdminCookie, Value: value, Path: "/", HttpOnly: true, Secure: s.opts.Cookie.Secure, SameSite: http.SameSiteStrictMode}
	if value == "" {
		cookie.MaxAge = -1
	} else {
		cookie.Expires = expires.UTC()
	}
	http.SetCookie(w, cookie)
}

// adminLoginBody is POST /v1/admin/login's body.
type adminLoginBody struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
}

// handleAdminLogin logs an admin in and sets the admin session cookie:
// POST /v1/admin/login. Admins' logins go through the lockout rules,
// counted apart from users' logins.
func (s *Server) handleAdminLogin(w http.ResponseWriter, r *http.Request) {
	if s.opts.Admin == nil {
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the admin API is not available", nil)
		return
	}
	if !s.sameOrigin(r) {
		writeError(w, http.StatusForbidden, codeCSRF, "a login from another site's page is refused", nil)
		return
	}
	var body adminLoginBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	if body.Username == nil || body.Password == nil {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "username and password are required", nil)
		return
	}
	res, answered := s.AdminLogin(w, r, *body.Username, *body.Password)
	switch {
	case answered:
	case res.Status != http.StatusOK:
		writeAdminRefusal(w, res)
	default:
		writeJSON(w, http.StatusOK, adminSessionBody(res.Caller, res.Secret, res.Session.ExpiresAt))
	}
}

// AdminLogin checks an admin's name and password and, on success, sets
// the admin session cookie. A refusal (res.Status not 200) is left to the
// caller to answer in its own form, JSON or a page; answered is set only
// when the host was too busy to take the login on and has answered. The
// admin page's form calls it too.
func (s *Server) AdminLogin(w http.ResponseWriter, r *http.Request, username, pw string) (res admin.LoginResult, answered bool) {
	name, err := usernames.Canonical(username)
	switch {
	case err != nil:
		return admin.LoginResult{Status: http.StatusBadRequest, Code: codeInvalidRequest, Description: err.Error()}, false
	case len(pw) > maxPasswordBytes || pw == "":
		return admin.LoginResult{Status: http.StatusBadRequest, Code: codeInvalidRequest,
			Description: "password must be 1 to " + strconv.Itoa(maxPasswordBytes) + " bytes"}, false
	}
	client, _ := s.trusted.clientFacts(r, nil)
	done, admitted := s.admit.admit(w, r, client.IP)
	if !admitted {
		return admin.LoginResult{Status: http.StatusServiceUnavailable}, true
	}
	defer done()
	res = s.opts.Admin.Login(r.Context(), name, pw, client, w.Header().Get("X-Request-Id"))
	if res.Status == http.StatusOK {
		s.setAdminCookie(w, res.Secret, res.Session.ExpiresAt)
	} else if res.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(res.RetryAfter.Seconds())), 10))
	}
	return res, false
}

// writeAdminRefusal answers a refused admin login in JSON.
func writeAdminRefusal(w http.ResponseWriter, res admin.LoginResult) {
	writeError(w, res.Status, res.Code, res.Description, nil)
}

func adminSessionBody(c admin.Caller, secret string, expires time.Time) map[string]any {
	body := map[string]any{"admin": map[string]string{"id": c.AdminID, "username": c.Username}, "via": c.Via}
	if secret != "" {
		body["csrf_token"] = tokens.CSRFToken(secret)
		body["session_id"] = c.SessionID
	}
	if !expires.IsZero() {
		body["expires_at"] = expires.UTC().Format(time.RFC3339)
	}
	return body
}

// handleAdminSession returns the caller: GET /v1/admin/session.
func (s *Server) handleAdminSession(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	secret := ""
	if c.Via == "session" {
		if cookie, err := r.Cookie(AdminCookie); err == nil {
			secret = cookie.Value
		}
	}
	writeJSON(w, http.StatusOK, adminSessionBody(c, secret, time.Time{}))
}

// handleAdminLogout ends the admin session: POST /v1/admin/logout.
func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	if err := s.opts.Admin.Logout(r.Context(), c); err != nil {
		s.adminFailed(w, r, err)
		return
	}
	if c.Via == "session" {
		s.setAdminCookie(w, "", time.Time{})
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// adminRegisterBody is POST /v1/admin/register's body.
type adminRegisterBody struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// handleAdminRegister creates an admin account: POST /v1/admin/register,
// only by a logged-in admin.
func (s *Server) handleAdminRegister(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	var body adminRegisterBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	adm, err := s.opts.Admin.Register(r.Context(), c, body.Username, body.Email, body.Password)
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, adminView(adm))
}

func adminView(a storage.Admin) map[string]any {
	return map[string]any{"id": a.ID, "username": a.Username, "email": a.Email, "disabled": a.Disabled,
		"created_at": a.CreatedAt.UTC().Format(time.RFC3339), "created_by": a.CreatedBy}
}

// writeBadRequest answers a body that could not be decoded.
func writeBadRequest(w http.ResponseWriter, err error) {
	var bad *badRequest
	if errors.As(err, &bad) {
		bad.write(w)
		return
	}
	writeError(w, http.StatusBadRequest, codeInvalidRequest, err.Error(), nil)
}

// adminFailed answers an admin operation's error: 400 for bad input, 404
// for what does not exist, 409 for a conflict, 503 otherwise (logged).
func (s *Server) adminFailed(w http.ResponseWriter, r *http.Request, err error) {
	msg := admin.Message(err)
	switch {
	case errors.Is(err, sdk.ErrInvalidArgument):
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg, nil)
	case errors.Is(err, sdk.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, msg, nil)
	case errors.Is(err, sdk.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", msg, nil)
	case errors.Is(err, admin.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, msg, nil)
	default:
		s.log.ErrorContext(r.Context(), "admin operation", "request_id", w.Header().Get("X-Request-Id"), "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the operation failed; try again later", nil)
	}
}
