package storage

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/sdk"
)

// OAuth2Flow is one browser's sign-in with an external provider, from
// GET /v1/oauth2/{backend}/start to its callback. It holds no secret: the
// state and the browser's cookie are kept as SHA-256, and the PKCE
// verifier and nonce are derived from secrets only the browser holds.
type OAuth2Flow struct {
	// StateHash is the SHA-256 (hex) of the flow's state; it names the
	// flow.
	StateHash string
	Backend   string
	// BrowserHash is the SHA-256 (hex) of the secret in the browser's
	// flow cookie: only that browser finishes the flow.
	BrowserHash string
	// ReturnTo is where the browser goes once signed in ("" for none).
	ReturnTo string
	// Grant is what the sign-in answers with: OAuth2GrantSession (a
	// session cookie) or OAuth2GrantTokens (a pair of tokens).
	Grant     string
	ExpiresAt time.Time
}

// What a sign-in with an external provider answers with.
const (
	OAuth2GrantSession = "session"
	OAuth2GrantTokens  = "tokens"
)

type oauth2FlowRow struct {
	StateHash   string `gorm:"primaryKey;size:64"`
	Backend     string `gorm:"size:128;not null"`
	BrowserHash string `gorm:"size:64;not null"`
	ReturnTo    string `gorm:"size:2048;not null;default:''"`
	GrantKind   string `gorm:"size:16;not null;default:session"`
	CreatedAt   time.Time
	ExpiresAt   time.Time `gorm:"not null;index"`
	UsedAt      *time.Time
}

func (oauth2FlowRow) TableName() string { return "oauth2_flows" }

// CreateOAuth2Flow stores a new flow.
func (s *Store) CreateOAuth2Flow(ctx context.Context, f OAuth2Flow) error {
	if f.Grant == "" {
		f.Grant = OAuth2GrantSession
	}
	row := oauth2FlowRow{StateHash: f.StateHash, Backend: f.Backend, BrowserHash: f.BrowserHash, ReturnTo: f.ReturnTo,
		GrantKind: f.Grant, CreatedAt: time.Now().UTC(), ExpiresAt: f.ExpiresAt.UTC()}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("storing an OAuth2 flow: %w", err)
	}
	return nil
}

// ConsumeOAuth2Flow uses the flow of stateHash, for backend, from the
// browser of browserHash, once: it returns the flow and true to exactly
// one caller while the flow is unexpired. A state that is unknown, used,
// expired, another backend's or another browser's changes nothing and
// returns false.
func (s *Store) ConsumeOAuth2Flow(ctx context.Context, stateHash, backend, browserHash string, now time.Time) (OAuth2Flow, bool, error) {
	now = now.UTC()
	var rows []oauth2FlowRow
	err := s.db.WithContext(ctx).Raw(`UPDATE oauth2_flows SET used_at = ?
		WHERE state_hash = ? AND backend = ? AND browser_hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING state_hash, backend, browser_hash, return_to, grant_kind, created_at, expires_at, used_at`,
		now, stateHash, backend, browserHash, now).Scan(&rows).Error
	if err != nil {
		return OAuth2Flow{}, false, fmt.Errorf("using an OAuth2 flow: %w", err)
	}
	if len(rows) != 1 {
		return OAuth2Flow{}, false, nil
	}
	r := rows[0]
	return OAuth2Flow{StateHash: r.StateHash, Backend: r.Backend, BrowserHash: r.BrowserHash, ReturnTo: r.ReturnTo, Grant: r.GrantKind,
		ExpiresAt: r.ExpiresAt.UTC()}, true, nil
}

// PurgeOAuth2Flows deletes flows that expired before cutoff.
func (s *Store) PurgeOAuth2Flows(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at < ?", cutoff.UTC()).Delete(&oauth2FlowRow{})
	return res.RowsAffected, res.Error
}

// ExternalIdentity links a user of an external provider (a backend's
// subject) to a local user. It holds no token: the provider's refresh
// token is kept with each session it signed in (Session.Upstream).
type ExternalIdentity struct {
	Backend, Subject, UserID string
}

type externalIdentityRow struct {
	Backend string `gorm:"primaryKey;size:128"`
	Subject string `gorm:"primaryKey;size:512"`
	UserID  string `gorm:"size:36;not null;index"`
	// RefreshToken and Expiry are no longer written: hosts of an earlier
	// version kept the provider's latest refresh token here, and each
	// migration empties them (clearExternalTokens) so that no copy is
	// left outside the sessions.
	RefreshToken []byte
	Expiry       *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (externalIdentityRow) TableName() string { return "external_identities" }

// clearExternalTokens empties, in tx, the provider tokens hosts of an
// earlier version stored with external identities.
func clearExternalTokens(tx *gorm.DB) error {
	return tx.Exec("UPDATE external_identities SET refresh_token = NULL, expiry = NULL WHERE refresh_token IS NOT NULL OR expiry IS NOT NULL").Error
}

// ExternalIdentityOf returns the link of backend's subject, or
// sdk.ErrNotFound.
func (s *Store) ExternalIdentityOf(ctx context.Context, backend, subject string) (ExternalIdentity, error) {
	var row externalIdentityRow
	err := s.db.WithContext(ctx).Where("backend = ? AND subject = ?", backend, subject).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ExternalIdentity{}, fmt.Errorf("external identity: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return ExternalIdentity{}, fmt.Errorf("reading an external identity: %w", err)
	}
	return ExternalIdentity{Backend: row.Backend, Subject: row.Subject, UserID: row.UserID}, nil
}

// LinkExternalIdentity stores a new link; sdk.ErrConflict if the subject
// is linked already (two first sign-ins at once: one wins).
func (s *Store) LinkExternalIdentity(ctx context.Context, e ExternalIdentity) error {
	row := externalIdentityRow{Backend: e.Backend, Subject: e.Subject, UserID: e.UserID}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("external identity already linked: %w", sdk.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("linking an external identity: %w", err)
	}
	return nil
}

// NormalizeEmail checks an address and returns it in lower case.
func NormalizeEmail(addr string) (string, error) {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || len(addr) > 320 {
		return "", fmt.Errorf("%q is not an email address: %w", addr, sdk.ErrInvalidArgument)
	}
	return strings.ToLower(addr), nil
}

// SetUserEmail sets (or, with "", removes) a user's email address.
func (s *Store) SetUserEmail(ctx context.Context, username, addr string) error {
	var value *string
	if addr != "" {
		norm, err := NormalizeEmail(addr)
		if err != nil {
			return err
		}
		value = &norm
	}
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("username = ?", username).Update("email", value)
	if res.Error != nil {
		return fmt.Errorf("setting a user's email: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	return nil
}

// UsersByEmail returns the users with that address (in any case).
func (s *Store) UsersByEmail(ctx context.Context, addr string) ([]User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Where("email = ?", strings.ToLower(addr)).Order("username").Limit(10).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("looking users up by email: %w", err)
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, nil
}

// UserByID returns the user with that id, or sdk.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	var row userRow
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, fmt.Errorf("user %s: %w", id, sdk.ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("looking up user: %w", err)
	}
	return row.user(), nil
}
