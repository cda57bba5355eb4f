package httpapi

import (
	"context"
	"errors"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

const codeInvalidToken = "invalid_token"

// maxTokenBytes bounds a token in a request.
const maxTokenBytes = accesstoken.MaxLength

type refreshBody struct {
	RefreshToken *string `json:"refresh_token"`
}

// tokenBody is the body of POST /v1/token/revoke (RFC 7009) and POST
// /v1/token/introspect (RFC 7662).
type tokenBody struct {
	Token         *string `json:"token"`
	TokenTypeHint string  `json:"token_type_hint"`
}

const formType = "application/x-www-form-urlencoded"

// decodeTokenBody reads the body of a revoke or an introspection: JSON,
// as every endpoint takes it (decodeJSON), or a form, as RFC 7009 and RFC
// 7662 clients send it. A form is held to the JSON body's rules: token
// and token_type_hint only, spelled exactly, each at most once, within
// the same size limit. A form is safe here, though no login takes one:
// neither endpoint acts on a browser's cookie (a page that can post a
// token to revoke could revoke it itself), and introspection needs an app
// key in a header that no form sends.
func decodeTokenBody(r *http.Request) (tokenBody, error) {
	var body tokenBody
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && mt == "application/json":
		return body, decodeJSON(r, &body)
	case err == nil && mt == formType:
	default:
		return body, &badRequest{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
			msg: "the request body must be JSON (Content-Type: application/json) or a form (Content-Type: " + formType + ")"}
	}
	raw, err := readBody(r)
	if err != nil {
		return body, err
	}
	// ParseQuery refuses a ";" between fields: some servers split a form
	// there too, and one that did would read other fields than the host.
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return body, invalid("the request body is not a valid form: %v", err)
	}
	for _, key := range slices.Sorted(maps.Keys(form)) {
		values := form[key]
		switch {
		case key != "token" && key != "token_type_hint":
			return body, invalid("unknown field %.64q", key)
		case len(values) > 1:
			return body, invalid("field %q is given twice", key)
		case !utf8.ValidString(values[0]):
			return body, invalid("field %q is not UTF-8", key)
		}
		if key == "token" {
			body.Token = &values[0]
		} else {
			body.TokenTypeHint = values[0]
		}
	}
	return body, nil
}

func checkToken(field string, v *string) error {
	switch {
	case v == nil || *v == "":
		return invalid("%s is required", field)
	case len(*v) > maxTokenBytes || strings.ContainsFunc(*v, func(r rune) bool { return r <= ' ' || r > '~' }):
		return invalid("%s is not a token", field)
	}
	return nil
}

// handleRefresh rotates a refresh token: POST /v1/token/refresh.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var body refreshBody
	err := decodeJSON(r, &body)
	if err == nil {
		err = checkToken("refresh_token", body.RefreshToken)
	}
	var bad *badRequest
	if errors.As(err, &bad) {
		bad.write(w)
		return
	}
	pair, err := s.opts.Tokens.Refresh(r.Context(), *body.RefreshToken)
	var reused *tokens.ReusedError
	var ended *tokens.UpstreamEndedError
	switch {
	case errors.As(err, &reused):
		s.log.WarnContext(r.Context(), "refresh token reused: session revoked", "request_id", w.Header().Get("X-Request-Id"), "session_id", reused.Token.FamilyID)
		client, _ := s.trusted.clientFacts(r, nil)
		s.loggedOut(r.Context(), reused.Token.Subject, reused.Token.FamilyID, client)
		writeError(w, http.StatusUnauthorized, codeInvalidToken, "the refresh token was already used; the session is revoked", nil)
	case errors.As(err, &ended):
		// The provider that signed the user in no longer vouches for
		// them: the session ended as a logout does.
		s.log.InfoContext(r.Context(), "the sign-in provider no longer vouches for a session: session revoked", "request_id", w.Header().Get("X-Request-Id"),
			"session_id", ended.Session.ID, "user_id", ended.Session.Subject, "backend", ended.Session.Upstream.Backend, "reason", ended.Reason)
		if ended.Revoked {
			client, _ := s.trusted.clientFacts(r, nil)
			s.loggedOut(r.Context(), ended.Session.Subject, ended.Session.ID, client)
		}
		writeError(w, http.StatusUnauthorized, codeInvalidToken, "the provider you signed in with no longer vouches for this session; sign in again", nil)
	case errors.Is(err, tokens.ErrUpstreamUnavailable):
		s.log.WarnContext(r.Context(), "refreshing tokens: the sign-in provider could not be asked", "request_id", w.Header().Get("X-Request-Id"), "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the provider you signed in with could not be asked; try again later", nil)
	case errors.Is(err, tokens.ErrInvalidToken):
		writeError(w, http.StatusUnauthorized, codeInvalidToken, "the refresh token is not valid", nil)
	case err != nil:
		s.log.ErrorContext(r.Context(), "refreshing tokens", "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not refresh tokens; try again later", nil)
	default:
		writeTokens(w, pair)
	}
}

// handleRevoke ends a token's session: POST /v1/token/revoke, with a JSON
// or form body (decodeTokenBody). As RFC 7009 asks, an unknown or already
// revoked token is answered 200 too.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	body, err := decodeTokenBody(r)
	if err == nil {
		err = checkToken("token", body.Token)
	}
	var bad *badRequest
	if errors.As(err, &bad) {
		bad.write(w)
		return
	}
	subject, session, revoked, err := s.opts.Tokens.Revoke(r.Context(), *body.Token)
	if err != nil {
		s.log.ErrorContext(r.Context(), "revoking tokens", "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not revoke the token; try again later", nil)
		return
	}
	if revoked {
		client, _ := s.trusted.clientFacts(r, nil)
		s.loggedOut(r.Context(), subject, session, client)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleIntrospect answers whether an access token is active (RFC 7662):
// POST /v1/token/introspect, for apps, with a JSON or form body
// (decodeTokenBody). A token of a revoked or ended session is inactive
// even before it expires. A refresh token is never reported active:
// introspection is for the tokens apps are sent.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request, _ storage.AppKey) {
	body, err := decodeTokenBody(r)
	if err == nil && (body.Token == nil || *body.Token == "") {
		err = invalid("token is required")
	}
	var bad *badRequest
	if errors.As(err, &bad) {
		bad.write(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if len(*body.Token) > accesstoken.MaxLength {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	got, err := s.opts.Tokens.Introspect(r.Context(), *body.Token)
	if err != nil {
		s.log.ErrorContext(r.Context(), "introspecting a token", "request_id", w.Header().Get("X-Request-Id"), "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not read the token's session; try again later", nil)
		return
	}
	if !got.Active {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	c := got.Claims
	writeJSON(w, http.StatusOK, map[string]any{
		"active": true, "sub": c.Subject, "username": c.Username, "exp": c.ExpiresAt.Unix(), "iat": c.IssuedAt.Unix(),
		"nbf": c.NotBefore.Unix(), "iss": c.Issuer, "aud": []string(c.Audience), "jti": c.ID, "sid": c.SessionID,
		"token_type": "access_token",
	})
}

// loggedOut records that a session ended: the access log's logout time,
// and user_logged_out.
func (s *Server) loggedOut(ctx context.Context, userID, sessionID string, client sdk.Client) {
	if s.opts.OnLogout != nil {
		s.opts.OnLogout(ctx, sessionID)
	}
	s.opts.Signals.Emit(ctx, "tokens", &signals.UserLoggedOut{UserID: userID, SessionID: sessionID, Client: client})
}
