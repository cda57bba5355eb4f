package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Kind is what a stored hash is, without any of its secret parts: its
// format and its cost parameters. Two hashes of one kind take the same time
// to verify, whatever their salts and passwords.
type Kind struct {
	// Format is one of the Format constants.
	Format string `json:"format"`
	// Cost is the format's cost parameters: "m=19456,t=2,p=1" for argon2,
	// "12" for bcrypt, "1000000" for pbkdf2; "" for FormatNone and
	// FormatUnknown.
	Cost string `json:"cost"`
}

// The formats of stored hashes.
const (
	FormatArgon2id           = "argon2id"             // $argon2id$v=19$m=..,t=..,p=..$salt$key (PHC)
	FormatDjangoArgon2       = "django_argon2"        // argon2$argon2id$...
	FormatBcrypt             = "bcrypt"               // $2a$, $2b$, $2y$
	FormatDjangoBcrypt       = "django_bcrypt"        // bcrypt$$2b$...
	FormatDjangoBcryptSHA256 = "django_bcrypt_sha256" // bcrypt_sha256$$2b$...
	FormatDjangoPBKDF2       = "django_pbkdf2_sha256" // pbkdf2_sha256$iterations$salt$hash
	// FormatNone is a user without a password.
	FormatNone = "none"
	// FormatUnknown is a hash this backend cannot read: it never matches.
	FormatUnknown = "unknown"
)

func (k Kind) String() string {
	if k.Cost == "" {
		return k.Format
	}
	return k.Format + " " + k.Cost
}

// KindOf returns the kind of a stored hash. A hash in a known format whose
// parameters cannot be read, or that this backend would refuse to verify,
// is FormatUnknown.
func KindOf(stored string) Kind {
	switch {
	case stored == "":
		return Kind{Format: FormatNone}
	case strings.HasPrefix(stored, "$argon2id$"):
		return argon2Kind(FormatArgon2id, stored)
	case strings.HasPrefix(stored, "argon2$argon2id$"):
		return argon2Kind(FormatDjangoArgon2, strings.TrimPrefix(stored, "argon2"))
	case strings.HasPrefix(stored, "$2a$"), strings.HasPrefix(stored, "$2b$"), strings.HasPrefix(stored, "$2y$"):
		return bcryptKind(FormatBcrypt, stored)
	case strings.HasPrefix(stored, "bcrypt_sha256$"):
		return bcryptKind(FormatDjangoBcryptSHA256, strings.TrimPrefix(stored, "bcrypt_sha256$"))
	case strings.HasPrefix(stored, "bcrypt$"):
		return bcryptKind(FormatDjangoBcrypt, strings.TrimPrefix(stored, "bcrypt$"))
	case strings.HasPrefix(stored, "pbkdf2_sha256$"):
		parts := strings.Split(stored, "$")
		if n, err := strconv.Atoi(parts[1]); err == nil && len(parts) == 4 && n >= 1 && n <= maxPBKDF2Iterations && pbkdf2DigestOK(parts[3]) {
			return Kind{Format: FormatDjangoPBKDF2, Cost: strconv.Itoa(n)}
		}
	}
	return Kind{Format: FormatUnknown}
}

// pbkdf2DigestOK reports whether a Django pbkdf2_sha256 digest is base64 of
// at least minKeyBytes.
func pbkdf2DigestOK(digest string) bool {
	d, err := base64.StdEncoding.DecodeString(digest)
	return err == nil && len(d) >= minKeyBytes
}

func argon2Kind(format, phc string) Kind {
	p, _, _, err := parseArgon2id(phc)
	if err != nil {
		return Kind{Format: FormatUnknown}
	}
	return Kind{Format: format, Cost: argon2Cost(p)}
}

func argon2Cost(p Argon2Params) string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
}

func bcryptKind(format, h string) Kind {
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil || len(h) != 60 {
		return Kind{Format: FormatUnknown}
	}
	return Kind{Format: format, Cost: strconv.Itoa(cost)}
}

