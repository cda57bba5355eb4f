package otp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk"
)

// storedKeyName is the storage key of the hash key the plugin makes when
// the configuration has none.
const storedKeyName = "hash_key"

// storedKeyBytes is the size of the key the plugin makes.
const storedKeyBytes = 32

// hashKey returns the key of the codes' hashes: the configured one, else
// the stored one, which it makes and stores if there is none yet. It is
// read from storage once, on first use, so that a database that does not
// answer at start does not stop the plugin from starting.
func (p *Plugin) hashKey(ctx context.Context) ([]byte, error) {
	if p.settings.HashKey != nil {
		return p.settings.HashKey, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.storedKey == nil {
		key, err := loadOrCreateKey(ctx, p.storage)
		if err != nil {
			return nil, fmt.Errorf("otp: the hash key: %w", err)
		}
		p.storedKey = key
	}
	return p.storedKey, nil
}

// loadOrCreateKey reads the stored key, or stores a new random one if
// there is none. Stored only if absent, the first host's key is every
// host's: one that loses the race reads the winner's.
func loadOrCreateKey(ctx context.Context, st sdk.Storage) ([]byte, error) {
	for range 3 {
		e, err := st.Get(ctx, storedKeyName)
		if err == nil {
			if len(e.Value) != storedKeyBytes {
				return nil, fmt.Errorf("the stored key is %d bytes, not %d: it was not written by this plugin", len(e.Value), storedKeyBytes)
			}
			return e.Value, nil
		}
		if !errors.Is(err, sdk.ErrNotFound) {
			return nil, err
		}
		fresh := make([]byte, storedKeyBytes)
		_, _ = rand.Read(fresh) // never fails: it crashes the program first
		swapped, err := st.CompareAndSwap(ctx, storedKeyName, nil, fresh, 0)
		if err != nil {
			return nil, err
		}
		if swapped {
			return fresh, nil
		}
	}
	return nil, errors.New("the stored key keeps changing")
}
