package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

type claimsKey struct{}

// ClaimsFrom returns the claims of the token Middleware or
// IntrospectionMiddleware accepted for the request whose context is ctx.
func ClaimsFrom(ctx context.Context) (*accesstoken.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*accesstoken.Claims)
	return c, ok && c != nil
}

// ContextWithClaims returns ctx carrying claims, as the middleware passes
// them on; for tests of handlers that read ClaimsFrom.
func ContextWithClaims(ctx context.Context, claims *accesstoken.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, claims)
}

// Middleware passes to next the requests that carry a valid access token
// (Verify) in "Authorization: Bearer", with its claims in their context
// (ClaimsFrom). It answers the others 401 as the host does, or 503 when
// the token could not be checked.
func (c *Client) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := c.verifyRequest(r)
		if err != nil {
			c.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), claims)))
	})
}

// IntrospectionMiddleware is Middleware that also asks the host whether
// the token is still active (Introspect), so that a token of a revoked
// session is refused at once. Tokens that fail the local checks are
// refused without asking the host. It panics when Options.AppKey is
// empty.
func (c *Client) IntrospectionMiddleware(next http.Handler) http.Handler {
	if c.appKey == "" {
		panic("client: IntrospectionMiddleware needs Options.AppKey")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := c.verifyRequest(r)
		if err != nil {
			c.refuse(w, r, err)
			return
		}
		raw, _ := bearerToken(r)
		in, err := c.Introspect(r.Context(), raw)
		switch {
		case err != nil:
			c.refuse(w, r, err)
			return
		case !in.Active:
			c.refuse(w, r, &accesstoken.Error{Type: accesstoken.ErrRevoked})
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), claims)))
	})
}

// verifyRequest verifies the request's bearer token.
func (c *Client) verifyRequest(r *http.Request) (*accesstoken.Claims, error) {
	raw, ok := bearerToken(r)
	if !ok {
		return nil, &accesstoken.Error{Type: accesstoken.ErrEmptyToken}
	}
	return c.Verify(r.Context(), raw)
}

// bearerToken returns the token of the request's one Authorization
// header, when it is of the Bearer scheme (RFC 6750).
func bearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	const scheme = "Bearer "
	v := values[0]
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	token := strings.TrimSpace(v[len(scheme):])
	return token, token != ""
}

// Error codes of the middleware's answers.
const (
	codeInvalidToken = "invalid_token"
	codeUnavailable  = "backend_unavailable"
	descUnavailable  = "the access token could not be checked; try again later"
)

// descriptions are the error_description of a 401, by the refusal's Type.
var descriptions = map[string]string{
	accesstoken.ErrEmptyToken:      "the request has no bearer token",
	accesstoken.ErrTypeMismatch:    "the token is not an access token",
	accesstoken.ErrExpired:         "the access token has expired",
	accesstoken.ErrNotYetValid:     "the access token is not valid yet",
	accesstoken.ErrInvalidIssuedAt: "the access token was issued in the future",
	accesstoken.ErrInvalidIssuer:   "the access token is from another issuer",
	accesstoken.ErrInvalidAudience: "the access token is not for this app",
	accesstoken.ErrRevoked:         "the access token was revoked",
}

// refuse answers a request whose token was refused with err: an
// *accesstoken.Error, or the error of an introspection.
func (c *Client) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var e *accesstoken.Error
	if !errors.As(err, &e) || e.Type == accesstoken.ErrUnexpected {
		if c.log != nil {
			c.log.WarnContext(r.Context(), "could not check an access token", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, descUnavailable)
		return
	}
	if c.log != nil {
		c.log.DebugContext(r.Context(), "refused an access token", "method", r.Method, "path", r.URL.Path, "reason", e.Type)
	}
	desc, ok := descriptions[e.Type]
	if !ok {
		desc = "the access token is not valid"
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeError(w, http.StatusUnauthorized, codeInvalidToken, desc)
}

// writeError writes the host's JSON error body.
func writeError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, description})
}
