package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// TestLoginUsernameIsCanonical: the chain, and so the lockout's counting,
// sees a username in its one canonical form, whatever form it was sent in.
func TestLoginUsernameIsCanonical(t *testing.T) {
	tests := []struct {
		name, sent, want string
	}{
		{"composed", "Jos\u00e9", "Jos\u00e9"},
		{"decomposed", "Jose\u0301", "Jos\u00e9"},
		{"full width", "\uff41\uff4c\uff49\uff43\uff45", "alice"},
		{"case is kept", "Alice", "Alice"},
		{"one script: Cyrillic", "\u0430\u043b\u0438\u0441\u0430", "\u0430\u043b\u0438\u0441\u0430"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			body, _ := json.Marshal(map[string]string{"username": tt.sent, "password": "pw"})
			w := a.do(t, "POST", "/v1/login", string(body), fromPeer("192.0.2.1:1234"))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if got := auth.last(t).Username; got != tt.want {
				t.Fatalf("the chain got %+q, want %+q", got, tt.want)
			}
		})
	}
}

// TestLoginRefusesWhatIsNoUsername: a name no user can have is a 400 that
// says why, and reaches no backend (so it is not counted either).
func TestLoginRefusesWhatIsNoUsername(t *testing.T) {
	tests := []struct {
		name, sent, want string
	}{
		{"Latin with a Cyrillic а", "\u0430lice", "username mixes scripts: Cyrillic (U+0430 CYRILLIC SMALL LETTER A) with Latin"},
		{"zero width space", "ali\u200bce", "username must not contain invisible characters (U+200B ZERO WIDTH SPACE)"},
		{"right-to-left override", "alice\u202etxt.exe", "username must not contain bidirectional control characters (U+202E RIGHT-TO-LEFT OVERRIDE)"},
		{"trailing space", "alice ", "username must not contain spaces (U+0020 SPACE)"},
		{"control character", "al\u0007ice", "username must not contain control characters (U+0007"},
		{"empty", "", "username must not be empty"},
		{"too long", strings.Repeat("a", 256), "username is longer than 255 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			body, _ := json.Marshal(map[string]string{"username": tt.sent, "password": "pw"})
			w := a.do(t, "POST", "/v1/login", string(body), fromPeer("192.0.2.1:1234"))
			got := checkError(t, w, http.StatusBadRequest, "invalid_request")
			if d, _ := got["error_description"].(string); !strings.Contains(d, tt.want) {
				t.Errorf("error_description = %q, want it to hold %q", d, tt.want)
			}
			if n := auth.calls(); n != 0 {
				t.Errorf("a backend was asked %d times", n)
			}
		})
	}
}
