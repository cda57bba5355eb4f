package mobiledevice

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// FuzzParseConfig: any configuration is either settings within their
// bounds, with a webhook and its key or neither, or problems at their
// paths.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"nonce_ttl":"60s"}`, `{"nonce_ttl":"4s"}`,
		`{"notify":{"webhook":"https://x.example/","secret":"` + hookSecret + `"}}`,
		`{"notify":{"webhook":"http://u:p@h/?q","secret":"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`,
		`{"notify":{"secret":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseConfig(json.RawMessage(raw))
		if err != nil {
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("ParseConfig(%q) = %v, want a configuration error", raw, err)
			}
			return
		}
		if s.NonceTTL < MinNonceTTL || s.NonceTTL > MaxNonceTTL {
			t.Fatalf("accepted a nonce_ttl of %v", s.NonceTTL)
		}
		if (s.Webhook == "") != (len(s.WebhookKey) == 0) {
			t.Fatalf("accepted a webhook without its key, or a key without a webhook: %+v", s)
		}
	})
}

// FuzzCheckNonce: of every string a device can send, only the nonce
// issued for it checks, and only for it.
func FuzzCheckNonce(f *testing.F) {
	key := bytes.Repeat([]byte{3}, nonceKeyBytes)
	// Fixed random bytes: every fuzzing process must issue the same nonce.
	issued, err := issueNonce(key, bytes.NewReader(bytes.Repeat([]byte{9}, nonceRandomBytes)), "phone", t0.Add(time.Minute))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{issued, "", "A", issued[:len(issued)-1], issued + "A", issued[:10] + "=" + issued[11:]} {
		f.Add(s, "phone")
	}
	f.Add(issued, "phone2")
	f.Fuzz(func(t *testing.T, nonce, deviceID string) {
		_, ok := checkNonce(key, deviceID, nonce, t0)
		if ok != (nonce == issued && deviceID == "phone") {
			t.Fatalf("checkNonce(%q, %q) = %v", nonce, deviceID, ok)
		}
	})
}
