package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	sdkreq "github.com/portcullis-auth/portcullis/sdk/authreq"
)

// authRequestRoutes registers the authorization-request endpoints, for
// apps (an app key is required).
func (s *Server) authRequestRoutes() {
	s.mux.HandleFunc("POST /v1/authorization-requests", s.requireApp(s.handleCreateAuthRequest))
	s.mux.HandleFunc("GET /v1/authorization-requests/{id}", s.requireApp(s.handleGetAuthRequest))
	s.mux.HandleFunc("POST /v1/authorization-requests/{id}/check", s.requireApp(s.handleCheckAuthRequest))
	s.mux.HandleFunc("POST /v1/authorization-requests/{id}/reset", s.requireApp(s.handleResetAuthRequest))
	for _, d := range []struct{ verb, state string }{
		{"grant", storage.AuthRequestGranted}, {"deny", storage.AuthRequestDenied}, {"cancel", storage.AuthRequestCancelled},
	} {
		s.mux.HandleFunc("POST /v1/authorization-requests/{id}/"+d.verb, s.requireApp(s.handleDecideAuthRequest(d.state)))
	}
}

// AuthRequestView is an authorization request as the API shows it: never
// its challenge's state.
func AuthRequestView(r storage.AuthRequest) map[string]any {
	v := map[string]any{
		"id": r.ID, "slug": r.Slug, "user": map[string]string{"id": r.UserID, "username": r.Username},
		"title": r.Title, "description": r.Description, "backend": r.Backend, "state": r.State,
		"expires_at": r.ExpiresAt.UTC().Format(time.RFC3339), "created_at": r.CreatedAt.UTC().Format(time.RFC3339),
		"wrong_answers": r.WrongAnswers, "delivery": r.Delivery, "bound": r.SessionID != "",
	}
	if len(r.Data) > 0 {
		v["data"] = json.RawMessage(r.Data)
	}
	if r.Reason != "" {
		v["reason"] = r.Reason
	}
	if !r.DecidedAt.IsZero() {
		v["decided_at"] = r.DecidedAt.UTC().Format(time.RFC3339)
	}
	return v
}

