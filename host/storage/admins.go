package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Admin is an admin account. Admins are not users: they are kept in their
// own table, log in at their own endpoint, and no user's token, session or
// app key is ever an admin's credential.
type Admin struct {
	ID           string
	Username     string
	Email        string
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
	// CreatedBy is the admin who registered this one; empty when it was
	// made on the command line.
	CreatedBy string
}

type adminRow struct {
	ID           string `gorm:"primaryKey;size:36"`
	Username     string `gorm:"size:255;not null;uniqueIndex"`
	Email        string `gorm:"size:254;not null;default:''"`
	PasswordHash string `gorm:"size:1024;not null"`
	Disabled     bool   `gorm:"not null;default:false"`
	CreatedBy    string `gorm:"size:255;not null;default:''"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (adminRow) TableName() string { return "admins" }

func (r adminRow) admin() Admin {
	return Admin{ID: r.ID, Username: r.Username, Email: r.Email, PasswordHash: r.PasswordHash, Disabled: r.Disabled,
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

// maxEmail is the longest email address kept (RFC 5321's path limit).
const maxEmail = 254

// ValidateAdminEmail checks an admin's email address, which is optional:
// empty, or at most 254 bytes with one '@' between a local part and a
// domain and no spaces or control characters.
func ValidateAdminEmail(email string) error {
	if email == "" {
		return nil
	}
	at := strings.IndexByte(email, '@')
	switch {
	case len(email) > maxEmail:
		return fmt.Errorf("email is longer than %d bytes: %w", maxEmail, sdk.ErrInvalidArgument)
	case at <= 0 || at != strings.LastIndexByte(email, '@') || at == len(email)-1:
		return fmt.Errorf("email must be one local part, '@' and a domain: %w", sdk.ErrInvalidArgument)
	case strings.IndexFunc(email, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return fmt.Errorf("email must not contain spaces or control characters: %w", sdk.ErrInvalidArgument)
	}
	return nil
}

// CreateAdmin adds an admin account. username must be a canonical username
// (usernames.Canonical) and email pass ValidateAdminEmail, or the answer is
// sdk.ErrInvalidArgument; a name taken by another admin is sdk.ErrConflict.
// createdBy names the admin who registered it ("" from the command line).
func (s *Store) CreateAdmin(ctx context.Context, username, email, passwordHash, createdBy string) (Admin, error) {
	if _, err := userKey(username); err != nil {
		return Admin{}, err
	}
	if err := ValidateAdminEmail(email); err != nil {
		return Admin{}, err
	}
	if passwordHash == "" {
		return Admin{}, fmt.Errorf("an admin needs a password hash: %w", sdk.ErrInvalidArgument)
	}
	row := adminRow{ID: uuid.NewString(), Username: username, Email: email, PasswordHash: passwordHash, CreatedBy: createdBy}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return Admin{}, fmt.Errorf("admin %s already exists: %w", usernames.Quote(username), sdk.ErrConflict)
	}
	if err != nil {
		return Admin{}, fmt.Errorf("creating admin: %w", err)
	}
	return row.admin(), nil
}

// AdminByUsername returns the admin with this username, or
// sdk.ErrNotFound.
func (s *Store) AdminByUsername(ctx context.Context, username string) (Admin, error) {
	return s.adminWhere(ctx, "username = ?", username)
}

// AdminByID returns the admin with this id, or sdk.ErrNotFound.
func (s *Store) AdminByID(ctx context.Context, id string) (Admin, error) {
	return s.adminWhere(ctx, "id = ?", id)
}

func (s *Store) adminWhere(ctx context.Context, where, arg string) (Admin, error) {
	var row adminRow
	err := s.db.WithContext(ctx).Where(where, arg).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Admin{}, fmt.Errorf("admin: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return Admin{}, fmt.Errorf("looking up admin: %w", err)
	}
	return row.admin(), nil
}

// ListAdmins returns every admin, by username.
func (s *Store) ListAdmins(ctx context.Context) ([]Admin, error) {
	var rows []adminRow
	if err := s.db.WithContext(ctx).Order("username").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing admins: %w", err)
	}
	out := make([]Admin, len(rows))
	for i, r := range rows {
		out[i] = r.admin()
	}
	return out, nil
}

// SetAdminPassword replaces an admin's password hash and ends the admin's
// sessions in the same transaction (its tokens stay: they are named
// credentials for automation, revoked one by one).
func (s *Store) SetAdminPassword(ctx context.Context, username, passwordHash string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row adminRow
		if err := tx.Where("username = ?", username).Take(&row).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("admin %s: %w", usernames.Quote(username), sdk.ErrNotFound)
		} else if err != nil {
			return err
		}
		if err := tx.Model(&adminRow{}).Where("id = ?", row.ID).Update("password_hash", passwordHash).Error; err != nil {
			return err
		}
		return tx.Model(&adminSessionRow{}).Where("admin_id = ? AND revoked_at IS NULL", row.ID).
			Update("revoked_at", time.Now().UTC()).Error
	})
}

// AdminSession is an admin's browser session. Only the hex SHA-256 of its
// secret (the cookie's value) is stored.
type AdminSession struct {
	ID            string
	AdminID       string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	IdleExpiresAt time.Time
	RevokedAt     time.Time
	// Admin is the session's admin as it is now (read with the session).
	Admin Admin
}

// Active reports whether the session stands at now, its admin included.
func (s AdminSession) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt) &&
		s.Admin.ID != "" && !s.Admin.Disabled
}

type adminSessionRow struct {
	ID            string    `gorm:"primaryKey;size:36"`
	AdminID       string    `gorm:"size:36;not null;index"`
	SecretHash    string    `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt     time.Time `gorm:"not null"`
	ExpiresAt     time.Time `gorm:"not null;index"`
	IdleExpiresAt time.Time `gorm:"not null"`
	RevokedAt     *time.Time
}

