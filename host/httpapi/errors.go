package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
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
	codeInvalidClient      = "invalid_client"
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
//
// The body is what encoding/json makes of the fields as one map (keys in
// order, a newline at the end), written without reflection: a refused
// login is the answer a flood gets, so it is built cheaply.
func writeError(w http.ResponseWriter, status int, code, description string, extra map[string]any) {
	var room [8]string // most errors have fewer keys: no allocation
	keys := room[:0]
	for k := range extra {
		if k != "error" && k != "error_description" {
			keys = append(keys, k)
		}
	}
	keys = append(keys, "error", "error_description")
	slices.Sort(keys)
	buf := errorBodies.Get().(*[]byte)
	defer errorBodies.Put(buf)
	b := (*buf)[:0]
	for i, k := range keys {
		b = append(b, ',')
		if i == 0 {
			b[0] = '{'
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		switch k {
		case "error":
			b = appendJSONString(b, code)
		case "error_description":
			b = appendJSONString(b, description)
		default:
			b = appendJSONValue(b, extra[k])
		}
	}
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	*buf = b[:0] // kept, grown or not, unless it grew past the bound
	if cap(b) > maxPooledErrorBody {
		*buf = make([]byte, 0, 256)
	}
}

// errorBodies keeps the buffers writeError writes its bodies in: one per
// refused login would otherwise be made for each of a flood's answers.
var errorBodies = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// maxPooledErrorBody bounds the buffers errorBodies keeps.
const maxPooledErrorBody = 4 << 10

// appendJSONValue appends v as encoding/json encodes it.
func appendJSONValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case bool:
		return strconv.AppendBool(b, v)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, out...)
}

// appendJSONString appends s quoted as encoding/json quotes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			out, _ := json.Marshal(s) // escapes, or more than ASCII
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
