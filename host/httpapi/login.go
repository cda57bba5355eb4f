package httpapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// Input bounds.
const (
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

// badRequest is a client mistake, answered 400 invalid_request (or 413
// for size, 415 for a body that is not JSON).
type badRequest struct {
	status int
	code   string // invalid_request when empty
	msg    string
}

// write answers the mistake.
func (e *badRequest) write(w http.ResponseWriter) {
	code := e.code
	if code == "" {
		code = codeInvalidRequest
	}
	writeError(w, e.status, code, e.msg, nil)
}

func (e *badRequest) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &badRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// readBody reads a request's body, within the limit the server set on
// it (413 past it).
func readBody(r *http.Request) ([]byte, error) {
	var raw []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		// net/http ends the body at its announced length: read it into
		// a buffer of that size (ReadAll would start at 512 bytes).
		raw = make([]byte, n)
		_, err = io.ReadFull(r.Body, raw)
	} else {
		raw, err = io.ReadAll(r.Body)
	}
	if err == nil {
		return raw, nil
	}
	if tooBig, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	}
	return nil, invalid("reading the request body: %v", err)
}

// decodeJSON decodes exactly one JSON object into v, a pointer to a struct.
// strictjson.Check first refuses what encoding/json would resolve silently
// (a key given twice at any depth, a key in another case than its field's
// tag, data after the object): a proxy or WAF that read the body
// differently from the host (the first "password", say) would disagree
// with it about what was sent. It also names the field of a value of the
// wrong type. The keys of a map are only checked for repeats. Of several
// problems, the one nearest the start of the body is reported.
func decodeJSON(r *http.Request, v any) error {
	// Only a JSON body is read: a form or text/plain body is what a web
	// page can send to the host without the browser asking first (CORS),
	// so a login from another site must not get this far.
	// The usual header is taken as it is, without parsing it (which
	// makes a map for its parameters).
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &badRequest{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
				msg: "the request body must be JSON, sent with Content-Type: application/json"}
		}
	}
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	// null would leave v as it is; here it is not an object.
	if bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("null")) {
		return invalid("the request body must be a JSON object, not null")
	}
	if problems := strictjson.Check(raw, reflect.TypeOf(v).Elem()); len(problems) > 0 {
		return bodyProblem(slices.MinFunc(problems, func(a, b strictjson.Problem) int { return cmp.Compare(a.Offset, b.Offset) }))
	}
	// The check has seen to syntax, keys and types; this is a backstop.
	if err := json.Unmarshal(raw, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return invalid("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type))
		}
		return invalid("the request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// bodyProblem words a problem with a request body.
func bodyProblem(p strictjson.Problem) error {
	switch p.Kind {
	case strictjson.Empty:
		return invalid("the request body is empty; send a JSON object")
	case strictjson.Syntax:
		return invalid("the request body is not valid JSON: %s", p.Message)
	case strictjson.Trailing:
		return invalid("the request body holds more than one JSON value")
	case strictjson.Duplicate:
		return invalid("field %q is given twice", p.Path)
	case strictjson.Unknown, strictjson.WrongCase:
		return invalid("unknown field %q", p.Path)
	case strictjson.WrongType:
		switch {
		case p.Path == "":
			return invalid("the request body must be a JSON object, not %s", gotKind(p.Got))
		case p.ParentKind == reflect.Map:
			return invalid("%s values must be %s, not %s", p.Parent, jsonKinds(p.Type), gotKind(p.Got))
		case p.ParentKind == reflect.Slice || p.ParentKind == reflect.Array:
			return invalid("%s items must be %s, not %s", p.Parent, jsonKinds(p.Type), gotKind(p.Got))
		}
		return invalid("field %q must be %s, not %s", p.Path, jsonKind(p.Type), gotKind(p.Got))
	}
	return invalid("field %q %s", p.Path, p.Message)
}

// kindWords are the words request-body messages use for each JSON kind,
// singular and plural (for a map's values or a list's items).
var kindWords = map[strictjson.JSONType][2]string{
	strictjson.KindString:  {"a string", "strings"},
	strictjson.KindBool:    {"true or false", "true or false"},
	strictjson.KindInteger: {"a whole number", "whole numbers"},
	strictjson.KindNumber:  {"a number", "numbers"},
	strictjson.KindArray:   {"a JSON array", "JSON arrays"},
	strictjson.KindObject:  {"a JSON object", "JSON objects"},
	strictjson.KindOther:   {"a JSON value", "JSON values"},
}

// jsonKind names the JSON type a value of Go type t is written as, with
// its article.
func jsonKind(t reflect.Type) string { return kindWords[strictjson.KindOf(t)][0] }

// jsonKinds is jsonKind in the plural.
func jsonKinds(t reflect.Type) string { return kindWords[strictjson.KindOf(t)][1] }

// gotKind names a JSON type as strictjson.Problem.Got gives it, with its
// article.
func gotKind(got string) string {
	switch got {
	case "array":
		return "an array"
	case "object":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "number":
		return "a number"
	}
	return "a JSON value"
}

// validate checks the body and puts the username in its canonical form
// (package usernames), so that every backend, the lockout's counting
// included, sees one name in one form. A name that is not a username is
// a 400: no user can have it.
func (b *loginBody) validate() error {
	if b.Username == nil {
		return invalid("username is required")
	}
	name, err := usernames.Canonical(*b.Username)
	if err != nil {
		return invalid("%s", err)
	}
	*b.Username = name
	if b.Password == nil && len(b.Credentials) > 0 {
		// A login by other credentials (a device's) needs no password.
		b.Password = new(string)
	}
	switch {
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

// handleLogin logs in and answers with tokens: POST /v1/login.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	s.login(w, r, grantTokens)
}

// A granter answers a login the chain granted (with tokens, or a session
// cookie): it returns the session's id and the answer to write once the
// login is recorded, or ok false when it has answered an error.
type granter func(w http.ResponseWriter, r *http.Request, login *chain.Login, req *sdk.AuthenticateRequest) (sessionID string, answer func(), ok bool)

// How a granted login is answered: with tokens, or a session cookie.
const (
	grantTokens  = "tokens"
	grantSession = "session"
)

// granter returns the granter of a kind of answer.
func (s *Server) granter(kind string) granter {
	if kind == grantSession {
		return s.startSession
	}
	return s.issueTokens
}

// login runs a login through the chain and answers it; kind says how a
// success is answered (grantTokens or grantSession), unless a second
// factor is required first.
func (s *Server) login(w http.ResponseWriter, r *http.Request, kind string) {
	var body loginBody
	err := decodeJSON(r, &body)
	if err == nil {
		err = body.validate()
	}
	var client sdk.Client
	if err == nil {
		app, ok := s.appCaller(w, r)
		if !ok {
			return
		}
		if client, ok = s.trusted.clientFactsFor(r, body.Client, app); !ok {
			err = invalid("client.ip is not an IP address")
		}
	}
	var bad *badRequest
	if errors.As(err, &bad) {
		bad.write(w)
		return
	}
	release, ok := s.admit.holdAddress(w, r, client.IP)
	if !ok {
		return
	}
	defer release()
	req := &sdk.AuthenticateRequest{
		RequestID:   w.Header().Get("X-Request-Id"),
		Username:    *body.Username,
		Password:    *body.Password,
		Credentials: body.Credentials,
		Client:      client,
		Path:        r.URL.Path,
	}
	// A client the lockout has turned away before is turned away again
	// without waiting for a turn: a flood of them takes no turn from the
	// other logins.
	if login := s.opts.Chain.RefuseEarly(r.Context(), req); login != nil {
		s.answer(w, r, login, req, kind, true)
		return
	}
	leave, ok := s.admit.takeTurn(w, r, client.IP)
	if !ok {
		return
	}
	defer leave()
	login := s.opts.Chain.Run(r.Context(), req)
	s.answer(w, r, login, req, kind, true)
}

// answer answers a login the chain ran: kind says how a success is
// answered, and firstFactor whether a required second factor is still
// to come (a success then answers 202 with the 2FA request).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, login *chain.Login, req *sdk.AuthenticateRequest, kind string, firstFactor bool) {
	res := login.Result
	requestID, client := req.RequestID, req.Client
	s.traceLogin(r.Context(), req, res)
	// The login's logger is made when a line is written: most logins
	// write none at the default level, and making one costs more than
	// deciding most of them.
	log := sync.OnceValue(func() *slog.Logger {
		return loggerFor(r.Context(), s.log).With("request_id", requestID, "username", req.Username, "ip", client.IP)
	})
	switch res.Outcome {
	case chain.Unavailable, chain.Busy:
		s.failClosed(w, r, login, log, req)
		return
	case chain.Success:
		if firstFactor && s.opts.TwoFactor != nil {
			need, err := s.opts.TwoFactor.applies(r.Context(), res.Identity)
			if err != nil {
				_ = login.End(r.Context(), sdk.LoginUnavailable, "")
				s.countLogin(w, "unavailable", s.opts.TwoFactor.Backend)
				log().Warn("login failed closed: whether it needs a second factor could not be told", "error", err)
				s.emitUnavailable(r, req, s.opts.TwoFactor.Backend, codeBackendUnavailable)
				writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the login could not be checked; try again later", nil)
				return
			}
			if need {
				s.startSecondFactor(w, r, login, log, req, kind)
				return
			}
		}
		s.succeed(w, r, login, log, req, s.granter(kind))
		return
	}
	// A decided failure: it is counted before it is answered, and one that
	// cannot be counted is not answered as a failure.
	if err := login.End(r.Context(), res.LoginResult(), ""); err != nil {
		s.countLogin(w, "unavailable", res.Backend)
		log().Error("login failed closed: its failure could not be counted", "error", err)
		s.emitUnavailable(r, req, res.Backend, codeBackendUnavailable)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the login could not be recorded; try again later", nil)
		return
	}
	s.countLogin(w, res.Outcome.String(), res.Backend)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		log().Debug("login failed", "outcome", res.Outcome.String(), "backend", res.Backend, "reason", res.Reason, "abstained", strings.Join(res.Abstained, " "))
	}
	s.opts.Signals.Emit(r.Context(), res.Backend, &signals.UserLoginFailed{
		Username: req.Username, Client: client, Backend: res.Backend, Reason: res.Reason,
		RequestID: requestID, Path: req.Path,
	})
	if res.Outcome == chain.Denied {
		s.writeDenied(w, res)
	} else {
		writeError(w, http.StatusUnauthorized, codeInvalidCredentials, "the username or password is wrong", nil)
	}
}

// failClosed answers a login that could not be decided: 503, never counted.
func (s *Server) failClosed(w http.ResponseWriter, r *http.Request, login *chain.Login, log func() *slog.Logger, req *sdk.AuthenticateRequest) {
	res := login.Result
	_ = login.End(r.Context(), sdk.LoginUnavailable, "")
	s.countLogin(w, "unavailable", res.Backend)
	if res.Outcome == chain.Busy {
		log().Warn("login failed closed: a lockout counter stayed full of attempts in flight", "backend", res.Backend)
		s.emitUnavailable(r, req, res.Backend, codeTryAgain)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, codeTryAgain, "too many logins for this client are in progress; try again in a moment", nil)
		return
	}
	log().Warn("login failed closed", "error", res.Err)
	s.emitUnavailable(r, req, res.Backend, codeBackendUnavailable)
	backend := "a backend"
	if res.Backend != "" {
		backend = fmt.Sprintf("backend %q", res.Backend)
	}
	writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, backend+" is unavailable; try again later", nil)
}

