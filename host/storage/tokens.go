package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Token is an issued access or refresh token. Only its hash is stored.
type Token struct {
	// ID identifies the token in logs and signals; it is not the token.
	ID string
	// Hash is the hex SHA-256 of the token.
	Hash      string
	Kind      string
	Subject   string
	Username  string
	FamilyID  string
	ExpiresAt time.Time
	RevokedAt time.Time
	CreatedAt time.Time
}

type tokenRow struct {
	Hash      string     `gorm:"primaryKey;size:64"`
	ID        string     `gorm:"size:36;not null;index"`
	Kind      string     `gorm:"size:16;not null"`
	Subject   string     `gorm:"size:255;not null;index"`
	Username  string     `gorm:"size:255;not null"`
	FamilyID  string     `gorm:"size:36;not null;index"`
	ExpiresAt time.Time  `gorm:"not null;index"`
	RevokedAt *time.Time `gorm:"index:tokens_revoked,where:revoked_at IS NOT NULL"`
	CreatedAt time.Time
}

func (tokenRow) TableName() string { return "tokens" }

// SaveTokens stores tokens in one transaction.
func (s *Store) SaveTokens(ctx context.Context, tokens ...Token) error {
	if err := saveTokens(s.db.WithContext(ctx), tokens); err != nil {
		return fmt.Errorf("saving tokens: %w", err)
	}
	return nil
}

func saveTokens(db *gorm.DB, tokens []Token) error {
	now := time.Now().UTC()
	for _, t := range tokens {
		// One statement written out per token: a login saves one, and
		// gorm's Create built it by reflection each time.
		if err := db.Exec(`INSERT INTO tokens (hash, id, kind, subject, username, family_id, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.ID, t.Kind, t.Subject, t.Username, t.FamilyID, t.ExpiresAt.UTC(), now).Error; err != nil {
			return err
		}
	}
	return nil
}

// TokenByHash returns a stored token, or sdk.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash string) (Token, error) {
	var row tokenRow
	err := s.db.WithContext(ctx).Where("hash = ?", hash).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Token{}, fmt.Errorf("token: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("looking up token: %w", err)
	}
	t := Token{ID: row.ID, Hash: row.Hash, Kind: row.Kind, Subject: row.Subject, Username: row.Username, FamilyID: row.FamilyID, ExpiresAt: row.ExpiresAt, CreatedAt: row.CreatedAt}
	if row.RevokedAt != nil {
		t.RevokedAt = *row.RevokedAt
	}
	return t, nil
}

// UseToken marks the token with this hash used (revoked) if it was not
// already, and reports whether this call did it. Of concurrent calls for
// one token exactly one gets true: that is what makes a refresh token
// single-use.
func (s *Store) UseToken(ctx context.Context, hash string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&tokenRow{}).Where("hash = ? AND revoked_at IS NULL", hash).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return false, fmt.Errorf("using token: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RevokeFamily ends a session: the session whose id is familyID and every
// live token of its refresh family are revoked in one transaction. It
// returns how many rows it revoked (zero: nothing was live).
func (s *Store) RevokeFamily(ctx context.Context, familyID string) (int64, error) {
	var n int64
	now := time.Now().UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&sessionRow{}).Where("id = ? AND revoked_at IS NULL", familyID).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		res = tx.Model(&tokenRow{}).Where("family_id = ? AND revoked_at IS NULL", familyID).Update("revoked_at", now)
		n += res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("revoking a session: %w", err)
	}
	return n, nil
}

// purgeBatch is the most rows one purge statement deletes, so that on
// SQLite a purge holds the write lock for a few milliseconds at a time.
const purgeBatch = 1000

// PurgeTokens deletes up to limit tokens that need no keeping and returns
// how many it deleted. A token needs no keeping when it expired before
// cutoff, or when every token of its family is revoked and the last of them
// was revoked before cutoff: a used refresh token of a live family is kept
// until it expires, so that presenting it again still revokes the family.
// The caller passes now minus the retention (the configuration's
// tokens.retain_ended). It deletes in statements of at most purgeBatch rows, each
// its own transaction.
func (s *Store) PurgeTokens(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	cutoff = cutoff.UTC() // SQLite compares the times as text, all of them UTC
	db := s.db.WithContext(ctx)
	expired, err := deleteInBatches(limit, func(batch int) *gorm.DB {
		return db.Exec(`DELETE FROM tokens WHERE hash IN (
		   SELECT hash FROM tokens WHERE expires_at < ? LIMIT ?)`, cutoff, batch)
	})
	if err != nil {
		return expired, fmt.Errorf("purging expired tokens: %w", err)
	}
	revoked, err := deleteInBatches(limit-int(expired), func(batch int) *gorm.DB {
		return db.Exec(`DELETE FROM tokens WHERE hash IN (
		   SELECT t.hash FROM tokens t WHERE t.revoked_at < ? AND NOT EXISTS (
		     SELECT 1 FROM tokens f WHERE f.family_id = t.family_id AND (f.revoked_at IS NULL OR f.revoked_at >= ?))
		   LIMIT ?)`, cutoff, cutoff, batch)
	})
	if err != nil {
		return expired + revoked, fmt.Errorf("purging revoked token families: %w", err)
	}
	return expired + revoked, nil
}

// deleteInBatches calls del, which deletes at most batch rows, with
// batches of at most purgeBatch until limit rows are deleted or a batch
// deletes fewer than it could; it returns how many rows were deleted.
func deleteInBatches(limit int, del func(batch int) *gorm.DB) (int64, error) {
	var total int64
	for total < int64(limit) {
		batch := min(limit-int(total), purgeBatch)
		res := del(batch)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(batch) {
			break
		}
	}
	return total, nil
}
