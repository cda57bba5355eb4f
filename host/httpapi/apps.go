package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/storage"
)

// appChallenge is the WWW-Authenticate header of a 401 invalid_client.
const appChallenge = `Bearer realm="portcullis"`

// requireApp wraps an endpoint for apps: the request must carry a live app
// key (`portcullis apps create`) as `Authorization: Bearer <app key>`, and
// next is called with the app. Otherwise it answers, without calling next:
//
//   - 401 invalid_client, with WWW-Authenticate: Bearer realm="portcullis",
//     when the header is missing, is not one Bearer credential, or holds a
//     key that is not a live app key. Malformed, unknown and revoked keys
//     get the same answer, byte for byte, so it never tells whether a key
//     exists;
//   - 503 backend_unavailable when the key cannot be checked (the database
//     does not answer, or the API was built without Options.Apps): it
//     fails closed.
//
// A revoked key may still be accepted for a few seconds (the Checker's
// cache, appkeys.DefaultCacheTTL).
func (s *Server) requireApp(next func(w http.ResponseWriter, r *http.Request, app storage.AppKey)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Apps == nil {
			s.log.ErrorContext(r.Context(), "an endpoint for apps was called, but the API has no app key checker", "request_id", w.Header().Get("X-Request-Id"))
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "app keys cannot be checked; try again later", nil)
			return
		}
		key, problem := bearerCredential(r.Header)
		if problem != "" {
			refuseApp(w, problem)
			return
		}
		app, err := s.opts.Apps.Check(r.Context(), key)
		switch {
		case errors.Is(err, appkeys.ErrInvalidKey):
			refuseApp(w, "the app key is not valid")
		case err != nil:
			s.log.ErrorContext(r.Context(), "checking an app key", "request_id", w.Header().Get("X-Request-Id"), "error", err)
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the app key could not be checked; try again later", nil)
		default:
			next(w, r, app)
		}
	}
}

// bearerCredential returns the credential of the request's one
// Authorization header of the Bearer scheme (in any case, RFC 7235), or
// what is wrong with the header.
func bearerCredential(h http.Header) (credential, problem string) {
	const missing = "this endpoint is for apps: send an app key as Authorization: Bearer <app key>"
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", missing
	case 1:
	default:
		return "", "send one Authorization header, not several"
	}
	scheme, credential, _ := strings.Cut(values[0], " ")
	credential = strings.Trim(credential, " \t")
	if !strings.EqualFold(scheme, "Bearer") || credential == "" {
		return "", missing
	}
	return credential, ""
}

// refuseApp answers 401 invalid_client.
func refuseApp(w http.ResponseWriter, description string) {
	w.Header().Set("WWW-Authenticate", appChallenge)
	writeError(w, http.StatusUnauthorized, codeInvalidClient, description, nil)
}

// appCaller reports whether a request to an endpoint open to everyone
// comes from an app: it carries an Authorization header, which must then
// hold a live app key. ok is false when it has answered: 401 for a key
// that is not valid, 503 when keys cannot be checked. A request without
// the header is not an app's, and ok.
func (s *Server) appCaller(w http.ResponseWriter, r *http.Request) (app, ok bool) {
	if len(r.Header.Values("Authorization")) == 0 {
		return false, true
	}
	answered := true
	s.requireApp(func(http.ResponseWriter, *http.Request, storage.AppKey) { answered = false })(w, r)
	return !answered, !answered
}
