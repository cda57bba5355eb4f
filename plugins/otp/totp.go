package otp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The TOTP parameters: those of RFC 6238's examples, of authenticator
// apps and of oathtool's defaults. They are not configurable: an app that
// ignores the otpauth URI's parameters still works.
const (
	totpPeriod      = 30 // seconds of a step
	totpDigits      = 6
	totpSkew        = 1  // steps accepted before and after the current one
	totpSecretBytes = 20 // 160 bits, as RFC 4226 recommends for SHA-1
)

// Recovery codes: recoveryCount of them per confirmed enrollment, each
// recoveryLength characters of recoveryAlphabet (32 characters, so 50
// bits), shown as two groups of five joined by a hyphen.
const (
	recoveryCount    = 10
	recoveryLength   = 10
	recoveryAlphabet = "abcdefghijkmnpqrstuvwxyz23456789" // no 0, o, 1, l
)

// recordVersion is the version of a stored TOTP record's layout.
const recordVersion = 1

// recordPrefix starts the storage key of each user's TOTP record.
const recordPrefix = "totp/"

// casTries bounds the read-decide-swap rounds of one update: a round is
// lost only when another host changed the same user's record meanwhile.
const casTries = 5

// Labels that keep the keys and hashes made from the hash key apart.
const (
	sealInfo      = "portcullis otp totp secret seal v1"
	recoveryLabel = "portcullis otp recovery code v1\x00"
)

// record is one user's TOTP enrollment as stored under recordPrefix and
// the user id. The secret is sealed, not hashed: a TOTP secret must be
// read back to compute the codes it is checked against.
type record struct {
	Version int `json:"v"`
	// Sealed is the secret sealed with AES-256-GCM under a key derived
	// from the hash key (sealKey), the user id as associated data: a
	// 12-byte nonce, then the ciphertext and its tag.
	Sealed []byte `json:"sealed"`
	// Confirmed is set once a code from the app confirmed the enrollment;
	// only then is it a second factor.
	Confirmed bool `json:"confirmed"`
	// LastStep is the last time step whose code was accepted (0 for
	// none): a code of that step or an earlier one is a replay.
	LastStep int64 `json:"last_step"`
	// Recovery holds the keyed hashes of the recovery codes.
	Recovery []recoveryHash `json:"recovery,omitempty"`
}

// recoveryHash is one recovery code's keyed hash (recoveryMAC), and
// whether it has been used.
type recoveryHash struct {
	MAC  []byte `json:"mac"`
	Used bool   `json:"used"`
}

// errNotARecord means a stored value is not a TOTP record of this plugin.
var errNotARecord = errors.New("otp: the stored TOTP record is not one this plugin wrote")

func (r *record) encode() []byte {
	raw, err := json.Marshal(r)
	if err != nil {
		panic(err) // bytes, bools and ints always encode
	}
	return raw
}

func decodeRecord(raw []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(raw, &r); err != nil || r.Version != recordVersion || len(r.Sealed) == 0 {
		return nil, errNotARecord
	}
	return &r, nil
}

// recoveryLeft counts the unused recovery codes.
func (r *record) recoveryLeft() int {
	n := 0
	for _, h := range r.Recovery {
		if !h.Used {
			n++
		}
	}
	return n
}

// recordKey is the storage key of a user's record.
func recordKey(userID string) string { return recordPrefix + userID }

// sealKey derives the key that seals TOTP secrets from the hash key, with
// HKDF-SHA256 and a label of its own: it is never the key of the codes'
// HMACs.
func sealKey(hashKey []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, hashKey, nil, sealInfo, 32)
}

// seal encrypts a secret for userID, with a nonce drawn from random.
func seal(hashKey []byte, random io.Reader, userID string, secret []byte) ([]byte, error) {
	aead, err := newAEAD(hashKey)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, fmt.Errorf("otp: reading random bytes: %w", err)
	}
	return aead.Seal(nonce, nonce, secret, []byte(userID)), nil
}

// open decrypts what seal sealed for userID. It fails for another user's
// record, a changed record, or another hash key.
func open(hashKey []byte, userID string, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(hashKey)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errNotARecord
	}
	secret, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(userID))
	if err != nil {
		return nil, errors.New("otp: the TOTP secret does not open with the hash key: the key changed since the enrollment, or the record is not this user's")
	}
	return secret, nil
}

