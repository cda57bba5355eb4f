package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KEKEnv is the environment variable that holds the key-encryption key:
// 32 bytes, base64 (standard or URL alphabet, padded or not).
const KEKEnv = "PORTCULLIS_KEY_ENCRYPTION_KEY"

// DefaultKEKFile is the file, in the data directory, made on first start
// when neither KEKEnv nor tokens.key_encryption_key_file is set.
const DefaultKEKFile = "key-encryption-key"

// Sealer encrypts signing keys at rest with AES-256-GCM under the
// key-encryption key (KEK). The kid is bound in as associated data, so a
// sealed key cannot be passed off as another.
type Sealer struct {
	aead cipher.AEAD
	// key is the KEK itself, from which Derive derives other keys.
	key []byte
	// Source says where the KEK came from (the variable's name or the
	// file's path), for messages; never the key.
	Source string
	// Created is set when LoadKEK made the file just now.
	Created bool
}

// LoadKEK finds the key-encryption key: the environment variable KEKEnv,
// else file (tokens.key_encryption_key_file), else DefaultKEKFile in
// dataDir, which is created (mode 0600, with its directory) when missing.
func LoadKEK(file, dataDir string) (*Sealer, error) {
	if v, ok := os.LookupEnv(KEKEnv); ok {
		s, err := newSealer(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KEKEnv, err)
		}
		s.Source = "$" + KEKEnv
		return s, nil
	}
	if file != "" {
		return readKEKFile(file)
	}
	path := filepath.Join(dataDir, DefaultKEKFile)
	s, err := readKEKFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	return createKEKFile(path)
}

func readKEKFile(path string) (*Sealer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key-encryption key file %s is readable by others (mode %v); chmod 600 it", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	s, err := newSealer(string(data))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	s.Source = path
	return s, nil
}

func createKEKFile(path string) (*Sealer, error) {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	text := base64.StdEncoding.EncodeToString(key[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the key-encryption key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return readKEKFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the key-encryption key file: %w", err)
	}
	_, err = f.WriteString(text + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("writing the key-encryption key file: %w", err)
	}
	s, err := newSealer(text)
	if err != nil {
		return nil, err
	}
	s.Source, s.Created = path, true
	return s, nil
}

func newSealer(text string) (*Sealer, error) {
	text = strings.TrimSpace(text)
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(text); err == nil {
			break
		}
	}
	if err != nil || len(key) != 32 {
		return nil, errors.New("the key-encryption key must be 32 bytes in base64 (e.g. the output of `openssl rand -base64 32`)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, key: key}, nil
}

// sealVersion prefixes every sealed key, so that the format can change.
const sealVersion = 1

func (s *Sealer) seal(kid string, plain []byte) []byte { return s.sealWith(aad(kid), plain) }

func (s *Sealer) sealWith(ad, plain []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:])
	return s.aead.Seal(out, out[1:], plain, ad)
}

// ErrWrongKEK: a sealed key does not open with this key-encryption key.
var ErrWrongKEK = errors.New("the signing key does not decrypt with this key-encryption key")

func (s *Sealer) open(kid string, sealed []byte) ([]byte, error) { return s.openWith(aad(kid), sealed) }

func (s *Sealer) openWith(ad, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, ErrWrongKEK
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, ErrWrongKEK
	}
	return plain, nil
}

func aad(kid string) []byte { return []byte("portcullis signing key " + kid) }