func (adminSessionRow) TableName() string { return "admin_sessions" }

// CreateAdminSession stores a new admin session by its secret's hash.
func (s *Store) CreateAdminSession(ctx context.Context, adminID, secretHash string, expires, idleExpires time.Time) (AdminSession, error) {
	if !validKeyHash(secretHash) {
		return AdminSession{}, fmt.Errorf("a session secret's hash must be 64 lower-case hex digits: %w", sdk.ErrInvalidArgument)
	}
	row := adminSessionRow{ID: uuid.NewString(), AdminID: adminID, SecretHash: secretHash, CreatedAt: time.Now().UTC(),
		ExpiresAt: expires.UTC(), IdleExpiresAt: idleExpires.UTC()}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return AdminSession{}, fmt.Errorf("creating an admin session: %w", err)
	}
	return AdminSession{ID: row.ID, AdminID: adminID, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt, IdleExpiresAt: row.IdleExpiresAt}, nil
}

// AdminSessionBySecret returns the admin session whose secret has this
// hash, with its admin as it is now, or sdk.ErrNotFound.
func (s *Store) AdminSessionBySecret(ctx context.Context, secretHash string) (AdminSession, error) {
	var row adminSessionRow
	err := s.db.WithContext(ctx).Where("secret_hash = ?", secretHash).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return AdminSession{}, fmt.Errorf("admin session: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return AdminSession{}, fmt.Errorf("reading an admin session: %w", err)
	}
	sess := AdminSession{ID: row.ID, AdminID: row.AdminID, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt, IdleExpiresAt: row.IdleExpiresAt}
	if row.RevokedAt != nil {
		sess.RevokedAt = *row.RevokedAt
	}
	a, err := s.AdminByID(ctx, row.AdminID)
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return AdminSession{}, err
	}
	sess.Admin = a
	return sess, nil
}