// CurrentKind is the kind of a hash made now with p.
func CurrentKind(p Argon2Params) Kind { return Kind{Format: FormatArgon2id, Cost: argon2Cost(p)} }

// family groups the kinds that run one key-derivation function, so that
// their costs compare without measuring: the work of a kind grows with the
// number work returns.
func (k Kind) family() string {
	switch k.Format {
	case FormatArgon2id, FormatDjangoArgon2:
		return "argon2id"
	case FormatBcrypt, FormatDjangoBcrypt, FormatDjangoBcryptSHA256:
		return "bcrypt"
	case FormatDjangoPBKDF2:
		return "pbkdf2_sha256"
	}
	return ""
}

// work is how much work verifying a hash of kind k is, in the family's
// own unit (memory × passes for argon2id, 2^cost rounds for bcrypt,
// iterations for pbkdf2); 0 for a kind without a family.
func (k Kind) work() float64 {
	switch k.family() {
	case "argon2id":
		var p Argon2Params
		if _, err := fmt.Sscanf(k.Cost, "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err == nil {
			return float64(p.MemoryKiB) * float64(p.Iterations)
		}
	case "bcrypt":
		if c, err := strconv.Atoi(k.Cost); err == nil {
			return float64(uint64(1) << c)
		}
	case "pbkdf2_sha256":
		if n, err := strconv.Atoi(k.Cost); err == nil {
			return float64(n)
		}
	}
	return 0
}

// Bounds on the kinds an unknown user is made to cost: a hash beyond them
// takes longer than a login may wait (a bcrypt cost of 16 is about 4 s on
// a server of 2025). A kind beyond them still verifies for its own users;
// the backend warns about it.
const (
	maxFloorBcryptCost = 15
	maxFloorArgon2Work = 1 << 21 // KiB × passes: 1 GiB × 2
)

// tooCostly reports whether k is beyond the bounds above.
func (k Kind) tooCostly() bool {
	switch k.family() {
	case "bcrypt":
		return k.work() > float64(uint64(1)<<maxFloorBcryptCost)
	case "argon2id":
		return k.work() > maxFloorArgon2Work
	}
	return false // pbkdf2 is bounded by maxPBKDF2Iterations
}

// dummyHash returns a hash of kind k of a random password, which no
// password matches: verifying against it costs what verifying a stored
// hash of kind k costs.
func dummyHash(k Kind) (string, error) {
	secret := rand.Text()
	switch k.Format {
	case FormatArgon2id, FormatDjangoArgon2:
		var p Argon2Params
		if _, err := fmt.Sscanf(k.Cost, "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
			return "", fmt.Errorf("argon2id cost %q: %w", k.Cost, err)
		}
		h, err := Hash(secret, p)
		if k.Format == FormatDjangoArgon2 {
			h = "argon2" + h
		}
		return h, err
	case FormatBcrypt, FormatDjangoBcrypt, FormatDjangoBcryptSHA256:
		cost, err := strconv.Atoi(k.Cost)
		if err != nil {
			return "", fmt.Errorf("bcrypt cost %q: %w", k.Cost, err)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(secret), cost)
		switch k.Format {
		case FormatDjangoBcrypt:
			return "bcrypt$" + string(h), err
		case FormatDjangoBcryptSHA256:
			return "bcrypt_sha256$" + string(h), err
		}
		return string(h), err
	case FormatDjangoPBKDF2:
		n, err := strconv.Atoi(k.Cost)
		if err != nil {
			return "", fmt.Errorf("pbkdf2 iterations %q: %w", k.Cost, err)
		}
		salt := rand.Text()[:22]
		key, err := pbkdf2.Key(sha256.New, secret, []byte(salt), n, 32)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", n, salt, base64.StdEncoding.EncodeToString(key)), nil
	}
	return "", fmt.Errorf("no dummy hash of kind %s", k)
}
