package accesstoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// JWK is one public key of a JSON Web Key Set (RFC 7517), in the members
// its key type uses.
type JWK struct {
	KeyType   string `json:"kty"`
	KeyID     string `json:"kid"`
	Use       string `json:"use,omitempty"`
	Algorithm string `json:"alg"`
	Curve     string `json:"crv,omitempty"`
	X         string `json:"x,omitempty"`
	Y         string `json:"y,omitempty"`
	N         string `json:"n,omitempty"`
	E         string `json:"e,omitempty"`
}

// Set is a JSON Web Key Set.
type Set struct {
	Keys []JWK `json:"keys"`
}

// NewSet returns the set publishing keys.
func NewSet(keys []Key) (Set, error) {
	s := Set{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		j, err := toJWK(k.Public)
		if err != nil {
			return Set{}, fmt.Errorf("key %s: %w", k.ID, err)
		}
		j.KeyID, j.Algorithm, j.Use = k.ID, k.Algorithm, "sig"
		s.Keys = append(s.Keys, j)
	}
	return s, nil
}

// ParseSet reads a JSON Web Key Set and returns its signing keys of the
// algorithms Verify accepts, by kid. A key of another algorithm, without
// alg (Portcullis always names it, and a key must verify one algorithm
// only), or for encryption, is left out; a malformed key of a known
// algorithm, or a kid given twice, is an error.
func ParseSet(data []byte) (map[string]Key, error) {
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading the key set: %w", err)
	}
	out := make(map[string]Key, len(s.Keys))
	for _, j := range s.Keys {
		if !slices.Contains(Algorithms, j.Algorithm) || (j.Use != "" && j.Use != "sig") || j.KeyID == "" {
			continue
		}
		pub, err := fromJWK(j)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", j.KeyID, err)
		}
		if _, dup := out[j.KeyID]; dup {
			return nil, fmt.Errorf("key %q is in the set twice", j.KeyID)
		}
		out[j.KeyID] = Key{ID: j.KeyID, Algorithm: j.Algorithm, Public: pub}
	}
	return out, nil
}

// NewKey makes a private key for alg.
func NewKey(alg string) (crypto.Signer, error) {
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("signing algorithm %q is not supported (%v)", alg, Algorithms)
}

// KeyID returns the JWK thumbprint (RFC 7638) of a public key, base64url:
// the kid Portcullis gives a key.
func KeyID(pub crypto.PublicKey) (string, error) {
	j, err := toJWK(pub)
	if err != nil {
		return "", err
	}
	var canonical string // members in lexicographic order, as RFC 7638 asks
	switch j.KeyType {
	case "OKP":
		canonical = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Curve, j.X)
	case "EC":
		canonical = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Curve, j.X, j.Y)
	case "RSA":
		canonical = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	}
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

var b64 = base64.RawURLEncoding

func toJWK(pub crypto.PublicKey) (JWK, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return JWK{KeyType: "OKP", Curve: "Ed25519", X: b64.EncodeToString(k)}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return JWK{}, errors.New("only P-256 ECDSA keys are supported")
		}
		raw, err := k.Bytes() // 0x04 || X || Y, 32 bytes each
		if err != nil {
			return JWK{}, err
		}
		return JWK{KeyType: "EC", Curve: "P-256", X: b64.EncodeToString(raw[1:33]), Y: b64.EncodeToString(raw[33:])}, nil
	case *rsa.PublicKey:
		return JWK{KeyType: "RSA", N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}, nil
	}
	return JWK{}, fmt.Errorf("unsupported public key type %T", pub)
}

func fromJWK(j JWK) (crypto.PublicKey, error) {
	want := map[string]string{EdDSA: "OKP", ES256: "EC", RS256: "RSA"}[j.Algorithm]
	if j.KeyType != want {
		return nil, fmt.Errorf("kty %q does not fit alg %s", j.KeyType, j.Algorithm)
	}
	switch j.KeyType {
	case "OKP":
		x, err := b64.DecodeString(j.X)
		if err != nil || j.Curve != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("not an Ed25519 public key")
		}
		return ed25519.PublicKey(x), nil
	case "EC":
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || j.Curve != "P-256" || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("not a P-256 public key")
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("not a P-256 public key: %w", err)
		}
		return k, nil
	default: // RSA
		n, errN := b64.DecodeString(j.N)
		e, errE := b64.DecodeString(j.E)
		if errN != nil || errE != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("not an RSA public key of at least 2048 bits")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
}
