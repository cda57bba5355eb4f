package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
)

// User is an account.
type User struct {
	ID           string
	Username     string
	PasswordHash string
	Disabled     bool
	// Superuser passes every permission check (SetSuperuser).
	Superuser bool
	// Email is the user's address, lower case ("" for none): an external
	// sign-in may link to the user by it (SetUserEmail).
	Email     string
	CreatedAt time.Time
}

type userRow struct {
	ID       string `gorm:"primaryKey;size:36"`
	Username string `gorm:"size:255;not null;uniqueIndex"`
	// UsernameKey is usernames.Key of the username: no two users share
	// one, so no two differ only in case or width. It is NULL for a name
	// stored before keys were kept that is not a username by today's rules
	// (it cannot log in), or whose key another user holds.
	UsernameKey  *string `gorm:"size:1024;uniqueIndex"`
	PasswordHash string  `gorm:"size:1024;not null"`
	Disabled     bool    `gorm:"not null;default:false"`
	Superuser    bool    `gorm:"not null;default:false"`
	Email        *string `gorm:"size:320;index"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (userRow) TableName() string { return "users" }

func (r userRow) user() User {
	u := User{ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash, Disabled: r.Disabled, Superuser: r.Superuser, CreatedAt: r.CreatedAt}
	if r.Email != nil {
		u.Email = *r.Email
	}
	return u
}

// CreateUser adds a user. username must be a canonical username
// (usernames.Canonical), or the answer is sdk.ErrInvalidArgument; it is
// sdk.ErrConflict if the name, or a name that differs from it only in case
// or width (the same usernames.Key), is taken.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string) (User, error) {
	key, err := userKey(username)
	if err != nil {
		return User{}, err
	}
	row := userRow{ID: uuid.NewString(), Username: username, UsernameKey: &key, PasswordHash: passwordHash}
	err = s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return User{}, s.takenError(ctx, username, key)
	}
	if err != nil {
		return User{}, fmt.Errorf("creating user: %w", err)
	}
	return row.user(), nil
}

// userKey returns the key of a canonical username, or
// sdk.ErrInvalidArgument.
func userKey(username string) (string, error) {
	canonical, err := usernames.Canonical(username)
	if err != nil {
		return "", fmt.Errorf("%w: %v", sdk.ErrInvalidArgument, err)
	}
	if canonical != username {
		return "", fmt.Errorf("%w: username %s is not in its canonical form %s", sdk.ErrInvalidArgument, usernames.Quote(username), usernames.Quote(canonical))
	}
	return usernames.Key(username)
}

// takenError says which user holds username or its key.
func (s *Store) takenError(ctx context.Context, username, key string) error {
	var row userRow
	err := s.db.WithContext(ctx).Where("username = ? OR username_key = ?", username, key).Take(&row).Error
	if err != nil || row.Username == username {
		return fmt.Errorf("user %s already exists: %w", usernames.Quote(username), sdk.ErrConflict)
	}
	return fmt.Errorf("user %s already exists as %s (usernames that differ only in case or width are one name): %w",
		usernames.Quote(username), usernames.Quote(row.Username), sdk.ErrConflict)
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

// ListUsersPage returns at most limit users whose ids sort after afterID,
// in id order: a page of every user, for reading them all a page at a
// time without holding a transaction.
func (s *Store) ListUsersPage(ctx context.Context, afterID string, limit int) ([]User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Where("id > ?", afterID).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	users := make([]User, len(rows))
	for i, r := range rows {
		users[i] = r.user()
	}
	return users, nil
}

// SetPassword replaces a user's password hash unconditionally and ends
// every session of the user in the same transaction; it returns the ids
// of the sessions it ended.
func (s *Store) SetPassword(ctx context.Context, username, passwordHash string) (ended []string, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		id, err := userID(tx, username)
		if err != nil {
			return err
		}
		err = tx.Model(&userRow{}).Where("id = ?", id).
			Updates(map[string]any{"password_hash": passwordHash, "updated_at": time.Now().UTC()}).Error
		if err != nil {
			return err
		}
		ended, err = revokeUserSessions(tx, id)
		return err
	})
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		err = fmt.Errorf("setting password: %w", err)
	}
	return ended, err
}

// userID returns the id of the user named username, or sdk.ErrNotFound.
func userID(tx *gorm.DB, username string) (string, error) {
	var row userRow
	err := tx.Select("id").Where("username = ?", username).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	return row.ID, err
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

// RemoveUser deletes a user, its roles (memberships) and every session of
// the user in the same transaction, returning the ids of the sessions it
// ended; sdk.ErrNotFound if there is no such user.
func (s *Store) RemoveUser(ctx context.Context, username string) (ended []string, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		id, err := userID(tx, username)
		if err != nil {
			return err
		}
		if err := tx.Where("id = ?", id).Delete(&userRow{}).Error; err != nil {
			return err
		}
		// After the user's row, whose lock waits for a role being added
		// (AddUserRole), which this then sees.
		if err := tx.Where("user_id = ?", id).Delete(&userRoleRow{}).Error; err != nil {
			return err
		}
		ended, err = revokeUserSessions(tx, id)
		return err
	})
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		err = fmt.Errorf("removing user: %w", err)
	}
	return ended, err
}

// keyUsernames gives every user stored without a key (before keys were
// kept) its key, in the migration's transaction tx. A name whose canonical
// form differs (decomposed, or full-width) is rewritten to it, so that it
// logs in as it is typed; names already canonical claim their keys first,
// then the older rows. A name that is not a username by today's rules, or
// whose name or key another user holds, is left as it is, without a key:
// it cannot log in, and `portcullis users list` marks it.
func keyUsernames(tx *gorm.DB) error {
	var rows []userRow
	if err := tx.Select("id", "username").Where("username_key IS NULL").Order("created_at, id").Find(&rows).Error; err != nil {
		return fmt.Errorf("reading users without a key: %w", err)
	}
	type change struct {
		id, from, to, key string
	}
	var first, then []change
	for _, r := range rows {
		canonical, err := usernames.Canonical(r.Username)
		if err != nil {
			continue
		}
		key, err := usernames.Key(canonical)
		if err != nil {
			continue
		}
		c := change{r.ID, r.Username, canonical, key}
		if canonical == r.Username {
			first = append(first, c)
		} else {
			then = append(then, c)
		}
	}
	for _, c := range append(first, then...) {
		set := map[string]any{"username_key": c.key}
		if c.to != c.from {
			set["username"] = c.to
		}
		// A savepoint each: on PostgreSQL a refused statement would
		// otherwise end the whole migration's transaction.
		err := tx.Transaction(func(sp *gorm.DB) error {
			return sp.Model(&userRow{}).Where("id = ?", c.id).Updates(set).Error
		})
		if err != nil && !errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("keying user %s: %w", usernames.Quote(c.from), err)
		}
	}
	return nil
}

// DisableUser marks the user with this id disabled and ends its sessions:
// every live session and token whose subject is the user's id is revoked,
// in the same transaction. It reports whether the user was enabled, and returns the
// ids of the sessions (refresh families) it ended; sdk.ErrNotFound if there
// is no such user. Disabling a disabled user ends any session left.
func (s *Store) DisableUser(ctx context.Context, id string) (wasEnabled bool, sessions []string, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row userRow
		if err := tx.Select("id", "disabled").Where("id = ?", id).Take(&row).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("user id %q: %w", id, sdk.ErrNotFound)
		} else if err != nil {
			return err
		}
		wasEnabled = !row.Disabled
		if wasEnabled {
			if err := tx.Model(&userRow{}).Where("id = ?", id).
				Updates(map[string]any{"disabled": true, "updated_at": time.Now().UTC()}).Error; err != nil {
				return err
			}
		}
		var err error
		sessions, err = revokeUserSessions(tx, id)
		return err
	})
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		err = fmt.Errorf("disabling user: %w", err)
	}
	return wasEnabled, sessions, err
}

// EnableUser lets a disabled user log in again. It reports whether the
// user was disabled; sdk.ErrNotFound if there is no such user.
func (s *Store) EnableUser(ctx context.Context, id string) (wasDisabled bool, err error) {
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ? AND disabled = ?", id, true).
		Updates(map[string]any{"disabled": false, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("enabling user: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return false, fmt.Errorf("enabling user: %w", err)
	}
	if n == 0 {
		return false, fmt.Errorf("user id %q: %w", id, sdk.ErrNotFound)
	}
	return false, nil
}
