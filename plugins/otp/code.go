package otp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// newCode draws length characters of alphabet (at most 256 of them) from
// r, each uniformly: a random byte that would favour the first characters
// (one of the last 256 mod len(alphabet) values) is drawn again.
func newCode(r io.Reader, length int, alphabet string) (string, error) {
	n := len(alphabet)
	if n < 2 || n > 256 || length < 1 {
		return "", fmt.Errorf("otp: cannot draw %d characters of an alphabet of %d", length, n)
	}
	limit := 256 - 256%n // bytes below it map onto the alphabet evenly
	code := make([]byte, 0, length)
	buf := make([]byte, length+8)
	for len(code) < length {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("otp: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(code) < length {
				code = append(code, alphabet[int(b)%n])
			}
		}
	}
	return string(code), nil
}

// macLabel separates this hash from any other the key could make.
const macLabel = "portcullis otp code v1\x00"

// codeMAC is HMAC-SHA256, keyed with key, of the request id, the
// generation and the code, each length-prefixed or fixed-size, so that no
// two different triples hash the same input.
func codeMAC(key []byte, id string, generation int, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macLabel))
	var n [8]byte
	binary.BigEndian.PutUint32(n[:4], uint32(len(id)))
	m.Write(n[:4])
	m.Write([]byte(id))
	binary.BigEndian.PutUint64(n[:], uint64(generation))
	m.Write(n[:])
	binary.BigEndian.PutUint32(n[:4], uint32(len(code)))
	m.Write(n[:4])
	m.Write([]byte(code))
	return m.Sum(nil)
}

// state is a challenge's state, as the host stores it: the keyed hash of
// the code, what it was made for, and whether it has been used. It holds
// no code. A TOTP challenge's state (Method methodTOTP) has no hash: the
// code is checked against the user's enrollment.
type state struct {
	Version    int    `json:"v"`
	Method     string `json:"m,omitempty"`
	RequestID  string `json:"id"`
	Generation int    `json:"gen"`
	MAC        []byte `json:"mac,omitempty"`
	Used       bool   `json:"used"`
}

// stateVersion is the version of the state's layout.
const stateVersion = 1

// errNotAState means a stored state is not one this plugin wrote.
var errNotAState = errors.New("the stored state is not an otp challenge's")

func (s state) encode() []byte {
	raw, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings, ints, bytes and a bool always encode
	}
	return raw
}

func decodeState(raw []byte) (state, error) {
	var s state
	if err := json.Unmarshal(raw, &s); err != nil || s.Version != stateVersion {
		return state{}, errNotAState
	}
	switch {
	case s.Method == methodCode && len(s.MAC) == sha256.Size:
	case s.Method == methodTOTP && len(s.MAC) == 0:
	default:
		return state{}, errNotAState
	}
	return s, nil
}
