package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestWriteErrorAsEncodingJSON: the error body is byte for byte what
// encoding/json makes of its fields as one map, whatever the fields hold.
func TestWriteErrorAsEncodingJSON(t *testing.T) {
	extras := []map[string]any{
		nil,
		{"failure_limit": int64(5), "failure_count": 7, "username": "victim", "cooloff_time": "PT30M", "cooloff_seconds": int64(1800)},
		{"reason": "a <b> & \"c\" \\ d\n\t\x01", "username": "José \u2028 😀", "ok": true, "zero": 0},
		{"error": "not this", "error_description": "nor this", "nested": map[string]any{"z": 1, "a": []string{"<"}}},
		{"float": 1.5, "nil": nil, "bytes": []byte("hi"), "": "empty key", "\u00e9": "key beyond ASCII"},
	}
	for _, extra := range extras {
		for _, desc := range []string{"the username or password is wrong", "a \"quoted\" <html> & \u2029"} {
			rec := httptest.NewRecorder()
			writeError(rec, 429, codeLockedOut, desc, extra)
			body := map[string]any{}
			for k, v := range extra {
				body[k] = v
			}
			body["error"], body["error_description"] = codeLockedOut, desc
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(body); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != want.String() {
				t.Errorf("extra %v:\n got %s\nwant %s", extra, got, want.String())
			}
			if rec.Code != 429 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("status %d, headers %v", rec.Code, rec.Header())
			}
		}
	}
}
