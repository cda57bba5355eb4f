package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/sdk"
)

// User is an account.
type User struct {
	ID           string
	Username     string
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
}

type userRow struct {
	ID           string `gorm:"primaryKey;size:36"`
	Username     string `gorm:"size:255;not null;uniqueIndex"`
	PasswordHash string `gorm:"size:1024;not null"`
	Disabled     bool   `gorm:"not null;default:false"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (userRow) TableName() string { return "users" }

func (r userRow) user() User {
	return User{ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash, Disabled: r.Disabled, CreatedAt: r.CreatedAt}
}

// CreateUser adds a user; sdk.ErrConflict if the username is taken.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string) (User, error) {
	row := userRow{ID: uuid.NewString(), Username: username, PasswordHash: passwordHash}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return User{}, fmt.Errorf("user %q already exists: %w", username, sdk.ErrConflict)
	}
	if err != nil {
		return User{}, fmt.Errorf("creating user: %w", err)
	}
	return row.user(), nil
}

// UserByUsername returns the user with exactly this username, or
// sdk.ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	var row userRow
	err := s.db.WithContext(ctx).Where("username = ?", username).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("looking up user: %w", err)
	}
	return row.user(), nil
}

// ListUsers returns every user, by username.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Order("username").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	users := make([]User, len(rows))
	for i, r := range rows {
		users[i] = r.user()
	}
	return users, nil
}

// SetPassword replaces a user's password hash unconditionally.
func (s *Store) SetPassword(ctx context.Context, username, passwordHash string) error {
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("username = ?", username).
		Updates(map[string]any{"password_hash": passwordHash, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return fmt.Errorf("setting password: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	return nil
}

// ReplacePasswordHash sets the hash of user id to newHash only if it is
// still oldHash: sdk.ErrConflict if it changed, sdk.ErrNotFound if the user
// is gone.
func (s *Store) ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ? AND password_hash = ?", id, oldHash).
		Updates(map[string]any{"password_hash": newHash, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return fmt.Errorf("replacing password hash: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return fmt.Errorf("replacing password hash: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("user id %q: %w", id, sdk.ErrNotFound)
	}
	return fmt.Errorf("password of user id %q changed meanwhile: %w", id, sdk.ErrConflict)
}

// RemoveUser deletes a user; sdk.ErrNotFound if there is none.
func (s *Store) RemoveUser(ctx context.Context, username string) error {
	res := s.db.WithContext(ctx).Where("username = ?", username).Delete(&userRow{})
	if res.Error != nil {
		return fmt.Errorf("removing user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	return nil
}
