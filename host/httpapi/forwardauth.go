package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

// The headers forward-auth answers a valid request with; a proxy copies
// them to the upstream.
const (
	headerUser    = "X-Portcullis-User"
	headerUserID  = "X-Portcullis-User-Id"
	headerSession = "X-Portcullis-Session"
	// headerRoles lists the user's roles, comma-separated (a role name
	// holds no comma nor space); empty when it has none, or when they did
	// not fit in its token (permissions_overflow).
	headerRoles = "X-Portcullis-Roles"
)

// handleForwardAuth decides a proxied request for nginx auth_request,
// Traefik ForwardAuth and Caddy forward_auth: GET /v1/forward-auth. A
// valid bearer access token (verified here, without a database read) or an
// active session cookie → 200 with the user's headers. The roles are the
// token's (as they were when it was issued), or, for a cookie, read with
// the session (the users table's as they are now, with those the login's
// backend vouched for). Otherwise 401 with
// WWW-Authenticate, or, for a browser when a login URL is configured, a
// 302 to it carrying the original URL.
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if len(r.Header.Values("Authorization")) > 0 {
		token, problem := bearerCredential(r.Header)
		if problem != "" {
			s.forwardAuthRefused(w, r, `Bearer realm="portcullis", error="invalid_request"`, "the Authorization header must be one Bearer access token")
			return
		}
		claims, err := s.opts.Tokens.Verify(r.Context(), token)
		var refused *accesstoken.Error
		switch {
		case err == nil:
			s.forwardAuthGranted(w, claims.Username, claims.Subject, claims.SessionID, claims.Roles)
		case errors.As(err, &refused) && refused.Type != accesstoken.ErrUnexpected:
			s.forwardAuthRefused(w, r, `Bearer realm="portcullis", error="invalid_token"`, "the access token is not valid")
		default:
			s.log.ErrorContext(r.Context(), "verifying an access token", "request_id", w.Header().Get("X-Request-Id"), "error", err)
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the token could not be checked; try again later", nil)
		}
		return
	}
	sess, _, reason, err := s.cookieSession(r)
	switch {
	case err != nil:
		s.log.ErrorContext(r.Context(), "reading a session", "request_id", w.Header().Get("X-Request-Id"), "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the session could not be checked; try again later", nil)
	case reason == reasonActive:
		authz, err := s.opts.Tokens.CurrentAuthz(r.Context(), sess)
		if err != nil {
			s.log.ErrorContext(r.Context(), "reading a user's roles", "request_id", w.Header().Get("X-Request-Id"), "error", err)
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the session could not be checked; try again later", nil)
			return
		}
		s.forwardAuthGranted(w, sess.Username, sess.Subject, sess.ID, authz.Roles)
	default:
		s.forwardAuthRefused(w, r, `Bearer realm="portcullis"`, "a bearer access token or a session is required")
	}
}

func (s *Server) forwardAuthGranted(w http.ResponseWriter, username, subject, session string, roles []string) {
	h := w.Header()
	h.Set(headerUser, username)
	h.Set(headerUserID, subject)
	h.Set(headerSession, session)
	h.Set(headerRoles, strings.Join(roles, ","))
	w.WriteHeader(http.StatusOK)
}

// forwardAuthRefused answers 401, or 302 to the login URL for a browser.
func (s *Server) forwardAuthRefused(w http.ResponseWriter, r *http.Request, challenge, description string) {
	if s.opts.LoginURL != "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		target, err := url.Parse(s.opts.LoginURL)
		if err == nil {
			if original := s.originalURL(r); original != "" {
				q := target.Query()
				q.Set("rd", original)
				target.RawQuery = q.Encode()
			}
			http.Redirect(w, r, target.String(), http.StatusFound)
			return
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, codeInvalidToken, description, nil)
}

// originalURL is the URL the proxy was asked for, from X-Original-URL
// (nginx) or X-Forwarded-Proto, -Host and -Uri (Traefik, Caddy); only a
// trusted proxy's word counts, and only an absolute http(s) URL.
func (s *Server) originalURL(r *http.Request) string {
	if !s.trusted.contains(peerAddr(r)) {
		return ""
	}
	raw := r.Header.Get("X-Original-URL")
	if raw == "" {
		proto, host := r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host")
		if proto == "" || host == "" {
			return ""
		}
		raw = proto + "://" + host + r.Header.Get("X-Forwarded-Uri")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}
