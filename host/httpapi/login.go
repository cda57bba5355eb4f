package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Input bounds.
const (
	maxUsernameBytes   = 255
	maxPasswordBytes   = 4096
	maxCredentials     = 16
	maxCredentialKey   = 64
	maxCredentialValue = 4096
)

// loginBody is POST /v1/login's body. Pointers tell absent from empty.
type loginBody struct {
	Username    *string           `json:"username"`
	Password    *string           `json:"password"`
	Credentials map[string]string `json:"credentials"`
	Client      *clientBody       `json:"client"`
}

// badRequest is a client mistake, answered 400 (or 413 for size).
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &badRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// decodeJSON decodes exactly one JSON object into v, rejecting unknown
// fields and trailing data.
func decodeJSON(r *http.Request, v any) error {
	raw, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	}
	if err != nil {
		return invalid("reading the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return invalid("the request body is empty; send a JSON object")
		case errors.As(err, &typeErr):
			return invalid("field %q must be a %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return invalid("%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return invalid("the request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	// Only whitespace may follow the object. (dec.More is false before a
	// stray '}' or ']', so it would let {...}} through.)
	if rest := bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return invalid("the request body holds more than one JSON value")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "ptr", "string":
		return "string"
	case "map", "struct":
		return "JSON object"
	}
	return goKind
}

func (b *loginBody) validate() error {
	switch {
	case b.Username == nil:
		return invalid("username is required")
	case *b.Username == "":
		return invalid("username must not be empty")
	case len(*b.Username) > maxUsernameBytes:
		return invalid("username is longer than %d bytes", maxUsernameBytes)
	case strings.IndexFunc(*b.Username, unicode.IsControl) >= 0:
		return invalid("username must not contain control characters")
	case b.Password == nil:
		return invalid("password is required")
	case len(*b.Password) > maxPasswordBytes:
		return invalid("password is longer than %d bytes", maxPasswordBytes)
	case strings.IndexByte(*b.Password, 0) >= 0:
		return invalid("password must not contain NUL characters")
	case len(b.Credentials) > maxCredentials:
		return invalid("credentials has more than %d entries", maxCredentials)
	}
	for k, v := range b.Credentials {
		if k == "" || len(k) > maxCredentialKey || len(v) > maxCredentialValue {
			return invalid("credentials keys must be 1 to %d bytes and values at most %d bytes", maxCredentialKey, maxCredentialValue)
		}
	}
	return nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body loginBody
	err := decodeJSON(r, &body)
	if err == nil {
		err = body.validate()
	}
	var client sdk.Client
	if err == nil {
		var ok bool
		if client, ok = s.trusted.clientFacts(r, body.Client); !ok {
			err = invalid("client.ip is not an IP address")
		}
	}
	var bad *badRequest
	if errors.As(err, &bad) {
		writeError(w, bad.status, codeInvalidRequest, bad.msg, nil)
		return
	}

	requestID := w.Header().Get("X-Request-Id")
	req := &sdk.AuthenticateRequest{
		RequestID:   requestID,
		Username:    *body.Username,
		Password:    *body.Password,
		Credentials: body.Credentials,
		Client:      client,
		Path:        r.URL.Path,
	}
	res, err := s.opts.Chain.Authenticate(r.Context(), req)
	log := s.log.With("request_id", requestID, "username", req.Username, "ip", client.IP)
	if err != nil {
		be := &chain.BackendError{}
		backend := "a backend"
		if errors.As(err, &be) {
			backend = fmt.Sprintf("backend %q", be.Backend)
		}
		s.logins.Inc("unavailable")
		log.Warn("login failed closed", "error", err)
		s.opts.Signals.Emit(r.Context(), be.Backend, &sdk.UserLoginUnavailable{
			Username: req.Username, ClientFacts: sdk.ClientFacts{ClientIP: client.IP, UserAgent: client.UserAgent},
			Backend: be.Backend, RequestID: requestID, Path: req.Path,
		})
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, backend+" is unavailable; try again later", nil)
		return
	}
	facts := sdk.ClientFacts{ClientIP: client.IP, UserAgent: client.UserAgent}
	if res.Outcome != chain.Success {
		s.logins.Inc(res.Outcome.String())
		log.Debug("login failed", "outcome", res.Outcome.String(), "backend", res.Backend, "reason", res.Reason)
		s.opts.Signals.Emit(r.Context(), res.Backend, &sdk.UserLoginFailed{
			Username: req.Username, ClientFacts: facts, Backend: res.Backend, Reason: res.Reason,
			RequestID: requestID, Path: req.Path,
		})
		if res.Outcome == chain.Denied {
			s.writeDenied(w, res)
		} else {
			writeError(w, http.StatusUnauthorized, codeInvalidCredentials, "the username or password is wrong", nil)
		}
		return
	}
	pair, err := s.opts.Tokens.Issue(r.Context(), res.Identity)
	if err != nil {
		s.logins.Inc("unavailable")
		log.Error("issuing tokens", "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not issue tokens; try again later", nil)
		return
	}
	s.logins.Inc("success")
	log.Debug("login succeeded", "backend", res.Backend, "subject", res.Identity.Subject)
	s.opts.Signals.Emit(r.Context(), res.Backend, &sdk.UserLoggedIn{
		UserID: res.Identity.Subject, Username: req.Username, UserType: "user", ClientFacts: facts,
		Backend: res.Backend, SessionID: pair.Access.FamilyID, RequestID: requestID, Path: req.Path,
	})
	writeTokens(w, pair)
}

// writeTokens answers with a token pair.
func writeTokens(w http.ResponseWriter, pair tokens.Pair) {
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  pair.AccessToken,
		"refresh_token": pair.RefreshToken,
		"token_type":    "Bearer",
		"expires_in":    int64(pair.ExpiresIn.Seconds()),
	})
}

// writeDenied answers a deny: 429 for a lockout (with Retry-After when a
// cool-off applies), 401 for invalid credentials, else 403. A backend may ask
// for 401, 403 or 429 instead.
func (s *Server) writeDenied(w http.ResponseWriter, res chain.Result) {
	status, code, desc := http.StatusForbidden, codePermissionDenied, "the login was refused"
	switch res.Reason {
	case sdk.ReasonLockedOut:
		status, code, desc = http.StatusTooManyRequests, codeLockedOut, "too many failed login attempts"
	case sdk.ReasonInvalidCredentials:
		status, code, desc = http.StatusUnauthorized, codeInvalidCredentials, "the username or password is wrong"
	}
	switch res.HTTPStatus {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		status = res.HTTPStatus
	}
	if res.Description != "" {
		desc = res.Description
	}
	if res.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(res.RetryAfter.Seconds())), 10))
	}
	extra := res.Details
	if code == codePermissionDenied {
		extra = withField(extra, "reason", res.Reason)
	}
	writeError(w, status, code, desc, extra)
}

func withField(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
