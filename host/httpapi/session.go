package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// Cookie configures the session cookie and who may write with it.
type Cookie struct {
	Name     string
	Domain   string
	SameSite http.SameSite
	Secure   bool
	// TrustedOrigins may send cookie-authenticated writes besides the
	// host's own origins (the issuer's and the request's own).
	TrustedOrigins []string
}

const (
	codeNoSession = "invalid_session"
	codeCSRF      = "csrf_failed"
)

// The reasons of session_authentication_check (the seed's).
const (
	reasonActive      = "authenticated_and_active"
	reasonInactive    = "session_inactive"
	reasonUnavailable = "session_unavailable"
)

// handleSessionLogin logs in through the chain, as POST /v1/login does
// (the lockout applies alike), and starts a browser session:
// POST /v1/session.
func (s *Server) handleSessionLogin(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		writeError(w, http.StatusForbidden, codeCSRF, "a login from another site's page is refused", nil)
		return
	}
	s.login(w, r, grantSession)
}

// startSession answers a login the chain granted with a session cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, login *chain.Login, req *sdk.AuthenticateRequest) (string, func(), bool) {
	id := login.Result.Identity
	sess, secret, err := s.opts.Tokens.StartCookieSession(r.Context(), id)
	if err != nil {
		s.log.ErrorContext(r.Context(), "starting a session", "request_id", req.RequestID, "error", err)
		s.opts.Signals.Emit(r.Context(), tokens.Sender, &signals.SessionLoginFailed{UserID: id.Subject, UserType: "user", Reason: reasonUnavailable})
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not start a session; try again later", nil)
		return "", nil, false
	}
	return sess.ID, func() {
		s.setCookie(w, secret, sess.ExpiresAt)
		if to := returnTo(r.Context()); to != "" { // an OAuth2 sign-in's browser goes back
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusOK, sessionBody(sess, secret))
	}, true
}

func sessionBody(sess storage.Session, secret string) map[string]any {
	return map[string]any{
		"user":            map[string]string{"id": sess.Subject, "username": sess.Username},
		"session_id":      sess.ID,
		"csrf_token":      tokens.CSRFToken(secret),
		"expires_at":      sess.ExpiresAt.UTC().Format(time.RFC3339),
		"idle_expires_at": sess.IdleExpiresAt.UTC().Format(time.RFC3339),
	}
}

func (s *Server) setCookie(w http.ResponseWriter, value string, expires time.Time) {
	c := s.opts.Cookie
	cookie := &http.Cookie{
		Name: c.Name, Value: value, Path: "/", Domain: c.Domain, HttpOnly: true, Secure: c.Secure, SameSite: c.SameSite,
	}
	if value == "" {
		cookie.MaxAge = -1
	} else {
		cookie.Expires = expires.UTC()
	}
	http.SetCookie(w, cookie)
}

// session returns the request's cookie session and its secret. ok is false
// when it has answered: 401 without an active session, 503 when the
// session could not be read. It sends session_authentication_check.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (sess storage.Session, secret string, ok bool) {
	sess, secret, reason, err := s.cookieSession(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "reading a session", "request_id", w.Header().Get("X-Request-Id"), "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not read the session; try again later", nil)
		return sess, "", false
	}
	if reason != reasonActive {
		writeError(w, http.StatusUnauthorized, codeNoSession, "there is no active session", nil)
		return sess, "", false
	}
	return sess, secret, true
}

// cookieSession finds the request's active cookie session and sends
// session_authentication_check; reason is reasonActive when it found
// one. err is set only when the session could not be read.
func (s *Server) cookieSession(r *http.Request) (sess storage.Session, secret, reason string, err error) {
	reason = reasonUnavailable
	if c, cerr := r.Cookie(s.opts.Cookie.Name); cerr == nil && c.Value != "" {
		secret = c.Value
		sess, err = s.opts.Tokens.CookieSession(r.Context(), secret)
		switch {
		case err == nil:
			reason = reasonActive
		case errors.Is(err, tokens.ErrNoSession):
			err = nil
			if sess.ID != "" {
				reason = reasonInactive
			}
		default:
			return sess, "", "", err
		}
	}
	s.opts.Signals.Emit(r.Context(), tokens.Sender, &signals.SessionAuthenticationCheck{
		UserID: sess.Subject, IsAuthenticated: reason == reasonActive, Reason: reason,
	})
	return sess, secret, reason, nil
}

// handleSessionStatus returns the session's user: GET /v1/session.
func (s *Server) handleSessionStatus(w http.ResponseWriter, r *http.Request) {
	sess, secret, ok := s.session(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, sessionBody(sess, secret))
}

// handleSessionLogout ends the session: DELETE /v1/session. As every
// cookie-authenticated write, it needs the session's CSRF token in
// X-CSRF-Token and no other site's Origin.
func (s *Server) handleSessionLogout(w http.ResponseWriter, r *http.Request) {
	sess, secret, ok := s.session(w, r)
	if !ok {
		return
	}
	if !s.csrfOK(w, r, secret) {
		return
	}
	_, ended, err := s.opts.Tokens.EndCookieSession(r.Context(), secret)
	if err != nil && !errors.Is(err, tokens.ErrNoSession) {
		s.log.ErrorContext(r.Context(), "ending a session", "request_id", w.Header().Get("X-Request-Id"), "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not end the session; try again later", nil)
		return
	}
	s.setCookie(w, "", time.Time{})
	if ended {
		client, _ := s.trusted.clientFacts(r, nil)
		s.loggedOut(r.Context(), sess.Subject, sess.ID, client)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// csrfOK checks a cookie-authenticated write: the Origin is the host's own
// or trusted, and X-CSRF-Token is the session's. Otherwise it answers 403.
func (s *Server) csrfOK(w http.ResponseWriter, r *http.Request, secret string) bool {
	if !s.sameOrigin(r) {
		writeError(w, http.StatusForbidden, codeCSRF, "a write from another site's page is refused", nil)
		return false
	}
	if !tokens.CSRFValid(secret, r.Header.Get("X-CSRF-Token")) {
		writeError(w, http.StatusForbidden, codeCSRF, "the X-CSRF-Token header must carry the session's csrf_token", nil)
		return false
	}
	return true
}

// sameOrigin reports whether a browser request comes from the host's own
// pages or a trusted origin. A request without Origin passes when the
// browser does not say it is cross-site (Sec-Fetch-Site): programs send
// neither, and the CSRF token still guards them.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	if origin == "null" {
		return false
	}
	for _, o := range s.opts.Cookie.TrustedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	if u, err := url.Parse(s.opts.Issuer); err == nil && strings.EqualFold(u.Scheme+"://"+u.Host, origin) {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); p != "" && s.trusted.contains(peerAddr(r)) {
		scheme = p
	}
	return strings.EqualFold(scheme+"://"+r.Host, origin)
}
