package accesstoken

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The signing algorithms (JWS alg values) Portcullis signs with.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
)

// Algorithms lists the signing algorithms, the default first.
var Algorithms = []string{EdDSA, ES256, RS256}

// Type is the typ header of an access token (RFC 9068).
const Type = "at+jwt"

// MaxLength bounds a token Verify will parse; longer input is malformed.
const MaxLength = 8 << 10

// Claims are an access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID (sid) is the session the token belongs to: revoking the
	// session makes introspection answer inactive for the token.
	SessionID string `json:"sid"`
	// Username is the user's name when the token was issued.
	Username string `json:"username"`
	// Roles and Permissions are the user's roles and the union of their
	// permissions when the token was issued, sorted: a change to them
	// reaches the next token, not this one. Both are absent from a token
	// issued before they existed, and from one whose PermissionsOverflow
	// is set; a token of a user with none carries empty lists.
	Roles       []string `json:"roles,omitzero"`
	Permissions []string `json:"permissions,omitzero"`
	// Superuser is set when the user was a superuser: every permission
	// check passes (CheckPermissions).
	Superuser bool `json:"superuser,omitempty"`
	// PermissionsOverflow is set when the user's roles and permissions
	// did not fit in the token (MaxTokenRoles, MaxTokenPermissions,
	// MaxTokenAuthzBytes): the token carries neither, and every permission
	// check with it fails but a superuser's.
	PermissionsOverflow bool `json:"permissions_overflow,omitempty"`
}

// The Type values of an *Error, as jwt_decode_failed's error_type.
const (
	ErrEmptyToken       = "empty_token"
	ErrMalformed        = "malformed"
	ErrTypeMismatch     = "type_mismatch"
	ErrUnknownKey       = "unknown_key"
	ErrInvalidAlgorithm = "invalid_algorithm"
	ErrInvalidSignature = "invalid_signature"
	ErrExpired          = "expired"
	ErrNotYetValid      = "not_yet_valid"
	ErrInvalidIssuedAt  = "invalid_issued_at"
	ErrInvalidIssuer    = "invalid_issuer"
	ErrInvalidAudience  = "invalid_audience"
	ErrMissingClaim     = "missing_claim"
	ErrRevoked          = "revoked"
	ErrUnexpected       = "unexpected_exception"
)

// ErrInvalidToken is what every *Error is (errors.Is).
var ErrInvalidToken = errors.New("the access token is not valid")

// Error is a refused token. Type is one of the Err* constants; the
// message never quotes the token.
type Error struct {
	Type string
	// ActualType is the typ header of a token refused as type_mismatch.
	ActualType string
	err        error
}

func (e *Error) Error() string {
	if e.err != nil {
		return fmt.Sprintf("the access token is not valid (%s): %v", e.Type, e.err)
	}
	return fmt.Sprintf("the access token is not valid (%s)", e.Type)
}

// Is makes errors.Is(err, ErrInvalidToken) hold.
func (e *Error) Is(target error) bool { return target == ErrInvalidToken }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.err }

// Key is a verification key: the public key and the one algorithm it
// verifies.
type Key struct {
	ID        string
	Algorithm string
	Public    crypto.PublicKey
}

// Keys finds verification keys by kid.
type Keys interface {
	// VerificationKey returns the key named kid. It returns an error
	// wrapping ErrUnknownKeyID when there is none; any other error means
	// the keys could not be read (the token is refused as
	// unexpected_exception, not as forged).
	VerificationKey(ctx context.Context, kid string) (Key, error)
}

// ErrUnknownKeyID is returned by Keys for a kid they do not hold.
var ErrUnknownKeyID = errors.New("no such signing key")

// Verifier verifies access tokens.
type Verifier struct {
	// Issuer and Audience must equal the token's iss and be among its aud.
	Issuer   string
	Audience string
	Keys     Keys
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Verify checks raw and returns its claims, or an *Error.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	claims, _, err := v.verify(ctx, raw)
	return claims, err
}

// options are the checks of the claims golang-jwt makes for v (times,
// issuer, audience), as its parser and its validator take them.
func (v *Verifier) options() []jwt.ParserOption {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return []jwt.ParserOption{
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(v.Issuer),
		jwt.WithAudience(v.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	}
}

// verify is Verify, also returning the kid of the key that signed raw.
func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, string, error) {
	if v.Issuer == "" || v.Audience == "" {
		// golang-jwt would skip an empty expectation: fail closed.
		return nil, "", &Error{Type: ErrUnexpected, err: errors.New("the verifier has no issuer or audience")}
	}
	if raw == "" {
		return nil, "", &Error{Type: ErrEmptyToken}
	}
	if len(raw) > MaxLength {
		return nil, "", &Error{Type: ErrMalformed, err: errors.New("too long")}
	}
	var refused *Error
	var kid string
	claims := new(Claims)
	_, err := jwt.NewParser(v.options()...).ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != Type && !strings.EqualFold(typ, "application/"+Type) {
			refused = &Error{Type: ErrTypeMismatch, ActualType: typ}
			return nil, refused
		}
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			refused = &Error{Type: ErrUnknownKey, err: errors.New("no kid")}
			return nil, refused
		}
		key, err := v.Keys.VerificationKey(ctx, kid)
		if errors.Is(err, ErrUnknownKeyID) {
			refused = &Error{Type: ErrUnknownKey}
			return nil, refused
		}
		if err != nil {
			refused = &Error{Type: ErrUnexpected, err: err}
			return nil, refused
		}
		if t.Method.Alg() != key.Algorithm {
			refused = &Error{Type: ErrInvalidAlgorithm, err: fmt.Errorf("alg %q for a %s key", t.Method.Alg(), key.Algorithm)}
			return nil, refused
		}
		return key.Public, nil
	})
	if refused != nil {
		return nil, "", refused
	}
	if err := refusal(err); err != nil {
		return nil, "", err
	}
	if claims.Subject == "" || claims.ID == "" || claims.SessionID == "" || claims.IssuedAt == nil || claims.NotBefore == nil {
		return nil, "", &Error{Type: ErrMissingClaim}
	}
	return claims, kid, nil
}

// refusal words what golang-jwt refused as an *Error; nil for nil.
func refusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &Error{Type: ErrMalformed}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// Also an alg outside Algorithms, such as "none" or HS256.
		return &Error{Type: ErrInvalidSignature}
	case errors.Is(err, jwt.ErrTokenExpired):
		return &Error{Type: ErrExpired}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return &Error{Type: ErrNotYetValid}
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return &Error{Type: ErrInvalidIssuedAt}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return &Error{Type: ErrInvalidIssuer}
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return &Error{Type: ErrInvalidAudience}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return &Error{Type: ErrMissingClaim}
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenInvalidClaims):
		return &Error{Type: ErrMalformed}
	default:
		return &Error{Type: ErrUnexpected, err: err}
	}
}

// Sign returns claims signed with key (whose algorithm and kid it names),
// with the typ and kid headers of an access token.
func Sign(claims *Claims, key Key, private crypto.Signer) (string, error) {
	method := jwt.GetSigningMethod(key.Algorithm)
	if method == nil || !slices.Contains(Algorithms, key.Algorithm) {
		return "", fmt.Errorf("signing algorithm %q is not supported", key.Algorithm)
	}
	t := jwt.NewWithClaims(method, claims)
	t.Header["typ"] = Type
	t.Header["kid"] = key.ID
	return t.SignedString(private)
}
