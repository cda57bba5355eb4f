package httpapi

import (
	"encoding/json"
	"net/http"
)

// Error codes.
const (
	codeInvalidRequest     = "invalid_request"
	codeInvalidCredentials = "invalid_credentials"
	codePermissionDenied   = "permission_denied"
	codeLockedOut          = "locked_out"
	codeBackendUnavailable = "backend_unavailable"
	codeTryAgain           = "try_again"
	codeTooManyLogins      = "too_many_concurrent_logins"
	codeServerBusy         = "server_busy"
	codeInvalidHost        = "invalid_host"
	codeUnsupportedMedia   = "unsupported_media_type"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codeServerError        = "server_error"
)

// writeJSON writes v with status. Responses are never cached: they carry
// tokens or per-request state.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the JSON error body; extra fields are added but never
// replace error or error_description.
func writeError(w http.ResponseWriter, status int, code, description string, extra map[string]any) {
	body := make(map[string]any, len(extra)+2)
	for k, v := range extra {
		body[k] = v
	}
	body["error"] = code
	body["error_description"] = description
	writeJSON(w, status, body)
}
