package password

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/sdk"
)

// fastParams keep tests quick; production defaults are tested separately.
var fastParams = Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func mustBcrypt(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestVerify(t *testing.T) {
	argon, err := Hash("correct horse", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("correct horse"))
	bcryptSHA256, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(sum[:])), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		stored   string
		password string
		want     bool
		wantErr  error
	}{
		{"argon2id right", argon, "correct horse", true, nil},
		{"argon2id wrong", argon, "correct horsE", false, nil},
		{"argon2id empty password", argon, "", false, nil},
		{"django argon2 right", "argon2" + argon, "correct horse", true, nil},
		{"bcrypt right", mustBcrypt(t, "correct horse"), "correct horse", true, nil},
		{"bcrypt wrong", mustBcrypt(t, "correct horse"), "wrong", false, nil},
		{"bcrypt too long password", mustBcrypt(t, "x"), strings.Repeat("x", 100), false, nil},
		{"django bcrypt", "bcrypt$" + mustBcrypt(t, "correct horse"), "correct horse", true, nil},
		{"django bcrypt_sha256", "bcrypt_sha256$" + string(bcryptSHA256), "correct horse", true, nil},
		{"django bcrypt_sha256 wrong", "bcrypt_sha256$" + string(bcryptSHA256), "correct", false, nil},
		// Django's own test vector (django/tests/auth_tests/test_hashers.py).
		{"django pbkdf2 right", "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", "lètmein", true, nil},
		{"django pbkdf2 wrong", "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", "letmein", false, nil},
		{"django pbkdf2 absurd iterations", "pbkdf2_sha256$999999999$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", "lètmein", false, ErrUnknownFormat},
		{"unknown format", "md5$abc$def", "x", false, ErrUnknownFormat},
		{"empty hash", "", "", false, ErrUnknownFormat},
		{"truncated argon2id", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA", "x", false, ErrUnknownFormat},
		{"argon2id bad version", strings.Replace(argon, "v=19", "v=16", 1), "correct horse", false, ErrUnknownFormat},
		{"argon2id absurd memory", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5", "x", false, ErrUnknownFormat},
		// A 1-byte key matches one wrong password in 256 (found by
		// FuzzStoredHash): keys and digests shorter than 16 bytes, and
		// argon2id salts shorter than 8, are refused.
		{"argon2id 1-byte key", "$argon2id$v=19$m=70,t=1,p=2$c2FsdHNhbHQ$0X", "x", false, ErrUnknownFormat},
		{"argon2id 15-byte key", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + b64.EncodeToString(make([]byte, 15)), "x", false, ErrUnknownFormat},
		{"argon2id empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + b64.EncodeToString(make([]byte, 32)), "x", false, ErrUnknownFormat},
		{"django pbkdf2 4-byte digest", "pbkdf2_sha256$1$salt$aGFzaA==", "x", false, ErrUnknownFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.stored, tt.password)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHashIsSaltedPHC(t *testing.T) {
	a, _ := Hash("same", fastParams)
	b, _ := Hash("same", fastParams)
	if a == b {
		t.Fatal("two hashes of the same password are equal: no salt")
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id with the given parameters", a)
	}
}

func TestNeedsRehash(t *testing.T) {
	current, _ := Hash("pw", fastParams)
	weaker, _ := Hash("pw", Argon2Params{MemoryKiB: 32, Iterations: 1, Parallelism: 1})
	tests := []struct {
		stored string
		want   bool
	}{
		{current, false},
		{weaker, true},
		{mustBcrypt(t, "pw"), true},
		{"pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", true},
	}
	for _, tt := range tests {
		if got := NeedsRehash(tt.stored, fastParams); got != tt.want {
			t.Errorf("NeedsRehash(%.20s…) = %v, want %v", tt.stored, got, tt.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantPaths []string
	}{
		{"empty gives defaults", `{}`, nil},
		{"custom", `{"argon2id":{"memory_kib":65536,"iterations":3,"parallelism":2}}`, nil},
		{"unknown field", `{"rounds":3}`, []string{"rounds"}},
		{"bad params and bad concurrency", `{"argon2id":{"memory_kib":1,"iterations":1,"parallelism":1},"max_concurrent_hashes":-1}`, []string{"argon2id.memory_kib", "max_concurrent_hashes"}},
		{"wrong type", `{"max_concurrent_hashes":"many"}`, []string{"max_concurrent_hashes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.raw))
			if len(tt.wantPaths) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if cfg.Argon2id.MemoryKiB == 0 || cfg.MaxConcurrentHashes == 0 {
					t.Fatalf("defaults not filled in: %+v", cfg)
				}
				return
			}
			var cfgErr *sdk.ConfigError
			if !errors.As(err, &cfgErr) {
				t.Fatalf("got %v, want a config error", err)
			}
			var paths []string
			for _, p := range cfgErr.Problems {
				paths = append(paths, p.Path)
			}
			if strings.Join(paths, ",") != strings.Join(tt.wantPaths, ",") {
				t.Fatalf("problem paths = %v, want %v", paths, tt.wantPaths)
			}
		})
	}
}
