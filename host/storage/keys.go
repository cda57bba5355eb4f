package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SigningKey is a key that signs or verifies access tokens. Its private
// part is stored only sealed under the key-encryption key.
type SigningKey struct {
	ID        string
	Algorithm string
	// Public is the PKIX (DER) public key.
	Public []byte
	// Sealed is the private key encrypted by package tokens.
	Sealed    []byte
	CreatedAt time.Time
	// SignsUntil is when a rotation ended the key's signing (zero while it
	// is the current key).
	SignsUntil time.Time
	// VerifiesUntil is when the key retires: every token it signed has
	// expired by then (zero while it signs).
	VerifiesUntil time.Time
}

type signingKeyRow struct {
	ID            string     `gorm:"primaryKey;size:64"`
	Algorithm     string     `gorm:"size:16;not null"`
	Public        []byte     `gorm:"not null"`
	Sealed        []byte     `gorm:"not null"`
	CreatedAt     time.Time  `gorm:"not null"`
	SignsUntil    *time.Time `gorm:"index"`
	VerifiesUntil *time.Time `gorm:"index"`
}

func (signingKeyRow) TableName() string { return "signing_keys" }

func (r signingKeyRow) key() SigningKey {
	k := SigningKey{ID: r.ID, Algorithm: r.Algorithm, Public: r.Public, Sealed: r.Sealed, CreatedAt: r.CreatedAt}
	if r.SignsUntil != nil {
		k.SignsUntil = *r.SignsUntil
	}
	if r.VerifiesUntil != nil {
		k.VerifiesUntil = *r.VerifiesUntil
	}
	return k
}

// SigningKeys returns the keys not yet retired at now, newest first.
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error) {
	var rows []signingKeyRow
	err := s.db.WithContext(ctx).Where("verifies_until IS NULL OR verifies_until > ?", now.UTC()).
		Order("created_at DESC, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reading signing keys: %w", err)
	}
	keys := make([]SigningKey, len(rows))
	for i, r := range rows {
		keys[i] = r.key()
	}
	return keys, nil
}

// AddSigningKey stores k as the current signing key. When rotate is set,
// every key that was signing stops signing now and retires at
// verifiesUntil, in the same transaction; when it is not (a first key),
// nothing else changes, and the newest key signs.
func (s *Store) AddSigningKey(ctx context.Context, k SigningKey, rotate bool, verifiesUntil time.Time) error {
	now := time.Now().UTC()
	row := signingKeyRow{ID: k.ID, Algorithm: k.Algorithm, Public: k.Public, Sealed: k.Sealed, CreatedAt: now}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if rotate {
			until := verifiesUntil.UTC()
			err := tx.Model(&signingKeyRow{}).Where("signs_until IS NULL").
				Updates(map[string]any{"signs_until": now, "verifies_until": until}).Error
			if err != nil {
				return err
			}
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("storing a signing key: %w", err)
	}
	return nil
}

// PurgeSigningKeys deletes the keys retired before now.
func (s *Store) PurgeSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("verifies_until IS NOT NULL AND verifies_until <= ?", now.UTC()).Delete(&signingKeyRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("purging retired signing keys: %w", res.Error)
	}
	return res.RowsAffected, nil
}