type createAuthRequestBody struct {
	Slug        string          `json:"slug"`
	User        string          `json:"user"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Data        json.RawMessage `json:"data"`
	Backend     string          `json:"backend"`
	// Expiration is in seconds.
	Expiration int64 `json:"expiration"`
	// Token, an access token of the user, binds the request to its
	// session.
	Token string `json:"token"`
}

func (s *Server) authRequestsAvailable(w http.ResponseWriter) bool {
	if s.opts.AuthRequests == nil {
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "authorization requests are not available", nil)
		return false
	}
	return true
}

func (s *Server) handleCreateAuthRequest(w http.ResponseWriter, r *http.Request, app storage.AppKey) {
	if !s.authRequestsAvailable(w) {
		return
	}
	var body createAuthRequestBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	if body.Expiration < 0 || body.Expiration > int64(365*24*time.Hour/time.Second) {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "expiration is a number of seconds", nil)
		return
	}
	in := authreq.NewRequest{Slug: body.Slug, User: body.User, Title: body.Title, Description: body.Description,
		Data: body.Data, Backend: body.Backend, Expiration: time.Duration(body.Expiration) * time.Second, App: app.Name}
	if string(body.Data) == "null" {
		in.Data = nil
	}
	if body.Token != "" {
		claims, ok := s.bindingToken(w, r, body.Token)
		if !ok {
			return
		}
		if in.User == "" {
			in.User = claims.Username
		} else if in.User != claims.Username {
			writeError(w, http.StatusBadRequest, codeInvalidRequest, "user is not the token's user", nil)
			return
		}
		in.SessionID = claims.SessionID
	}
	req, err := s.opts.AuthRequests.Create(r.Context(), in)
	if err != nil {
		s.authRequestFailed(w, r, err, storage.AuthRequest{})
		return
	}
	writeJSON(w, http.StatusCreated, AuthRequestView(req))
}

// bindingToken verifies the access token a request is bound with, and
// its session; ok is false when it has answered.
func (s *Server) bindingToken(w http.ResponseWriter, r *http.Request, token string) (*accesstoken.Claims, bool) {
	if len(token) > accesstoken.MaxLength {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "token is not a valid access token", nil)
		return nil, false
	}
	got, err := s.opts.Tokens.Introspect(r.Context(), token)
	if err != nil {
		s.log.ErrorContext(r.Context(), "binding an authorization request: reading the token's session", "request_id", w.Header().Get("X-Request-Id"), "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not read the token's session; try again later", nil)
		return nil, false
	}
	if !got.Active {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "token is not a valid access token of a live session", nil)
		return nil, false
	}
	return got.Claims, true
}

// ownRequest answers 404, as for an unknown id, unless the request was
// created by this app: an app sees and decides only its own requests
// (and never a two-factor login's, which the host makes). ok is false
// when it has answered.
func (s *Server) ownRequest(w http.ResponseWriter, r *http.Request, app storage.AppKey) bool {
	req, err := s.opts.AuthRequests.Store().AuthRequestByID(r.Context(), r.PathValue("id"))
	if err == nil && req.App != app.Name {
		err = sdk.ErrNotFound
	}
	if err != nil {
		s.authRequestFailed(w, r, err, storage.AuthRequest{})
		return false
	}
	return true
}

func (s *Server) handleGetAuthRequest(w http.ResponseWriter, r *http.Request, app storage.AppKey) {
	if !s.authRequestsAvailable(w) || !s.ownRequest(w, r, app) {
		return
	}
	req, err := s.opts.AuthRequests.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.authRequestFailed(w, r, err, req)
		return
	}
	writeJSON(w, http.StatusOK, AuthRequestView(req))
}

type checkBody struct {
	Code        *string           `json:"code"`
	Credentials map[string]string `json:"credentials"`
}

func (s *Server) handleCheckAuthRequest(w http.ResponseWriter, r *http.Request, app storage.AppKey) {
	if !s.authRequestsAvailable(w) || !s.ownRequest(w, r, app) {
		return
	}
	var body checkBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	if len(body.Credentials) > maxCredentials {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "credentials has too many entries", nil)
		return
	}
	var answer sdkreq.Answer
	if body.Code != nil {
		answer.Code = *body.Code
	}
	answer.Credentials = body.Credentials
	valid, req, err := s.opts.AuthRequests.Check(r.Context(), r.PathValue("id"), answer)
	if err != nil {
		s.authRequestFailed(w, r, err, req)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": valid, "state": req.State, "wrong_answers": req.WrongAnswers})
}

func (s *Server) handleDecideAuthRequest(to string) func(http.ResponseWriter, *http.Request, storage.AppKey) {
	return func(w http.ResponseWriter, r *http.Request, app storage.AppKey) {
		if !s.authRequestsAvailable(w) || !s.ownRequest(w, r, app) {
			return
		}
		req, err := s.opts.AuthRequests.Decide(r.Context(), r.PathValue("id"), to, "app")
		if err != nil {
			s.authRequestFailed(w, r, err, req)
			return
		}
		writeJSON(w, http.StatusOK, AuthRequestView(req))
	}
}

type authResetBody struct {
	Expiration int64 `json:"expiration"`
}

func (s *Server) handleResetAuthRequest(w http.ResponseWriter, r *http.Request, app storage.AppKey) {
	if !s.authRequestsAvailable(w) || !s.ownRequest(w, r, app) {
		return
	}
	var body authResetBody
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			writeBadRequest(w, err)
			return
		}
	}
	if body.Expiration < 0 || body.Expiration > int64(365*24*time.Hour/time.Second) {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "expiration is a number of seconds", nil)
		return
	}
	req, err := s.opts.AuthRequests.Reset(r.Context(), r.PathValue("id"), time.Duration(body.Expiration)*time.Second)
	if err != nil {
		s.authRequestFailed(w, r, err, req)
		return
	}
	writeJSON(w, http.StatusOK, AuthRequestView(req))
}

// authRequestFailed answers an error: 400, 404, 409 (with the request's
// state), or 503 (logged).
func (s *Server) authRequestFailed(w http.ResponseWriter, r *http.Request, err error, req storage.AuthRequest) {
	msg := admin.Message(err)
	switch {
	case errors.Is(err, sdk.ErrInvalidArgument):
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg, nil)
	case errors.Is(err, sdk.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "no such authorization request", nil)
	case errors.Is(err, sdk.ErrConflict):
		extra := map[string]any{}
		if req.ID != "" {
			extra["state"] = req.State
		}
		code := "not_waiting"
		if errors.Is(err, authreq.ErrSessionEnded) {
			code = "session_ended"
		}
		writeError(w, http.StatusConflict, code, msg, extra)
	case errors.Is(err, authreq.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, msg, nil)
	default:
		s.log.ErrorContext(r.Context(), "authorization request", "request_id", w.Header().Get("X-Request-Id"), "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the operation failed; try again later", nil)
	}
}