func newAEAD(hashKey []byte) (cipher.AEAD, error) {
	key, err := sealKey(hashKey)
	if err != nil {
		return nil, fmt.Errorf("otp: deriving the sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// step is the TOTP time step of t.
func step(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return s / totpPeriod
}

// totpCode is the code of a secret at a time step.
func totpCode(secret []byte, step int64) (string, error) {
	return hotp.GenerateCodeCustom(base32.StdEncoding.EncodeToString(secret), uint64(step), hotp.ValidateOpts{
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// matchStep finds the step, within totpSkew of now's, whose code is code
// and which is after lastStep. It compares every candidate in constant
// time, and reports replay when the code is that of a step at or before
// lastStep only.
func matchStep(secret []byte, code string, now time.Time, lastStep int64) (matched int64, ok, replay bool, err error) {
	if !sixDigits(code) {
		return 0, false, false, nil
	}
	current := step(now)
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		want, err := totpCode(secret, s)
		if err != nil {
			return 0, false, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		if s > lastStep {
			matched, ok = s, true
		} else {
			replay = true
		}
	}
	return matched, ok, replay && !ok, nil
}

// sixDigits reports whether code is totpDigits ASCII digits.
func sixDigits(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// newRecoveryCodes draws recoveryCount codes from random, as shown to the
// user ("xxxxx-xxxxx").
func newRecoveryCodes(random io.Reader) ([]string, error) {
	codes := make([]string, recoveryCount)
	for i := range codes {
		c, err := newCode(random, recoveryLength, recoveryAlphabet)
		if err != nil {
			return nil, err
		}
		codes[i] = c[:recoveryLength/2] + "-" + c[recoveryLength/2:]
	}
	return codes, nil
}

// canonicalRecovery returns a typed recovery code as it is hashed: lower
// case, without hyphens or spaces; ok is false if it then is not
// recoveryLength characters of recoveryAlphabet.
func canonicalRecovery(typed string) (code string, ok bool) {
	if len(typed) > 4*recoveryLength {
		return "", false
	}
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(typed))
	if len(c) != recoveryLength || strings.Trim(c, recoveryAlphabet) != "" {
		return "", false
	}
	return c, true
}

// recoveryMAC is HMAC-SHA256, keyed with the hash key, of a canonical
// recovery code and the user it belongs to, each length-prefixed.
func recoveryMAC(key []byte, userID, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(recoveryLabel))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(userID)))
	m.Write(n[:])
	m.Write([]byte(userID))
	binary.BigEndian.PutUint32(n[:], uint32(len(code)))
	m.Write(n[:])
	m.Write([]byte(code))
	return m.Sum(nil)
}

// useRecovery marks the unused recovery code whose hash is mac used, and
// reports whether there was one. Every stored hash is compared, each in
// constant time.
func (r *record) useRecovery(mac []byte) bool {
	found := -1
	for i, h := range r.Recovery {
		if hmac.Equal(h.MAC, mac) && !h.Used && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return false
	}
	r.Recovery[found].Used = true
	return true
}

// errUnchanged, returned by an update's change, stores nothing and ends
// the update without an error.
var errUnchanged = errors.New("unchanged")

// update reads the user's record (nil if there is none), lets change
// decide on it, and stores what change returns only if the record is
// still the one read, with compare-and-swap; if another host changed it
// meanwhile, it reads it again and change decides again. So of two checks
// of one code, on any hosts, one is valid.
func (p *Plugin) update(ctx context.Context, userID string, change func(old *record) (*record, error)) error {
	key := recordKey(userID)
	for range casTries {
		old, oldRaw, err := p.load(ctx, userID)
		if err != nil {
			return err
		}
		next, err := change(old)
		if errors.Is(err, errUnchanged) {
			return nil
		}
		if err != nil {
			return err
		}
		swapped, err := p.storage.CompareAndSwap(ctx, key, oldRaw, next.encode(), 0)
		if err != nil {
			return fmt.Errorf("otp: storing the TOTP record: %w", err)
		}
		if swapped {
			return nil
		}
	}
	return fmt.Errorf("%w: otp: the TOTP record of user %s kept changing; try again", sdk.ErrConflict, userID)
}

// load reads the user's record and its stored form; nil, nil for none.
func (p *Plugin) load(ctx context.Context, userID string) (*record, []byte, error) {
	e, err := p.storage.Get(ctx, recordKey(userID))
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("otp: reading the TOTP record: %w", err)
	}
	r, err := decodeRecord(e.Value)
	if err != nil {
		return nil, nil, err
	}
	return r, e.Value, nil
}

// totpEnrolled reports whether the user has a confirmed enrollment.
func (p *Plugin) totpEnrolled(ctx context.Context, userID string) (bool, error) {
	if userID == "" {
		return false, nil
	}
	r, _, err := p.load(ctx, userID)
	if err != nil {
		return false, err
	}
	return r != nil && r.Confirmed, nil
}
