package mobiledevice

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// A device token: TokenLength characters of tokenAlphabet, as
// django-auth-token's MOBILE_DEVICE_SECRET_PASSWORD_LENGTH (64 characters
// of 62: about 381 bits).
const (
	TokenLength   = 64
	tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// newToken draws a token from r, each character uniformly: a random byte
// that would favour the first characters (248 and above) is drawn again.
func newToken(r io.Reader) (string, error) {
	const n = len(tokenAlphabet)
	const limit = 256 - 256%n
	token := make([]byte, 0, TokenLength)
	buf := make([]byte, TokenLength+16)
	for len(token) < TokenLength {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("mobiledevice: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(token) < TokenLength {
				token = append(token, tokenAlphabet[int(b)%n])
			}
		}
	}
	return string(token), nil
}

// hashToken is the hex SHA-256 of a token, as stored. A token is 381
// random bits: a fast hash is enough, no guess can find it.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// absentHash stands for the token hash of a device that does not exist,
// or has none, so that a check of it costs what a check of a real one
// does and matches no token.
var absentHash = strings.Repeat("0", sha256.Size*2)

// tokenMatches reports, in constant time, whether token hashes to stored.
// An empty token matches nothing.
func tokenMatches(stored, token string) bool {
	got := hashToken(token)
	if len(stored) != len(got) {
		stored = absentHash
	}
	return subtle.ConstantTimeCompare([]byte(stored), []byte(got)) == 1 && token != ""
}

// parsePublicKey reads an Ed25519 public key written in base64, standard
// or URL-safe, padded or not.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.Strict().DecodeString(s); err == nil && !strings.ContainsAny(s, "\r\n") {
			if len(key) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("public_key must be the %d bytes of an Ed25519 public key, not %d", ed25519.PublicKeySize, len(key))
			}
			return ed25519.PublicKey(key), nil
		}
	}
	return nil, fmt.Errorf("public_key must be an Ed25519 public key in base64")
}

// absentKey stands for the public key of a device that does not exist, or
// has none, so that verifying against it costs what a real check does.
// Its private half is never kept: no signature verifies against it but by
// chance.
var absentKey = func() ed25519.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return pub
}()

// publicKey returns d's public key, or absentKey.
func (d *device) publicKey() ed25519.PublicKey {
	if d == nil || d.KeyType != KeyEd25519 {
		return absentKey
	}
	key, err := base64.StdEncoding.DecodeString(d.PublicKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return absentKey
	}
	return key
}

// encodeKey writes a public key as records keep it: standard base64.
func encodeKey(key ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(key) }
