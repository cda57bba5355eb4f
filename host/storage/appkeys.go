package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/sdk"
)

// MaxAppKeyName is the longest name an app key may have, in characters.
const MaxAppKeyName = 64

// AppKey is a key an app running beside the host authenticates with
// (`portcullis apps create`). Only the hex SHA-256 of the key is stored,
// and it is not part of this type: nothing read from the store holds the
// key or anything a caller could present in its place.
type AppKey struct {
	ID        string
	Name      string
	CreatedAt time.Time
	// RevokedAt is when the key was revoked; zero while it is live.
	RevokedAt time.Time
}

// Revoked reports whether the key was revoked.
func (k AppKey) Revoked() bool { return !k.RevokedAt.IsZero() }

type appKeyRow struct {
	ID   string `gorm:"primaryKey;size:36"`
	Name string `gorm:"size:64;not null;uniqueIndex"`
	// Hash is the hex SHA-256 of the key.
	Hash      string `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt time.Time
	RevokedAt *time.Time
}

func (appKeyRow) TableName() string { return "app_keys" }

func (r appKeyRow) appKey() AppKey {
	k := AppKey{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt}
	if r.RevokedAt != nil {
		k.RevokedAt = *r.RevokedAt
	}
	return k
}

// ValidateAppKeyName checks an app key's name: 1 to MaxAppKeyName
// characters, each an ASCII letter or digit, '.', '_' or '-'. The error
// wraps sdk.ErrInvalidArgument and says what is wrong.
func ValidateAppKeyName(name string) error { return validateName("app key", name) }

// validateName checks the name of a what (an app key, an admin token) by
// ValidateAppKeyName's rules.
func validateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name must not be empty: %w", what, sdk.ErrInvalidArgument)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return !appKeyNameChar(r) }); i >= 0 {
		quoted := ""
		if len(name) <= 4*MaxAppKeyName {
			quoted = " " + strconv.QuoteToASCII(name)
		}
		return fmt.Errorf("%s name%s holds %s: a name is made of the letters A-Z and a-z, the digits 0-9, '.', '_' and '-': %w",
			what, quoted, describeChar(name[i:]), sdk.ErrInvalidArgument)
	}
	if len(name) > MaxAppKeyName {
		return fmt.Errorf("%s name is longer than %d characters: %w", what, MaxAppKeyName, sdk.ErrInvalidArgument)
	}
	return nil
}

func appKeyNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// describeChar names the first character of s for an error message.
func describeChar(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf("the byte 0x%02X, which is not UTF-8", s[0])
	case r > ' ' && r <= '~':
		return fmt.Sprintf("%q", r)
	}
	return fmt.Sprintf("U+%04X", r)
}

// validKeyHash reports whether h is the form of a stored hash: 64
// lower-case hex digits.
func validKeyHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CreateAppKey stores a new app key by its name and hash, the hex SHA-256
// of the key (anything else, the key itself included, is refused with
// sdk.ErrInvalidArgument, so that a key is never stored by mistake). The
// name must pass ValidateAppKeyName. A name is unique among all the keys
// ever made, revoked ones included: a name never comes to mean another key,
// so logs and `apps list` stay unambiguous. A name or hash already taken
// is sdk.ErrConflict.
func (s *Store) CreateAppKey(ctx context.Context, name, hash string) (AppKey, error) {
	if err := ValidateAppKeyName(name); err != nil {
		return AppKey{}, err
	}
	if !validKeyHash(hash) {
		return AppKey{}, fmt.Errorf("an app key's hash must be 64 lower-case hex digits (its SHA-256): %w", sdk.ErrInvalidArgument)
	}
	row := appKeyRow{ID: uuid.NewString(), Name: name, Hash: hash}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		var n int64
		if cerr := s.db.WithContext(ctx).Model(&appKeyRow{}).Where("name = ?", name).Count(&n).Error; cerr == nil && n == 0 {
			return AppKey{}, fmt.Errorf("an app key with this hash already exists: %w", sdk.ErrConflict)
		}
		return AppKey{}, fmt.Errorf("app key %q already exists (a name is not reused, even after its key is revoked): %w", name, sdk.ErrConflict)
	}
	if err != nil {
		return AppKey{}, fmt.Errorf("creating app key: %w", err)
	}
	return row.appKey(), nil
}

// AppKeyByHash returns the app key whose hash is hash, revoked or not (see
// AppKey.Revoked: the caller decides), or sdk.ErrNotFound.
func (s *Store) AppKeyByHash(ctx context.Context, hash string) (AppKey, error) {
	var row appKeyRow
	err := s.db.WithContext(ctx).Where("hash = ?", hash).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return AppKey{}, fmt.Errorf("app key: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return AppKey{}, fmt.Errorf("looking up app key: %w", err)
	}
	return row.appKey(), nil
}

// ListAppKeys returns every app key, revoked ones included, by name (in
// byte order, the same on every database).
func (s *Store) ListAppKeys(ctx context.Context) ([]AppKey, error) {
	var rows []appKeyRow
	if err := s.db.WithContext(ctx).Omit("hash").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing app keys: %w", err)
	}
	keys := make([]AppKey, len(rows))
	for i, r := range rows {
		keys[i] = r.appKey()
	}
	slices.SortFunc(keys, func(a, b AppKey) int { return strings.Compare(a.Name, b.Name) })
	return keys, nil
}

// RevokeAppKey revokes the app key named name. It reports whether this
// call revoked it: false when it was already revoked (of concurrent calls,
// exactly one gets true). An unknown name is sdk.ErrNotFound.
func (s *Store) RevokeAppKey(ctx context.Context, name string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&appKeyRow{}).Where("name = ? AND revoked_at IS NULL", name).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return false, fmt.Errorf("revoking app key: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&appKeyRow{}).Where("name = ?", name).Count(&n).Error; err != nil {
		return false, fmt.Errorf("revoking app key: %w", err)
	}
	if n == 0 {
		return false, fmt.Errorf("app key %s: %w", strconv.QuoteToASCII(name), sdk.ErrNotFound)
	}
	return false, nil
}
