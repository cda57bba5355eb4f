package password

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// FuzzParseConfig: any configuration is either usable (parameters an
// argon2id hash can be made with, at least one hashing slot) or a list of
// problems with messages.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"max_concurrent_hashes":4}`, `{"max_concurrent_hashes":-1}`,
		`{"argon2id":{"memory_kib":19456,"iterations":2,"parallelism":1}}`,
		`{"argon2id":{"memory_kib":1,"iterations":0,"parallelism":0}}`,
		`{"argon2id":{"memory_kib":4294967295}}`, `{"argon2id":{"iterations":"3"}}`,
		`{"argon2id":[],"x":1}`, `{"max_concurrent_hashes":1e3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(json.RawMessage(raw))
		if err != nil {
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("ParseConfig(%q) = %T %v, want a configuration error", raw, err, err)
			}
			for _, p := range ce.Problems {
				if p.Message == "" {
					t.Fatalf("ParseConfig(%q): a problem at %q without a message", raw, p.Path)
				}
			}
			return
		}
		if c.MaxConcurrentHashes < 1 || len(c.Argon2id.problems()) > 0 {
			t.Fatalf("ParseConfig(%q) accepted %+v", raw, c)
		}
	})
}

// FuzzStoredHash: a stored hash of any form is recognised or refused as an
// unknown format; one recognised is verified without a panic and never
// matches a password it was not made from. Every hash is parsed; only
// cheap ones are verified (a costly one is a valid hash, and only slow).
// The backend verifies only what KindOf recognises (Authenticate), so an
// unrecognised hash is not verified here either: Verify may spend a
// bcrypt hash's whole cost before finding its salt malformed.
func FuzzStoredHash(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$$",
		"$2b$04$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
		"pbkdf2_sha256$1$salt$aGFzaA==",
		"pbkdf2_sha256$99999999999$salt$aGFzaA==",
		"argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA",
		"", "$", "!unusable",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stored string) {
		k := KindOf(stored)
		_ = NeedsRehash(stored, DefaultArgon2Params)
		if k.Format == FormatUnknown || k.Format == FormatNone {
			return
		}
		if cheap := map[string]float64{"argon2id": 64 * 2, "bcrypt": 1 << 5, "pbkdf2_sha256": 1000}[k.family()]; k.work() > cheap {
			return
		}
		ok, err := Verify(stored, "fuzz-password-not-in-any-seed")
		if ok {
			t.Fatalf("Verify(%q) matched a password it was not made from", stored)
		}
		if err != nil && !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("Verify(%q) = %v, want a match, a mismatch or an unknown format", stored, err)
		}
	})
}
