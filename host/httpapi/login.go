package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
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

// decodeJSON decodes exactly one JSON object into v, a pointer to a struct.
// Before decoding, checkBody refuses what encoding/json would resolve
// silently (a key given twice, a key in another case than its field's
// tag) and names the field of a value of the wrong type; after it, only
// whitespace may follow.
func decodeJSON(r *http.Request, v any) error {
	raw, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	}
	if err != nil {
		return invalid("reading the request body: %v", err)
	}
	if err := checkBody(raw, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// checkBody has seen to keys and types; this is a backstop.
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return invalid("the request body is empty; send a JSON object")
		case errors.As(err, &typeErr):
			return invalid("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type))
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

// checkBody walks the JSON in raw token by token against t, the struct it
// will be decoded into, and refuses:
//   - a body that is not a JSON object;
//   - a key given twice in any object, at any depth: encoding/json would
//     let the last one win;
//   - a key of a struct that is not exactly the json tag of one of its
//     fields: encoding/json would match "Password" or "PASSWORD" to
//     `json:"password"`;
//   - a value of the wrong JSON type, naming the field.
//
// Either way, a proxy or WAF that read the body differently from the host
// (the first "password", say) would disagree with it about what was sent.
// The keys of a map are only checked for repeats.
func checkBody(raw []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return invalid("the request body is empty; send a JSON object")
	case err != nil:
		return notJSON(err)
	case tok != json.Delim('{'):
		return invalid("the request body must be a JSON object, not %s", tokenKind(tok))
	}
	return (&bodyChecker{dec: dec}).object(t, "")
}

// bodyChecker is checkBody's walk.
type bodyChecker struct {
	dec *json.Decoder
}

// token returns the next token; running out of input is a syntax error
// here, as a value was started.
func (c *bodyChecker) token() (json.Token, error) {
	tok, err := c.dec.Token()
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, notJSON(err)
	}
	return tok, nil
}

// value checks the value that begins with tok against t; in says how to
// name it in a message. A nil t takes any value.
func (c *bodyChecker) value(tok json.Token, t reflect.Type, in place) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Kind() == reflect.Interface && t.NumMethod() == 0 {
		t = nil
	}
	if tok == nil {
		return nil // null: absent, as encoding/json takes it
	}
	want := func(ok bool) error {
		if t == nil || ok {
			return nil
		}
		return in.mismatch(t, tok)
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch {
		case tok == '{' && t != nil && t.Kind() == reflect.Struct:
			return c.object(t, in.path)
		case tok == '{' && t != nil && t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
			return c.mapObject(t.Elem(), in.path)
		case tok == '[' && t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			return c.array(t.Elem(), in.path)
		case t != nil:
			return in.mismatch(t, tok)
		case tok == '{':
			return c.mapObject(nil, in.path)
		default:
			return c.array(nil, in.path)
		}
	case string:
		return want(t != nil && t.Kind() == reflect.String)
	case bool:
		return want(t != nil && t.Kind() == reflect.Bool)
	case json.Number:
		if t == nil {
			return nil
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			return nil // range and fractions are left to encoding/json
		}
		return in.mismatch(t, tok)
	}
	return nil
}

// object checks the members of an object, its '{' read, against struct t.
func (c *bodyChecker) object(t reflect.Type, path string) error {
	fields := jsonFields(t)
	seen := map[string]bool{}
	for c.dec.More() {
		key, err := c.key(path, seen)
		if err != nil {
			return err
		}
		sub := joinPath(path, key)
		ft, ok := fields[key]
		if !ok {
			return invalid("unknown field %q", sub)
		}
		tok, err := c.token()
		if err != nil {
			return err
		}
		if err := c.value(tok, ft, place{path: sub}); err != nil {
			return err
		}
	}
	_, err := c.token() // '}'
	return err
}

// mapObject checks the members of an object, its '{' read, as a map of
// elem (nil: anything).
func (c *bodyChecker) mapObject(elem reflect.Type, path string) error {
	seen := map[string]bool{}
	for c.dec.More() {
		key, err := c.key(path, seen)
		if err != nil {
			return err
		}
		tok, err := c.token()
		if err != nil {
			return err
		}
		if err := c.value(tok, elem, place{path: joinPath(path, key), mapPath: path}); err != nil {
			return err
		}
	}
	_, err := c.token() // '}'
	return err
}

// array checks the items of an array, its '[' read.
func (c *bodyChecker) array(elem reflect.Type, path string) error {
	for i := 0; c.dec.More(); i++ {
		tok, err := c.token()
		if err != nil {
			return err
		}
		if err := c.value(tok, elem, place{path: fmt.Sprintf("%s[%d]", path, i), listPath: path}); err != nil {
			return err
		}
	}
	_, err := c.token() // ']'
	return err
}

// key reads an object's next key and refuses a repeat.
func (c *bodyChecker) key(path string, seen map[string]bool) (string, error) {
	tok, err := c.token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok { // unreachable: Token checks the syntax of objects
		return "", invalid("the request body is not valid JSON")
	}
	if seen[key] {
		return "", invalid("field %q is given twice", joinPath(path, key))
	}
	seen[key] = true
	return key, nil
}

// place names a value in a message: a field, a map's value or a list's
// item.
type place struct {
	path     string
	mapPath  string // set for a value of the map at mapPath
	listPath string // set for an item of the list at listPath
}

func (p place) mismatch(t reflect.Type, tok json.Token) error {
	switch {
	case p.mapPath != "":
		return invalid("%s values must be %s, not %s", p.mapPath, jsonKinds(t), tokenKind(tok))
	case p.listPath != "":
		return invalid("%s items must be %s, not %s", p.listPath, jsonKinds(t), tokenKind(tok))
	}
	return invalid("field %q must be %s, not %s", p.path, jsonKind(t), tokenKind(tok))
}

func notJSON(err error) error {
	return invalid("the request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonFields maps the json tag names of a struct's exported fields (else
// their Go names) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonKind names the JSON type a value of Go type t is written as, with
// its article.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	case reflect.Map, reflect.Struct:
		return "a JSON object"
	}
	return "a JSON value"
}

// jsonKinds is jsonKind in the plural, for a map's values or a list's
// items.
func jsonKinds(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "strings"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole numbers"
	case reflect.Float32, reflect.Float64:
		return "numbers"
	case reflect.Slice, reflect.Array:
		return "JSON arrays"
	case reflect.Map, reflect.Struct:
		return "JSON objects"
	}
	return "JSON values"
}

// tokenKind names the JSON type of the value a token begins, with its
// article.
func tokenKind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case nil:
		return "null"
	}
	return "a JSON value"
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
// for 401, 403 or 429 instead; the error code always follows the status
// sent (401 invalid_credentials, 403 permission_denied with the reason,
// 429 locked_out), so that a client keying on either reads the same.
func (s *Server) writeDenied(w http.ResponseWriter, res chain.Result) {
	status, desc := http.StatusForbidden, "the login was refused"
	switch res.Reason {
	case sdk.ReasonLockedOut:
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
