package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Argon2Params are the argon2id cost parameters for new hashes.
type Argon2Params struct {
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB uint32 `json:"memory_kib"`
	// Iterations is the time cost.
	Iterations uint32 `json:"iterations"`
	// Parallelism is the number of lanes.
	Parallelism uint8 `json:"parallelism"`
}

// DefaultArgon2Params are OWASP's recommended argon2id settings (19 MiB,
// 2 passes, 1 lane).
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
	// maxPBKDF2Iterations bounds the work a stored Django hash can ask for.
	maxPBKDF2Iterations = 10_000_000
)

// ErrUnknownFormat is returned for a stored hash in no format this backend
// verifies.
var ErrUnknownFormat = errors.New("unknown password hash format")

var b64 = base64.RawStdEncoding

// Hash returns the argon2id hash of password in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func Hash(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the stored hash. It understands
// argon2id (PHC, and Django's "argon2$argon2id$..."), bcrypt ($2a$, $2b$,
// $2y$, and Django's "bcrypt$" and "bcrypt_sha256$"), and Django's
// "pbkdf2_sha256$iterations$salt$hash". Comparisons are constant-time.
func Verify(stored, password string) (bool, error) {
	switch {
	case strings.HasPrefix(stored, "$argon2id$"):
		return verifyArgon2id(stored, password)
	case strings.HasPrefix(stored, "argon2$argon2id$"):
		return verifyArgon2id(strings.TrimPrefix(stored, "argon2"), password)
	case strings.HasPrefix(stored, "$2a$"), strings.HasPrefix(stored, "$2b$"), strings.HasPrefix(stored, "$2y$"):
		return verifyBcrypt(stored, []byte(password))
	case strings.HasPrefix(stored, "bcrypt_sha256$"):
		sum := sha256.Sum256([]byte(password))
		return verifyBcrypt(strings.TrimPrefix(stored, "bcrypt_sha256$"), []byte(hex.EncodeToString(sum[:])))
	case strings.HasPrefix(stored, "bcrypt$"):
		return verifyBcrypt(strings.TrimPrefix(stored, "bcrypt$"), []byte(password))
	case strings.HasPrefix(stored, "pbkdf2_sha256$"):
		return verifyDjangoPBKDF2(stored, password)
	}
	return false, ErrUnknownFormat
}

// NeedsRehash reports whether stored should be replaced by a hash made with
// p: it is in another format or uses other parameters.
func NeedsRehash(stored string, p Argon2Params) bool {
	got, _, _, err := parseArgon2id(stored)
	return err != nil || got != p
}

// The shortest key (digest) and argon2id salt a stored hash may have. A key
// of n bytes matches a wrong password once in 2^(8n): a hash with a 1-byte
// key, however it came to be stored, lets one guess in 256 in. 16 bytes is
// what every hasher this backend reads makes at the least (argon2-cffi,
// Django and this backend make 32-byte keys); 8 bytes is argon2's minimum
// salt (RFC 9106).
const (
	minKeyBytes  = 16
	minSaltBytes = 8
)

func parseArgon2id(stored string) (p Argon2Params, salt, key []byte, err error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(stored, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: malformed argon2id hash", ErrUnknownFormat)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: unsupported argon2 version %q", ErrUnknownFormat, parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, fmt.Errorf("%w: malformed argon2id parameters %q", ErrUnknownFormat, parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < minSaltBytes {
		return p, nil, nil, fmt.Errorf("%w: malformed argon2id salt (at least %d bytes)", ErrUnknownFormat, minSaltBytes)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < minKeyBytes {
		return p, nil, nil, fmt.Errorf("%w: malformed argon2id key (at least %d bytes)", ErrUnknownFormat, minKeyBytes)
	}
	if ps := p.problems(); len(ps) > 0 {
		return p, nil, nil, fmt.Errorf("%w: argon2id %s", ErrUnknownFormat, ps[0])
	}
	return p, salt, key, nil
}

func verifyArgon2id(stored, password string) (bool, error) {
	p, salt, key, err := parseArgon2id(stored)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

func verifyBcrypt(stored string, password []byte) (bool, error) {
	err := bcrypt.CompareHashAndPassword([]byte(stored), password)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	case errors.Is(err, bcrypt.ErrPasswordTooLong):
		// bcrypt cannot have been given this password when the hash was made.
		return false, nil
	}
	return false, fmt.Errorf("%w: %v", ErrUnknownFormat, err)
}

func verifyDjangoPBKDF2(stored, password string) (bool, error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 {
		return false, fmt.Errorf("%w: malformed pbkdf2_sha256 hash", ErrUnknownFormat)
	}
	iterations, err := strconv.Atoi(parts[1])
	if err != nil || iterations < 1 || iterations > maxPBKDF2Iterations {
		return false, fmt.Errorf("%w: bad pbkdf2_sha256 iteration count", ErrUnknownFormat)
	}
	want, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(want) < minKeyBytes {
		return false, fmt.Errorf("%w: malformed pbkdf2_sha256 digest (at least %d bytes)", ErrUnknownFormat, minKeyBytes)
	}
	got, err := pbkdf2.Key(sha256.New, password, []byte(parts[2]), iterations, len(want))
	if err != nil {
		return false, fmt.Errorf("pbkdf2: %w", err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// problems lists what is wrong with the parameters, by field name.
func (p Argon2Params) problems() []sdk.FieldError {
	var ps []sdk.FieldError
	if p.Parallelism < 1 {
		ps = append(ps, sdk.FieldError{Path: "parallelism", Message: "must be >= 1"})
	}
	if p.Iterations < 1 || p.Iterations > 64 {
		ps = append(ps, sdk.FieldError{Path: "iterations", Message: "must be between 1 and 64"})
	}
	if p.MemoryKiB < 8*uint32(max(p.Parallelism, 1)) {
		ps = append(ps, sdk.FieldError{Path: "memory_kib", Message: "must be at least 8 × parallelism"})
	}
	if p.MemoryKiB > 4<<20 {
		ps = append(ps, sdk.FieldError{Path: "memory_kib", Message: "must be at most 4194304 (4 GiB)"})
	}
	return ps
}
