package appkeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Prefix starts every app key.
const Prefix = "pck_"

// encodedLen is the length of 256 bits in unpadded base64url.
const encodedLen = 43

// Cache bounds.
const (
	// DefaultCacheTTL is how long a successful check is remembered when
	// Options.CacheTTL is zero: a revoked key may still be accepted for
	// that long by a host that checked it just before.
	DefaultCacheTTL = 5 * time.Second
	// MaxCacheTTL is the longest a successful check is ever remembered.
	MaxCacheTTL = 10 * time.Second
	// DefaultCacheSize is how many successful checks are remembered at
	// most when Options.CacheSize is zero.
	DefaultCacheSize = 1024
)

// ErrInvalidKey is every refusal of a presented key: malformed, unknown or
// revoked alike, so that it never tells whether a key exists.
var ErrInvalidKey = errors.New("invalid key")

// New returns a new app key and its hash, the form the store keeps.
func New() (key, hash string) { return Generate(Prefix) }

// Generate returns a new key of the kind that starts with prefix, 256
// random bits from the system CSPRNG in unpadded base64url after it, and
// the key's hash.
func Generate(prefix string) (key, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	key = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, Hash(key)
}

// Hash returns the stored form of a key: its SHA-256 in lower-case hex.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// WellFormed reports whether key has the form of a key made by
// Generate(prefix): the prefix, then exactly 43 characters of the
// base64url alphabet (A-Z, a-z, 0-9, '-', '_').
func WellFormed(prefix, key string) bool {
	if len(key) != len(prefix)+encodedLen || !strings.HasPrefix(key, prefix) {
		return false
	}
	for i := len(prefix); i < len(key); i++ {
		c := key[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Kind is a kind of key a Verifier checks.
type Kind[T any] struct {
	// Prefix starts every key of the kind (Prefix for app keys).
	Prefix string
	// Lookup returns the stored key whose Hash is hash, or an error
	// wrapping sdk.ErrNotFound; any other error means the store could not
	// be read.
	Lookup func(ctx context.Context, hash string) (T, error)
	// Live reports whether a stored key may be used (not revoked, not
	// expired).
	Live func(T) bool
}

// Options tune a Verifier's cache of successful checks.
type Options struct {
	// CacheTTL is how long a successful check is remembered: zero means
	// DefaultCacheTTL, a negative value not at all; more than MaxCacheTTL
	// is MaxCacheTTL. A key revoked meanwhile is accepted until then.
	CacheTTL time.Duration
	// CacheSize bounds the checks remembered: zero means
	// DefaultCacheSize, a negative value none.
	CacheSize int
}

// Verifier checks presented keys of one kind. It is safe for concurrent
// use.
type Verifier[T any] struct {
	kind Kind[T]
	ttl  time.Duration // 0: no cache
	size int
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cached[T] // by hash
}

type cached[T any] struct {
	value   T
	expires time.Time
}

// NewVerifier returns a Verifier of keys of kind.
func NewVerifier[T any](kind Kind[T], opts Options) *Verifier[T] {
	ttl, size := opts.CacheTTL, opts.CacheSize
	switch {
	case ttl == 0:
		ttl = DefaultCacheTTL
	case ttl > MaxCacheTTL:
		ttl = MaxCacheTTL
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	if ttl < 0 || size < 0 {
		ttl, size = 0, 0
	}
	return &Verifier[T]{kind: kind, ttl: ttl, size: size, now: time.Now, cache: make(map[string]cached[T])}
}

// Check returns the stored key that presented is, if it is a live key of
// the Verifier's kind. Every refusal is ErrInvalidKey; a malformed key is
// refused without a lookup. An error that is not ErrInvalidKey means the
// store could not be read, and the caller must fail closed.
func (v *Verifier[T]) Check(ctx context.Context, presented string) (T, error) {
	var zero T
	if !WellFormed(v.kind.Prefix, presented) {
		return zero, ErrInvalidKey
	}
	hash := Hash(presented)
	if value, ok := v.cached(hash); ok {
		return value, nil
	}
	value, err := v.kind.Lookup(ctx, hash)
	switch {
	case errors.Is(err, sdk.ErrNotFound):
		return zero, ErrInvalidKey
	case err != nil:
		return zero, fmt.Errorf("checking key: %w", err)
	case !v.kind.Live(value):
		return zero, ErrInvalidKey
	}
	v.remember(hash, value)
	return value, nil
}

// cached returns the remembered check of hash, if it has not expired.
func (v *Verifier[T]) cached(hash string) (T, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.cache[hash]
	if !ok {
		return c.value, false
	}
	if !v.now().Before(c.expires) {
		delete(v.cache, hash)
		return c.value, false
	}
	return c.value, true
}

// remember keeps a successful check for the TTL. When the cache is full
// it first drops the expired entries, then, if none had expired, any one.
func (v *Verifier[T]) remember(hash string, value T) {
	if v.ttl <= 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if _, ok := v.cache[hash]; !ok && len(v.cache) >= v.size {
		for h, c := range v.cache {
			if !now.Before(c.expires) {
				delete(v.cache, h)
			}
		}
		for h := range v.cache {
			if len(v.cache) < v.size {
				break
			}
			delete(v.cache, h)
		}
	}
	v.cache[hash] = cached[T]{value: value, expires: now.Add(v.ttl)}
}

// Checker checks app keys.
type Checker = Verifier[storage.AppKey]

// Store is where a Checker finds app keys; *storage.Store is one.
type Store interface {
	AppKeyByHash(ctx context.Context, hash string) (storage.AppKey, error)
}

// NewChecker returns a Checker of the app keys in store: a key is live
// until it is revoked.
func NewChecker(store Store, opts Options) *Checker {
	return NewVerifier(Kind[storage.AppKey]{
		Prefix: Prefix,
		Lookup: store.AppKeyByHash,
		Live:   func(k storage.AppKey) bool { return !k.Revoked() },
	}, opts)
}
