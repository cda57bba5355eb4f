package client

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

// RequirePermissions returns middleware that passes to its handler only
// the requests whose token holds every one of perms (or is a
// superuser's). RequireAnyPermission passes those that hold at least one.
//
// The decision is accesstoken.CheckPermissions on the token's claims, the
// rule of the host's POST /v1/permissions/check, so the two never
// disagree about a token. It is made where the app runs, from the token:
// a role or permission changed on the host reaches the user's next token
// (at most tokens.access_ttl later), not the token in hand.
//
// Put it after Middleware or IntrospectionMiddleware, which verify the
// token and put its claims in the request's context; with no claims there,
// it verifies the request's bearer token itself, as Middleware does. It
// answers:
//
//   - 401 invalid_token (or 503) when there is no valid token, as
//     Middleware does;
//   - 403 permission_denied when the token lacks what is asked, with
//     "missing" (the permissions it lacks) and "reason"
//     (missing_permissions, or permissions_overflow when the user's
//     permissions did not fit in the token).
//
// It panics when perms is empty or holds an invalid permission
// (accesstoken.ValidatePermission): a route that asks for nothing would
// let everyone through.
func (c *Client) RequirePermissions(perms ...string) func(http.Handler) http.Handler {
	return c.requirePermissions(accesstoken.ModeAll, perms)
}

// RequireAnyPermission is RequirePermissions passing the requests whose
// token holds at least one of perms.
func (c *Client) RequireAnyPermission(perms ...string) func(http.Handler) http.Handler {
	return c.requirePermissions(accesstoken.ModeAny, perms)
}

func (c *Client) requirePermissions(mode string, perms []string) func(http.Handler) http.Handler {
	if err := accesstoken.ValidatePermissionCheck(mode, perms); err != nil {
		panic("client: RequirePermissions: " + err.Error())
	}
	perms = slices.Clone(perms)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, ok := ClaimsFrom(r.Context())
			if !ok {
				var err error
				if claims, err = c.verifyRequest(r); err != nil {
					c.refuse(w, r, err)
					return
				}
				r = r.WithContext(ContextWithClaims(r.Context(), claims))
			}
			allowed, missing, reason := accesstoken.CheckPermissions(claims, mode, perms)
			if !allowed {
				if c.log != nil {
					c.log.DebugContext(r.Context(), "refused a request: permissions", "method", r.Method, "path", r.URL.Path,
						"user_id", claims.Subject, "reason", reason, "missing", missing)
				}
				writeDenied(w, missing, reason)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// writeDenied answers 403 permission_denied.
func writeDenied(w http.ResponseWriter, missing []string, reason string) {
	desc := "the access token lacks a permission this request needs"
	if reason == accesstoken.ReasonPermissionsOverflow {
		desc = "the user's permissions did not fit in the access token"
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string   `json:"error"`
		Description string   `json:"error_description"`
		Missing     []string `json:"missing"`
		Reason      string   `json:"reason"`
	}{"permission_denied", desc, missing, reason})
}