func (s *Server) emitUnavailable(r *http.Request, req *sdk.AuthenticateRequest, backend, reason string) {
	s.opts.Signals.Emit(r.Context(), backend, &signals.UserLoginUnavailable{
		Username: req.Username, Client: req.Client, Backend: backend, Reason: reason,
		RequestID: req.RequestID, Path: req.Path,
	})
}

// succeed grants a login the chain granted, records it and answers.
func (s *Server) succeed(w http.ResponseWriter, r *http.Request, login *chain.Login, log func() *slog.Logger, req *sdk.AuthenticateRequest, grant granter) {
	res := login.Result
	sessionID, answer, ok := grant(w, r, login, req)
	if !ok {
		_ = login.End(r.Context(), sdk.LoginUnavailable, "")
		s.countLogin(w, "unavailable", res.Backend)
		return
	}
	if err := login.End(r.Context(), sdk.LoginSucceeded, sessionID); err != nil {
		log().Warn("recording a successful login", "error", err)
	}
	s.countLogin(w, "success", res.Backend)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		log().Debug("login succeeded", "backend", res.Backend, "subject", res.Identity.Subject)
	}
	s.opts.Signals.Emit(r.Context(), res.Backend, &signals.UserLoggedIn{
		UserID: res.Identity.Subject, Username: req.Username, UserType: "user", Client: req.Client,
		Backend: res.Backend, SessionID: sessionID, RequestID: req.RequestID, Path: req.Path,
	})
	answer()
}

