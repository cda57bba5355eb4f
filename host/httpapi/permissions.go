package httpapi

import (
	"errors"
	"net/http"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// permissionsSender is the sender of the permission_check_* signals.
const permissionsSender = "permissions"

// permissionCheckBody is POST /v1/permissions/check's body. Pointers tell
// absent from empty.
type permissionCheckBody struct {
	Token       *string   `json:"token"`
	Permissions *[]string `json:"permissions"`
	Mode        *string   `json:"mode"`
}

// handlePermissionCheck answers whether an access token grants
// permissions: POST /v1/permissions/check, for apps. The decision is
// accesstoken.CheckPermissions on the token's claims, the rule the Go
// client's middleware applies too; the token is checked as introspection
// checks it, so a token of a revoked session is not authenticated. A
// check that names no permission, or an invalid one, is a 400: it never
// passes for asking nothing.
func (s *Server) handlePermissionCheck(w http.ResponseWriter, r *http.Request, app storage.AppKey) {
	var body permissionCheckBody
	err := decodeJSON(r, &body)
	mode := accesstoken.ModeAll
	if err == nil {
		switch {
		case body.Token == nil || *body.Token == "":
			err = invalid("token is required")
		case body.Permissions == nil:
			err = invalid("permissions is required: a list of the permissions to check")
		case len(*body.Permissions) == 0:
			err = invalid("permissions must list at least one permission: a check of nothing is refused, never allowed")
		case body.Mode != nil && *body.Mode != accesstoken.ModeAll && *body.Mode != accesstoken.ModeAny:
			err = invalid("mode must be %q (the default) or %q", accesstoken.ModeAll, accesstoken.ModeAny)
		default:
			if body.Mode != nil {
				mode = *body.Mode
			}
			if cerr := accesstoken.ValidatePermissionCheck(mode, *body.Permissions); cerr != nil {
				err = invalid("permissions: %v", cerr)
			}
		}
	}
	var bad *badRequest
	if errors.As(err, &bad) {
		bad.write(w)
		return
	}
	perms := *body.Permissions
	var claims *accesstoken.Claims
	if len(*body.Token) <= accesstoken.MaxLength {
		got, err := s.opts.Tokens.Introspect(r.Context(), *body.Token)
		if err != nil {
			s.log.ErrorContext(r.Context(), "checking permissions: reading the token's session", "request_id", w.Header().Get("X-Request-Id"), "error", err)
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not read the token's session; try again later", nil)
			return
		}
		if got.Active {
			claims = got.Claims
		}
	}
	check := signals.PermissionCheck{RequiredPermissions: perms, Mode: mode, App: app.Name}
	if claims != nil {
		check.UserID = claims.Subject
	}
	ctx := r.Context()
	s.opts.Signals.Emit(ctx, permissionsSender, &signals.PermissionCheckStarted{PermissionCheck: check})
	allowed, missing, reason := accesstoken.CheckPermissions(claims, mode, perms)
	answer := map[string]any{"allowed": allowed, "missing": missing}
	if allowed {
		s.opts.Signals.Emit(ctx, permissionsSender, &signals.PermissionCheckSucceeded{PermissionCheck: check})
	} else {
		answer["reason"] = reason
		s.opts.Signals.Emit(ctx, permissionsSender, &signals.PermissionCheckFailed{PermissionCheck: check, Reason: reason, Missing: missing})
	}
	writeJSON(w, http.StatusOK, answer)
}
