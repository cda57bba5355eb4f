package mobiledevice

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// A nonce is base64url (unpadded) of its expiry (Unix seconds, 8 bytes
// big-endian), 16 random bytes, and the first 16 bytes of
// HMAC-SHA256(nonce key, device id ‖ 0 ‖ those 24 bytes). It needs no
// storage to issue: the MAC proves that this plugin issued it, for that
// device, until then. Only its use is stored (markUsed).
const (
	nonceExpiryBytes = 8
	nonceRandomBytes = 16
	nonceMACBytes    = 16
	nonceBytes       = nonceExpiryBytes + nonceRandomBytes + nonceMACBytes
)

// nonceTextLength is a nonce's length as text.
var nonceTextLength = base64.RawURLEncoding.EncodedLen(nonceBytes)

// usedMarkerMargin keeps a used nonce's marker past the nonce's expiry,
// so that a host whose clock is behind the database's still finds it.
const usedMarkerMargin = time.Minute

// nonceMAC is the MAC of a nonce's first 24 bytes for a device. A device
// id holds no NUL, so the 0 ends it unambiguously.
func nonceMAC(key []byte, deviceID string, head []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(deviceID))
	m.Write([]byte{0})
	m.Write(head)
	return m.Sum(nil)[:nonceMACBytes]
}

// issueNonce makes a nonce for deviceID good until expires.
func issueNonce(key []byte, random io.Reader, deviceID string, expires time.Time) (string, error) {
	raw := make([]byte, nonceExpiryBytes+nonceRandomBytes, nonceBytes)
	binary.BigEndian.PutUint64(raw, uint64(expires.Unix()))
	if _, err := io.ReadFull(random, raw[nonceExpiryBytes:]); err != nil {
		return "", fmt.Errorf("mobiledevice: reading random bytes: %w", err)
	}
	raw = append(raw, nonceMAC(key, deviceID, raw)...)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// checkNonce reports whether nonce is one this plugin issued for
// deviceID that has not expired at now, and returns its expiry. Whether
// it was used is for markUsed to say.
func checkNonce(key []byte, deviceID, nonce string, now time.Time) (time.Time, bool) {
	if len(nonce) != nonceTextLength {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(raw) != nonceBytes {
		return time.Time{}, false
	}
	head, mac := raw[:nonceExpiryBytes+nonceRandomBytes], raw[nonceExpiryBytes+nonceRandomBytes:]
	if !hmac.Equal(mac, nonceMAC(key, deviceID, head)) {
		return time.Time{}, false
	}
	secs := binary.BigEndian.Uint64(head)
	if secs > uint64(now.Add(MaxNonceTTL+usedMarkerMargin).Unix()) { // not a nonce this plugin could have made
		return time.Time{}, false
	}
	expires := time.Unix(int64(secs), 0)
	if !now.Before(expires) {
		return time.Time{}, false
	}
	return expires, true
}

// usedKey is the storage key of a nonce's used marker: a hash, so that
// storage never holds a nonce.
func usedKey(nonce string) string {
	sum := sha256.Sum256([]byte(nonce))
	return noncePrefix + hex.EncodeToString(sum[:])
}

// markUsed marks the nonce, which expires at expires, used, and reports
// whether it was unused: of any number of calls with one nonce, on any
// number of hosts, one gets true. The marker outlives the nonce, then
// expires.
func (p *Plugin) markUsed(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	ttl := expires.Sub(p.now()) + usedMarkerMargin
	swapped, err := p.storage.CompareAndSwap(ctx, usedKey(nonce), nil, []byte("used"), ttl)
	if err != nil {
		return false, fmt.Errorf("mobiledevice: marking a nonce used: %w", err)
	}
	return swapped, nil
}
