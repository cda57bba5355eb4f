package tokens

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
)

// ReloadEvery is how often a KeyRing reads the keys again, so that a
// rotation made by another host or by `portcullis keys rotate` reaches
// it. A rotated-out key keeps verifying for the access-token lifetime
// plus twice this, covering a host that signed with it until its reload.
const ReloadEvery = 30 * time.Second

// missReloadEvery bounds the reloads a token with an unknown kid can cause.
const missReloadEvery = time.Second

// KeyRing holds the signing keys: the newest signs, every key not yet
// retired verifies. It is safe for concurrent use.
type KeyRing struct {
	store     *storage.Store
	sealer    *Sealer
	log       *slog.Logger
	accessTTL time.Duration
	// now is the ring's clock: it decides when the keys are stale and
	// which keys have retired (time.Now; a test sets another before the
	// ring is used).
	now func() time.Time

	mu       sync.RWMutex
	keys     map[string]accesstoken.Key
	ordered  []storage.SigningKey // newest first
	signer   crypto.Signer
	current  accesstoken.Key
	loadedAt time.Time
	missAt   time.Time

	reloading atomic.Bool
}

// OpenKeyRing loads the keys, making a first key of algorithm alg when
// there is none, and a new one (a rotation) when the newest key is of
// another algorithm than alg.
func OpenKeyRing(ctx context.Context, store *storage.Store, sealer *Sealer, alg string, accessTTL time.Duration, log *slog.Logger) (*KeyRing, error) {
	k := &KeyRing{store: store, sealer: sealer, log: log, accessTTL: accessTTL, now: time.Now}
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	k.mu.RLock()
	have := k.current
	k.mu.RUnlock()
	if have.Algorithm == alg {
		return k, nil
	}
	// Even a first key is a rotation: two hosts starting at once on an
	// empty database each make one, and the older one then retires instead
	// of staying in the key set for good.
	made, err := Rotate(ctx, store, sealer, alg, accessTTL)
	if err != nil {
		return nil, err
	}
	if have.ID == "" {
		log.Info("made the first signing key", "kid", made.ID, "algorithm", alg)
	} else {
		log.Info("made a signing key for the configured algorithm", "kid", made.ID, "algorithm", alg, "previous_kid", have.ID, "previous_algorithm", have.Algorithm)
	}
	return k, k.reload(ctx)
}

// Rotate makes a new signing key of algorithm alg, sealed under sealer,
// and makes it the current one. The keys that were signing stop signing
// and retire once every token they signed has expired: after accessTTL
// plus twice ReloadEvery.
func Rotate(ctx context.Context, store *storage.Store, sealer *Sealer, alg string, accessTTL time.Duration) (storage.SigningKey, error) {
	private, err := accesstoken.NewKey(alg)
	if err != nil {
		return storage.SigningKey{}, err
	}
	kid, err := accesstoken.KeyID(private.Public())
	if err != nil {
		return storage.SigningKey{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(private.Public())
	if err != nil {
		return storage.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		return storage.SigningKey{}, err
	}
	k := storage.SigningKey{ID: kid, Algorithm: alg, Public: pub, Sealed: sealer.seal(kid, der)}
	until := time.Now().Add(accessTTL + 2*ReloadEvery)
	if err := store.AddSigningKey(ctx, k, true, until); err != nil {
		return storage.SigningKey{}, err
	}
	return k, nil
}

// CheckKEK returns an error wrapping ErrWrongKEK unless sealer opens the
// current signing key (or there is none yet): a key sealed under another
// key-encryption key would stop every host that has the right one.
func CheckKEK(ctx context.Context, store *storage.Store, sealer *Sealer) error {
	rows, err := store.SigningKeys(ctx, time.Now())
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.SignsUntil.IsZero() {
			_, err := openPrivate(sealer, rows, r.ID)
			return err
		}
	}
	return nil
}

// reload reads the keys and opens the current one's private key.
func (k *KeyRing) reload(ctx context.Context) error {
	now := k.now()
	rows, err := k.store.SigningKeys(ctx, now)
	if err != nil {
		return err
	}
	keys := make(map[string]accesstoken.Key, len(rows))
	var current accesstoken.Key
	for _, r := range rows {
		pub, err := x509.ParsePKIXPublicKey(r.Public)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", r.ID, err)
		}
		key := accesstoken.Key{ID: r.ID, Algorithm: r.Algorithm, Public: pub}
		keys[r.ID] = key
		if current.ID == "" && r.SignsUntil.IsZero() {
			current = key
		}
	}
	k.mu.RLock()
	signer, had := k.signer, k.current.ID
	k.mu.RUnlock()
	if current.ID != "" && current.ID != had {
		signer, err = openPrivate(k.sealer, rows, current.ID)
		if err != nil {
			return err
		}
	}
	k.mu.Lock()
	k.keys, k.ordered, k.current, k.signer, k.loadedAt = keys, rows, current, signer, now
	k.mu.Unlock()
	return nil
}

