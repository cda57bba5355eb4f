package mobiledevice

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk"
)

// nonceKeyName is the storage key of the key that MACs nonces.
const nonceKeyName = "nonce_key"

// nonceKeyBytes is the size of the nonce key.
const nonceKeyBytes = 32

// nonceKey returns the key of the nonces' MACs, which it makes and stores
// if there is none yet. It is read from storage once, on first use, so
// that a database that does not answer at start does not stop the plugin
// from starting; the key is the only thing the plugin keeps in memory.
func (p *Plugin) nonceKey(ctx context.Context) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.storedKey == nil {
		key, err := loadOrCreateKey(ctx, p.storage)
		if err != nil {
			return nil, fmt.Errorf("mobiledevice: the nonce key: %w", err)
		}
		p.storedKey = key
	}
	return p.storedKey, nil
}

// loadOrCreateKey reads the stored key, or stores a new random one if
// there is none. Stored only if absent, the first host's key is every
// host's: one that loses the race reads the winner's, so that a nonce one
// host issued, another accepts.
func loadOrCreateKey(ctx context.Context, st sdk.Storage) ([]byte, error) {
	for range 3 {
		e, err := st.Get(ctx, nonceKeyName)
		if err == nil {
			if len(e.Value) != nonceKeyBytes {
				return nil, fmt.Errorf("the stored key is %d bytes, not %d: it was not written by this plugin", len(e.Value), nonceKeyBytes)
			}
			return e.Value, nil
		}
		if !errors.Is(err, sdk.ErrNotFound) {
			return nil, err
		}
		fresh := make([]byte, nonceKeyBytes)
		_, _ = rand.Read(fresh) // never fails: it crashes the program first
		swapped, err := st.CompareAndSwap(ctx, nonceKeyName, nil, fresh, 0)
		if err != nil {
			return nil, err
		}
		if swapped {
			return fresh, nil
		}
	}
	return nil, errors.New("the stored key keeps changing")
}