// issueTokens answers a granted login with an access and a refresh token.
func (s *Server) issueTokens(w http.ResponseWriter, r *http.Request, login *chain.Login, req *sdk.AuthenticateRequest) (string, func(), bool) {
	pair, err := s.opts.Tokens.Issue(r.Context(), login.Result.Identity, login.SuccessWrites()...)
	if err != nil {
		s.log.ErrorContext(r.Context(), "issuing tokens", "request_id", req.RequestID, "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not issue tokens; try again later", nil)
		return "", nil, false
	}
	return pair.Session.ID, func() { writeTokens(w, pair) }, true
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
// for 401, 403 or 429 instead; the error code always follows the status
// sent (401 invalid_credentials, 403 permission_denied with the reason,
// 429 locked_out), so that a client keying on either reads the same.
func (s *Server) writeDenied(w http.ResponseWriter, res chain.Result) {
	status, desc := http.StatusForbidden, "the login was refused"
	switch res.Reason {
	case limiter.ReasonLockedOut:
		status, desc = http.StatusTooManyRequests, "too many failed login attempts"
	case sdk.ReasonInvalidCredentials:
		status, desc = http.StatusUnauthorized, "the username or password is wrong"
	}
	switch res.HTTPStatus {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		status = res.HTTPStatus
	}
	code := codePermissionDenied
	switch status {
	case http.StatusUnauthorized:
		code = codeInvalidCredentials
	case http.StatusTooManyRequests:
		code = codeLockedOut
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
