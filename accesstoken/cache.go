package accesstoken

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// Cache is a Verifier that remembers the tokens it accepted, by their
// SHA-256, so that a token presented again (a proxy's forward-auth sends
// the same one with every request of a user) is not verified again. What
// a token cannot change is checked once: its signature, type, key and
// algorithm, and that it has every claim. What can change is checked at
// every use, as the Verifier checks it: its times (exp, nbf, iat, with the
// same leeway), its issuer and audience, and that the key that signed it
// is still known (a retired key's tokens are refused as unknown_key then,
// by a full verification). Refused tokens are not remembered.
//
// It holds at most Max tokens; a new token in a full cache takes the place
// of an expired one among a few it looks at, or else of an arbitrary one.
// A Cache's fields must not change once it is used.
type Cache struct {
	Verifier *Verifier
	// Max bounds the tokens remembered; 0 means DefaultCacheSize.
	Max int

	once      sync.Once
	validator *jwt.Validator // the Verifier's checks of the claims

	mu     sync.RWMutex
	tokens map[[sha256.Size]byte]cachedToken
}

// evictLooks is how many remembered tokens a full cache looks at for an
// expired one to forget.
const evictLooks = 16

// DefaultCacheSize is a Cache's bound when Max is 0: about 4 MiB at most.
const DefaultCacheSize = 10000

// cachedToken is a token the Verifier accepted: its claims, and the kid of
// the key that signed it.
type cachedToken struct {
	claims Claims
	kid    string
}

// Verify checks raw as Verifier.Verify does, without verifying its
// signature again if it was accepted before. The claims are the caller's
// own copy (their slices are shared and must not be changed).
func (c *Cache) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > MaxLength {
		return c.Verifier.Verify(ctx, raw)
	}
	sum := sha256.Sum256([]byte(raw))
	c.mu.RLock()
	t, ok := c.tokens[sum]
	c.mu.RUnlock()
	if ok {
		claims := t.claims
		if err := c.revalidate(ctx, &claims, t.kid); err == nil {
			return &claims, nil
		}
		// Expired, or its key gone: forget it, and let the full
		// verification refuse it with its own reason.
		c.mu.Lock()
		delete(c.tokens, sum)
		c.mu.Unlock()
	}
	claims, kid, err := c.Verifier.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	c.remember(sum, cachedToken{claims: *claims, kid: kid})
	return claims, nil
}

// revalidate checks what may have changed since a token was accepted.
func (c *Cache) revalidate(ctx context.Context, claims *Claims, kid string) error {
	if err := c.checkClaims(claims); err != nil {
		return err
	}
	_, err := c.Verifier.Keys.VerificationKey(ctx, kid)
	if errors.Is(err, ErrUnknownKeyID) {
		return &Error{Type: ErrUnknownKey}
	}
	return err
}

// remember keeps t under sum, making room if the cache is full.
func (c *Cache) remember(sum [sha256.Size]byte, t cachedToken) {
	max := c.Max
	if max <= 0 {
		max = DefaultCacheSize
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil {
		c.tokens = map[[sha256.Size]byte]cachedToken{}
	}
	if len(c.tokens) >= max {
		looked, victim := 0, [sha256.Size]byte{}
		for k, old := range c.tokens { // map order: arbitrary ones
			if looked == 0 {
				victim = k
			}
			if c.checkClaims(&old.claims) != nil {
				victim = k
				break
			}
			if looked++; looked == evictLooks {
				break
			}
		}
		delete(c.tokens, victim)
	}
	c.tokens[sum] = t
}

// checkClaims checks claims's times, issuer and audience as the
// Verifier does.
func (c *Cache) checkClaims(claims *Claims) error {
	c.once.Do(func() { c.validator = jwt.NewValidator(c.Verifier.options()...) })
	return refusal(c.validator.Validate(claims))
}
