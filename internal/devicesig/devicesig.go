// Package devicesig is the one definition of how a mobile device signs a
// request with its Ed25519 key, shared by the device client that signs and
// the mobiledevice plugin that verifies.
//
// A signed request carries
//
//	Authorization: Portcullis-Device id="<device id>", nonce="<nonce>", signature="<base64url>"
//
// where the signature is over Message: the method, the request target
// (path and query as sent), the SHA-256 of the body and a nonce the
// server issued (POST /v1/device/nonce), which is good for one request.
package devicesig

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Scheme is the Authorization scheme of a signed request.
const Scheme = "Portcullis-Device"

// BodyHash is the hex SHA-256 of a request body (of nothing, for none).
func BodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Message is what a device signs: a fixed label, then the method, the
// request target, the body's hash and the nonce, one per line.
func Message(method, target, bodyHash, nonce string) []byte {
	return []byte("portcullis-device-v1\n" + method + "\n" + target + "\n" + bodyHash + "\n" + nonce)
}

// Header formats the Authorization header of a signed request.
func Header(deviceID, nonce string, signature []byte) string {
	return Scheme + ` id="` + deviceID + `", nonce="` + nonce + `", signature="` +
		base64.RawURLEncoding.EncodeToString(signature) + `"`
}

// ErrMalformed is a header that is not a well-formed signed request's.
var ErrMalformed = errors.New(`the Authorization header must be: ` + Scheme + ` id="...", nonce="...", signature="..."`)

// Parse reads a signed request's Authorization header value.
func Parse(value string) (deviceID, nonce string, signature []byte, err error) {
	rest, ok := strings.CutPrefix(value, Scheme+" ")
	if !ok || len(value) > 1024 {
		return "", "", nil, ErrMalformed
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return "", "", nil, ErrMalformed
		}
		if _, dup := fields[k]; dup {
			return "", "", nil, ErrMalformed
		}
		fields[k] = v[1 : len(v)-1]
	}
	if len(fields) != 3 || fields["id"] == "" || fields["nonce"] == "" || fields["signature"] == "" {
		return "", "", nil, ErrMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(fields["signature"])
	if err != nil {
		return "", "", nil, ErrMalformed
	}
	return fields["id"], fields["nonce"], sig, nil
}
