package tokens

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// SealSecret encrypts a secret the host must read back (a provider's
// refresh token) under the key-encryption key, bound to label: a secret
// sealed for one label does not open for another, nor as a signing key.
func (s *Sealer) SealSecret(label string, plain []byte) []byte {
	return s.sealWith([]byte("portcullis secret "+label), plain)
}

// OpenSecret decrypts what SealSecret sealed for label.
func (s *Sealer) OpenSecret(label string, sealed []byte) ([]byte, error) {
	return s.openWith([]byte("portcullis secret "+label), sealed)
}

// Derive returns a 32-byte key for purpose, derived from the
// key-encryption key with HKDF-SHA256: one key the operator keeps serves
// every key the host derives, and knowing a derived key tells nothing of
// the others.
func (s *Sealer) Derive(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, s.key, nil, "portcullis "+purpose, 32)
	if err != nil {
		panic(err) // only for a length SHA-256 cannot give
	}
	return k
}
