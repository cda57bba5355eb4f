package password

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestKindOf(t *testing.T) {
	argon, _ := Hash("pw", fastParams)
	bc := mustBcrypt(t, "pw")
	sum := sha256.Sum256([]byte("pw"))
	bcSHA, _ := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(sum[:])), 5)
	tests := []struct {
		name   string
		stored string
		want   Kind
	}{
		{"argon2id", argon, Kind{FormatArgon2id, "m=64,t=1,p=1"}},
		{"django argon2", "argon2" + argon, Kind{FormatDjangoArgon2, "m=64,t=1,p=1"}},
		{"bcrypt", bc, Kind{FormatBcrypt, "4"}},
		{"django bcrypt", "bcrypt$" + bc, Kind{FormatDjangoBcrypt, "4"}},
		{"django bcrypt_sha256", "bcrypt_sha256$" + string(bcSHA), Kind{FormatDjangoBcryptSHA256, "5"}},
		{"django pbkdf2", "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", Kind{FormatDjangoPBKDF2, "10000"}},
		{"no password", "", Kind{Format: FormatNone}},
		{"md5", "md5$abc$def", Kind{Format: FormatUnknown}},
		{"truncated argon2id", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA", Kind{Format: FormatUnknown}},
		{"absurd argon2id memory", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5", Kind{Format: FormatUnknown}},
		{"truncated bcrypt", bc[:30], Kind{Format: FormatUnknown}},
		{"absurd pbkdf2 iterations", "pbkdf2_sha256$999999999$salt$aGFzaA==", Kind{Format: FormatUnknown}},
		{"pbkdf2 without its parts", "pbkdf2_sha256$", Kind{Format: FormatUnknown}},
		{"pbkdf2 4-byte digest", "pbkdf2_sha256$10000$salt$aGFzaA==", Kind{Format: FormatUnknown}},
		{"argon2id 1-byte key", "$argon2id$v=19$m=70,t=1,p=2$c2FsdHNhbHQ$0X", Kind{Format: FormatUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.stored); got != tt.want {
				t.Fatalf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDummyHashes: a dummy hash has the kind asked for, so it costs what a
// stored hash of that kind costs, and no password matches it.
func TestDummyHashes(t *testing.T) {
	for _, k := range []Kind{
		CurrentKind(fastParams),
		{FormatDjangoArgon2, "m=64,t=1,p=1"},
		{FormatBcrypt, "4"},
		{FormatDjangoBcrypt, "4"},
		{FormatDjangoBcryptSHA256, "4"},
		{FormatDjangoPBKDF2, "1000"},
	} {
		t.Run(k.String(), func(t *testing.T) {
			h, err := dummyHash(k)
			if err != nil {
				t.Fatal(err)
			}
			if got := KindOf(h); got != k {
				t.Fatalf("the dummy is of kind %v, want %v", got, k)
			}
			for _, pw := range []string{"", "password", "measuring"} {
				if ok, err := Verify(h, pw); ok || err != nil {
					t.Fatalf("Verify(dummy, %q) = %v, %v", pw, ok, err)
				}
			}
		})
	}
	if _, err := dummyHash(Kind{Format: FormatUnknown}); err == nil {
		t.Error("made a dummy of an unknown kind")
	}
}

// TestKindWork orders kinds within a family without measuring them.
func TestKindWork(t *testing.T) {
	tests := []struct {
		cheaper, costlier Kind
	}{
		{Kind{FormatBcrypt, "10"}, Kind{FormatBcrypt, "12"}},
		{Kind{FormatBcrypt, "11"}, Kind{FormatDjangoBcryptSHA256, "12"}},
		{Kind{FormatDjangoPBKDF2, "870000"}, Kind{FormatDjangoPBKDF2, "1000000"}},
		{Kind{FormatArgon2id, "m=19456,t=2,p=1"}, Kind{FormatArgon2id, "m=65536,t=3,p=4"}},
		{Kind{FormatArgon2id, "m=19456,t=2,p=1"}, Kind{FormatDjangoArgon2, "m=102400,t=2,p=8"}},
	}
	for _, tt := range tests {
		if tt.cheaper.family() != tt.costlier.family() || tt.cheaper.work() >= tt.costlier.work() {
			t.Errorf("%v is not cheaper than %v in one family", tt.cheaper, tt.costlier)
		}
	}
	for _, k := range []Kind{{FormatBcrypt, "16"}, {FormatArgon2id, "m=1048576,t=3,p=1"}} {
		if !k.tooCostly() {
			t.Errorf("%v is not too costly for the floor", k)
		}
	}
	for _, k := range []Kind{{FormatBcrypt, "15"}, {FormatDjangoPBKDF2, "10000000"}, CurrentKind(DefaultArgon2Params)} {
		if k.tooCostly() {
			t.Errorf("%v is too costly for the floor", k)
		}
	}
}
