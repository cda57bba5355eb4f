package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers. http.Header canonicalizes them
// ("Webhook-Id"); HTTP header names are case-insensitive.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a secret in the standard's form: the prefix, then the
// key in standard base64 (with padding).
const SecretPrefix = "whsec_"

// Secret sizes accepted by Key.
const (
	// MinKeyBytes and MaxKeyBytes bound the decoded key of a "whsec_"
	// secret, as the standard asks (192 to 512 bits).
	MinKeyBytes = 24
	MaxKeyBytes = 64
	// MinSecretLength is the least length, in bytes, of any other secret.
	MinSecretLength = 16
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, before or after, when a Verifier sets none.
const DefaultTolerance = 5 * time.Minute

// Errors. Verify's errors wrap exactly one of those below; Key's wrap
// ErrInvalidSecret. None of them carries the secret or the signature.
var (
	ErrInvalidSecret       = errors.New("invalid webhook secret")
	ErrMissingHeader       = errors.New("missing webhook header")
	ErrInvalidTimestamp    = errors.New("invalid webhook-timestamp")
	ErrTooOld              = errors.New("webhook timestamp too old")
	ErrTooNew              = errors.New("webhook timestamp too new")
	ErrNoMatchingSignature = errors.New("no matching webhook signature")
)

// Key returns the HMAC key that a configured secret stands for.
//
// A secret that starts with SecretPrefix is in the standard's form: the
// rest must be standard base64 (with padding) of MinKeyBytes to
// MaxKeyBytes bytes, and the key is those bytes. Any other secret must be
// at least MinSecretLength bytes long, and the key is its UTF-8 bytes; a
// receiver library that expects the standard's form is given SecretPrefix
// followed by the standard base64 of those bytes.
//
// Key fails closed: an error means there is no key, never a weaker one.
func Key(secret string) ([]byte, error) {
	encoded, standard := strings.CutPrefix(secret, SecretPrefix)
	if !standard {
		if len(secret) < MinSecretLength {
			return nil, fmt.Errorf("%w: must be at least %d characters (or %s and a base64 key)", ErrInvalidSecret, MinSecretLength, SecretPrefix)
		}
		return []byte(secret), nil
	}
	// The decoder skips line breaks; a secret must not hold any.
	key, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil || strings.ContainsAny(encoded, "\r\n") {
		return nil, fmt.Errorf("%w: after %s must come the key in standard base64, with padding", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) < MinKeyBytes || len(key) > MaxKeyBytes {
		return nil, fmt.Errorf("%w: the key after %s must be %d to %d bytes, not %d", ErrInvalidSecret, SecretPrefix, MinKeyBytes, MaxKeyBytes, len(key))
	}
	return key, nil
}

// Timestamp formats t as webhook-timestamp does: whole seconds since the
// Unix epoch, in decimal.
func Timestamp(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10)
}

// Sign returns the webhook-signature value of one attempt: "v1," and the
// standard base64 of HMAC-SHA256(key, id + "." + Timestamp(at) + "." +
// body).
func Sign(key []byte, id string, at time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, Timestamp(at), body))
}

// SetHeaders sets the three Standard Webhooks headers of one attempt made
// at at.
func SetHeaders(h http.Header, key []byte, id string, at time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, Timestamp(at))
	h.Set(HeaderSignature, Sign(key, id, at, body))
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verifier checks deliveries signed with the Standard Webhooks scheme. The
// zero value refuses everything (it has no key).
type Verifier struct {
	// Key is the HMAC key: Key(secret) of the subscriber's secret.
	Key []byte
	// Tolerance is how far webhook-timestamp may be from Now, before or
	// after; zero means DefaultTolerance, and a negative one refuses every
	// delivery.
	Tolerance time.Duration
	// Now is the receiver's clock; nil means time.Now.
	Now func() time.Time
}

// NewVerifier returns a Verifier for a configured secret, with the
// default tolerance.
func NewVerifier(secret string) (*Verifier, error) {
	key, err := Key(secret)
	if err != nil {
		return nil, err
	}
	return &Verifier{Key: key}, nil
}

// Verify checks one delivery: its raw body, as received, and its headers.
// It returns nil only if all of these hold:
//
//   - webhook-id, webhook-timestamp and webhook-signature are present;
//   - webhook-timestamp is a decimal number of seconds within Tolerance of
//     Now, in the past or in the future;
//   - one of the space-separated signatures in webhook-signature is "v1,"
//     and the base64 HMAC-SHA256 of id.timestamp.body under Key, compared
//     in constant time. Signatures of other versions are skipped.
//
// The caller must still drop a delivery whose webhook-id it has already
// handled: a delivery can be sent, and replayed, more than once within the
// tolerance.
func (v *Verifier) Verify(header http.Header, body []byte) error {
	if len(v.Key) == 0 {
		return fmt.Errorf("%w: the verifier has no key", ErrNoMatchingSignature)
	}
	tolerance := v.Tolerance
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	id, ts, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	for _, h := range [...]struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs}} {
		if h.value == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, h.name)
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(secs, 10) != ts {
		return fmt.Errorf("%w: %q is not a whole number of seconds", ErrInvalidTimestamp, ts)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	at, current := time.Unix(secs, 0), now()
	if current.Sub(at) > tolerance {
		return fmt.Errorf("%w: %s is more than %s ago", ErrTooOld, at.UTC().Format(time.RFC3339), tolerance)
	}
	if at.Sub(current) > tolerance {
		return fmt.Errorf("%w: %s is more than %s ahead", ErrTooNew, at.UTC().Format(time.RFC3339), tolerance)
	}
	want := mac(v.Key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		encoded, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(encoded)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}