// openPrivate opens the private key of kid among rows with sealer.
func openPrivate(sealer *Sealer, rows []storage.SigningKey, kid string) (crypto.Signer, error) {
	for _, r := range rows {
		if r.ID != kid {
			continue
		}
		der, err := sealer.open(kid, r.Sealed)
		if err != nil && sealer.Created {
			return nil, fmt.Errorf("signing key %s: %w from %s, which was made just now: another host made the keys; give this host the same key-encryption key (%s or tokens.key_encryption_key_file)", kid, err, sealer.Source, KEKEnv)
		}
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w from %s; was the key-encryption key changed?", kid, err, sealer.Source)
		}
		private, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", kid, err)
		}
		signer, ok := private.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("signing key %s is a %T", kid, private)
		}
		return signer, nil
	}
	return nil, fmt.Errorf("signing key %s vanished", kid)
}

// refreshIfStale reloads the keys in the background when they are older
// than ReloadEvery; callers go on with what they have.
func (k *KeyRing) refreshIfStale() {
	k.mu.RLock()
	stale := k.now().Sub(k.loadedAt) > ReloadEvery
	k.mu.RUnlock()
	if !stale || !k.reloading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer k.reloading.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := k.reload(ctx); err != nil {
			k.log.Warn("reloading the signing keys", "error", err)
		}
	}()
}

// signing returns the current key and its signer.
func (k *KeyRing) signing() (accesstoken.Key, crypto.Signer, error) {
	k.refreshIfStale()
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.signer == nil {
		return accesstoken.Key{}, nil, errors.New("there is no signing key")
	}
	return k.current, k.signer, nil
}

// VerificationKey implements accesstoken.Keys. An unknown kid makes it
// read the keys again, at most once per second, in case another host
// rotated them.
func (k *KeyRing) VerificationKey(ctx context.Context, kid string) (accesstoken.Key, error) {
	k.refreshIfStale()
	k.mu.RLock()
	key, ok := k.keys[kid]
	k.mu.RUnlock()
	if ok {
		return key, nil
	}
	k.mu.Lock()
	now := k.now()
	try := now.Sub(k.missAt) >= missReloadEvery
	if try {
		k.missAt = now
	}
	k.mu.Unlock()
	if try {
		if err := k.reload(ctx); err != nil {
			return accesstoken.Key{}, err
		}
		k.mu.RLock()
		key, ok = k.keys[kid]
		k.mu.RUnlock()
		if ok {
			return key, nil
		}
	}
	return accesstoken.Key{}, fmt.Errorf("kid %.64q: %w", kid, accesstoken.ErrUnknownKeyID)
}

// Keys returns the keys that verify, newest first.
func (k *KeyRing) Keys() []storage.SigningKey {
	k.refreshIfStale()
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.ordered
}

// Set returns the JSON Web Key Set of the keys that verify.
func (k *KeyRing) Set() (accesstoken.Set, error) {
	k.refreshIfStale()
	k.mu.RLock()
	keys := make([]accesstoken.Key, 0, len(k.ordered))
	for _, r := range k.ordered {
		keys = append(keys, k.keys[r.ID])
	}
	k.mu.RUnlock()
	return accesstoken.NewSet(keys)
}