// ExtendAdminSession moves a live admin session's idle end to until, if
// that is later by at least step, and reports whether it wrote.
func (s *Store) ExtendAdminSession(ctx context.Context, id string, until time.Time, step time.Duration) (bool, error) {
	res := s.db.WithContext(ctx).Model(&adminSessionRow{}).
		Where("id = ? AND revoked_at IS NULL AND idle_expires_at < ?", id, until.Add(-step).UTC()).
		Update("idle_expires_at", until.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("extending an admin session: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// EndAdminSession revokes an admin session and reports whether this call
// ended it.
func (s *Store) EndAdminSession(ctx context.Context, id string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&adminSessionRow{}).Where("id = ? AND revoked_at IS NULL", id).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return false, fmt.Errorf("ending an admin session: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// AdminToken is a named credential an admin's automation presents. Only
// the hex SHA-256 of the token is stored, and it is not part of this type.
type AdminToken struct {
	ID        string
	Name      string
	AdminID   string
	CreatedAt time.Time
	RevokedAt time.Time
	// Admin is the token's admin as it is now (read with the token by
	// AdminTokenByHash; only ID and Username are set by ListAdminTokens).
	Admin Admin
}

// Revoked reports whether the token was revoked.
func (t AdminToken) Revoked() bool { return !t.RevokedAt.IsZero() }

type adminTokenRow struct {
	ID        string `gorm:"primaryKey;size:36"`
	Name      string `gorm:"size:64;not null;uniqueIndex"`
	AdminID   string `gorm:"size:36;not null;index"`
	Hash      string `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt time.Time
	RevokedAt *time.Time
}

func (adminTokenRow) TableName() string { return "admin_tokens" }

func (r adminTokenRow) token() AdminToken {
	t := AdminToken{ID: r.ID, Name: r.Name, AdminID: r.AdminID, CreatedAt: r.CreatedAt}
	if r.RevokedAt != nil {
		t.RevokedAt = *r.RevokedAt
	}
	return t
}

// CreateAdminToken stores a token of admin adminID by its name (the rules
// of ValidateAppKeyName, unique among all admin tokens ever made) and the
// hex SHA-256 of the token.
func (s *Store) CreateAdminToken(ctx context.Context, adminID, name, hash string) (AdminToken, error) {
	if err := validateName("admin token", name); err != nil {
		return AdminToken{}, err
	}
	if !validKeyHash(hash) {
		return AdminToken{}, fmt.Errorf("an admin token's hash must be 64 lower-case hex digits (its SHA-256): %w", sdk.ErrInvalidArgument)
	}
	row := adminTokenRow{ID: uuid.NewString(), Name: name, AdminID: adminID, Hash: hash}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return AdminToken{}, fmt.Errorf("admin token %q already exists (a name is not reused, even after its token is revoked): %w", name, sdk.ErrConflict)
	}
	if err != nil {
		return AdminToken{}, fmt.Errorf("creating admin token: %w", err)
	}
	return row.token(), nil
}

// AdminTokenByHash returns the admin token whose hash is hash, revoked or
// not, with its admin as it is now, or sdk.ErrNotFound.
func (s *Store) AdminTokenByHash(ctx context.Context, hash string) (AdminToken, error) {
	var row adminTokenRow
	err := s.db.WithContext(ctx).Where("hash = ?", hash).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return AdminToken{}, fmt.Errorf("admin token: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return AdminToken{}, fmt.Errorf("looking up admin token: %w", err)
	}
	t := row.token()
	if t.Admin, err = s.AdminByID(ctx, row.AdminID); err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return AdminToken{}, err
	}
	return t, nil
}

// ListAdminTokens returns every admin token, revoked ones included, by
// name, each with its admin's id and username.
func (s *Store) ListAdminTokens(ctx context.Context) ([]AdminToken, error) {
	var rows []struct {
		adminTokenRow
		Username *string
	}
	err := s.db.WithContext(ctx).Table("admin_tokens").
		Select("admin_tokens.id, admin_tokens.name, admin_tokens.admin_id, admin_tokens.created_at, admin_tokens.revoked_at, admins.username").
		Joins("LEFT JOIN admins ON admins.id = admin_tokens.admin_id").Order("admin_tokens.name").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("listing admin tokens: %w", err)
	}
	out := make([]AdminToken, len(rows))
	for i, r := range rows {
		out[i] = r.token()
		out[i].Admin.ID = r.AdminID
		if r.Username != nil {
			out[i].Admin.Username = *r.Username
		}
	}
	return out, nil
}

// RevokeAdminToken revokes the admin token named name; it reports whether
// this call revoked it. An unknown name is sdk.ErrNotFound.
func (s *Store) RevokeAdminToken(ctx context.Context, name string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&adminTokenRow{}).Where("name = ? AND revoked_at IS NULL", name).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return false, fmt.Errorf("revoking admin token: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&adminTokenRow{}).Where("name = ?", name).Count(&n).Error; err != nil {
		return false, fmt.Errorf("revoking admin token: %w", err)
	}
	if n == 0 {
		return false, fmt.Errorf("admin token %q: %w", name, sdk.ErrNotFound)
	}
	return false, nil
}
