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
	Hash      string    `gorm:"primaryKey;size:64"`
	ID        string    `gorm:"size:36;not null;index"`
	Kind      string    `gorm:"size:16;not null"`
	Subject   string    `gorm:"size:255;not null;index"`
	Username  string    `gorm:"size:255;not null"`
	FamilyID  string    `gorm:"size:36;not null;index"`
	ExpiresAt time.Time `gorm:"not null;index"`
	RevokedAt *time.Time
	CreatedAt time.Time
}

func (tokenRow) TableName() string { return "tokens" }

// SaveTokens stores tokens in one transaction.
func (s *Store) SaveTokens(ctx context.Context, tokens ...Token) error {
	rows := make([]tokenRow, len(tokens))
	for i, t := range tokens {
		rows[i] = tokenRow{Hash: t.Hash, ID: t.ID, Kind: t.Kind, Subject: t.Subject, Username: t.Username, FamilyID: t.FamilyID, ExpiresAt: t.ExpiresAt.UTC()}
	}
	if err := s.db.WithContext(ctx).Create(&rows).Error; err != nil {
		return fmt.Errorf("saving tokens: %w", err)
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

// RevokeFamily revokes every live token of a refresh family and returns how
// many it revoked.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) (int64, error) {
	res := s.db.WithContext(ctx).Model(&tokenRow{}).Where("family_id = ? AND revoked_at IS NULL", familyID).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return 0, fmt.Errorf("revoking token family: %w", res.Error)
	}
	return res.RowsAffected, nil
}
