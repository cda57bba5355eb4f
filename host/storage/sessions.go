package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Session is one login: the refresh family of its tokens (the family id
// is the session id, the access token's sid) or a browser's cookie.
type Session struct {
	ID string
	// Kind is SessionTokens or SessionCookie.
	Kind     string
	Subject  string
	Username string
	// SecretHash is the hex SHA-256 of a cookie session's secret (the
	// cookie's value); empty for a token session.
	SecretHash string
	// IdleExpiresAt ends a cookie session not used for its idle timeout;
	// zero for a token session (its refresh token expires instead).
	IdleExpiresAt time.Time
	// Local is set when the subject was a user of the users table at
	// login; such a session ends when the user is removed or disabled.
	Local bool
	// Roles are the roles the login's backend vouched for
	// (sdk.Identity.Roles), sorted and without repeats; see VouchedRoles.
	// They are kept for the session's life: a refresh keeps them, and only
	// a new login (a new session) vouches again.
	Roles []string
	// Upstream is the external provider the login came through (an
	// OAuth2 sign-in), with what the host keeps of its tokens; zero for
	// any other login.
	Upstream  Upstream
	CreatedAt time.Time
	// ExpiresAt is the absolute end, however often the session refreshes.
	ExpiresAt time.Time
	RevokedAt time.Time
	// UserLive is false for a local session whose user is gone or
	// disabled (read by SessionByID).
	UserLive bool
}

// Upstream is what a session keeps of the external provider that signed
// its user in: the backend, the provider's refresh token (sealed by the
// host) and when the provider's access token expires. It is kept per
// session, not per external identity: each sign-in exchanged its own code
// and got its own refresh token, so two sessions of one user never share
// a token a provider rotates (the second use of a rotated token would
// look like a replay to the provider).
type Upstream struct {
	// Backend names the redirect backend (the oauth2 plugin's instance).
	Backend string
	// RefreshToken is sealed by the host; nil when the provider gave none.
	RefreshToken []byte
	// Expiry is when the provider's access token expires; zero when the
	// provider did not say.
	Expiry time.Time
}

// The kinds of session.
const (
	SessionTokens = "tokens"
	SessionCookie = "cookie"
)

// Active reports whether the session still stands at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && (!s.Local || s.UserLive) &&
		(s.IdleExpiresAt.IsZero() || now.Before(s.IdleExpiresAt))
}

type sessionRow struct {
	ID       string `gorm:"primaryKey;size:36"`
	Kind     string `gorm:"size:16;not null;default:tokens"`
	Subject  string `gorm:"size:255;not null;index"`
	Username string `gorm:"size:255;not null"`
	// SecretHash, RevokedAt: indexes of the rows that have one only, so
	// that a new token session writes no entry to them (see
	// replacedIndexes).
	SecretHash    *string   `gorm:"size:64;uniqueIndex:sessions_by_secret,where:secret_hash IS NOT NULL"`
	Local         bool      `gorm:"not null;default:false"`
	CreatedAt     time.Time `gorm:"not null"`
	ExpiresAt     time.Time `gorm:"not null;index"`
	IdleExpiresAt *time.Time
	RevokedAt     *time.Time `gorm:"index:sessions_revoked,where:revoked_at IS NOT NULL"`
	// Roles is Session.Roles as a JSON array; NULL for none, as in the
	// rows of hosts from before the column.
	Roles *string `gorm:"type:text"`
	// The Upstream of a session an external provider signed in; NULL for
	// other logins, as in the rows of hosts from before the columns.
	UpstreamBackend      *string `gorm:"size:128"`
	UpstreamRefreshToken []byte
	UpstreamExpiry       *time.Time
}

func (sessionRow) TableName() string { return "sessions" }

// Tx is a transaction of the store, as a SessionWrite sees it.
type Tx struct{ db *gorm.DB }

// A SessionWrite is a write made in the transaction that creates a
// session, after the session's rows: something else the login that made
// it changes, so that both are one commit (Attempts.SettleIn: the
// lockout's settlement of the login). An error rolls the session back.
type SessionWrite func(tx *Tx, sessionID string) error

// CreateSession stores a new session and its first tokens in one
// transaction. Local is decided here: whether the subject is a user id of
// the users table.
func (s *Store) CreateSession(ctx context.Context, sess Session, tokens ...Token) (Session, error) {
	return s.CreateSessionWith(ctx, sess, nil, tokens...)
}

// CreateSessionWith is CreateSession that also makes writes, in order, in
// its transaction.
func (s *Store) CreateSessionWith(ctx context.Context, sess Session, writes []SessionWrite, tokens ...Token) (Session, error) {
	roles, err := VouchedRoles(sess.Roles)
	if err != nil {
		return Session{}, err
	}
	sess.Roles = roles
	ctx, end := s.callSpan(ctx, "create_session")
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if sess.Kind == "" {
			sess.Kind = SessionTokens
		}
		row := sessionRow{ID: sess.ID, Kind: sess.Kind, Subject: sess.Subject, Username: sess.Username, CreatedAt: time.Now().UTC(), ExpiresAt: sess.ExpiresAt.UTC()}
		if sess.SecretHash != "" {
			row.SecretHash = &sess.SecretHash
		}
		if !sess.IdleExpiresAt.IsZero() {
			idle := sess.IdleExpiresAt.UTC()
			row.IdleExpiresAt = &idle
		}
		if len(roles) > 0 {
			encoded, err := json.Marshal(roles)
			if err != nil {
				return err
			}
			list := string(encoded)
			row.Roles = &list
		}
		if up := sess.Upstream; up.Backend != "" {
			row.UpstreamBackend, row.UpstreamRefreshToken = &up.Backend, up.RefreshToken
			if !up.Expiry.IsZero() {
				expiry := up.Expiry.UTC()
				row.UpstreamExpiry = &expiry
			}
		}
		// Written out rather than through gorm's Create: a login makes one
		// session, and building the statement from the struct by
		// reflection was most of the statement's cost. Local is decided
		// in the same statement: whether the subject is a user of the
		// users table.
		if err := tx.Raw(`INSERT INTO sessions (id, kind, subject, username, secret_hash, local, created_at, expires_at,
				idle_expires_at, roles, upstream_backend, upstream_refresh_token, upstream_expiry)
			SELECT ?, ?, ?, ?, ?, EXISTS (SELECT 1 FROM users WHERE id = ?), ?, ?, ?, ?, ?, ?, ?
			RETURNING local`,
			row.ID, row.Kind, row.Subject, row.Username, row.SecretHash, row.Subject, row.CreatedAt, row.ExpiresAt,
			row.IdleExpiresAt, row.Roles, row.UpstreamBackend, row.UpstreamRefreshToken, row.UpstreamExpiry).Row().Scan(&sess.Local); err != nil {
			return err
		}
		sess.CreatedAt = row.CreatedAt
		if err := saveTokens(tx, tokens); err != nil {
			return err
		}
		for _, w := range writes {
			if err := w(&Tx{db: tx}, sess.ID); err != nil {
				return err
			}
		}
		return nil
	})
	end(err)
	if err != nil {
		return Session{}, fmt.Errorf("creating a session: %w", err)
	}
	return sess, nil
}

// SessionByID returns a session with its user's current state, or
// sdk.ErrNotFound.
func (s *Store) SessionByID(ctx context.Context, id string) (Session, error) {
	return s.session(ctx, "sessions.id = ?", id)
}

// SessionBySecret returns the cookie session whose secret has this hash,
// with its user's current state, or sdk.ErrNotFound.
func (s *Store) SessionBySecret(ctx context.Context, hash string) (Session, error) {
	return s.session(ctx, "sessions.secret_hash = ?", hash)
}

func (s *Store) session(ctx context.Context, where string, arg string) (Session, error) {
	var row struct {
		ID, Kind, Subject, Username string
		SecretHash                  *string
		Local                       bool
		CreatedAt, ExpiresAt        time.Time
		IdleExpiresAt, RevokedAt    *time.Time
		UserID                      *string
		UserDisabled                *bool
		Roles                       *string
		UpstreamBackend             *string
		UpstreamRefreshToken        []byte
		UpstreamExpiry              *time.Time
	}
	err := s.db.WithContext(ctx).Table("sessions").
		Select("sessions.*, users.id AS user_id, users.disabled AS user_disabled").
		Joins("LEFT JOIN users ON users.id = sessions.subject").
		Where(where, arg).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, fmt.Errorf("session: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("reading a session: %w", err)
	}
	sess := Session{ID: row.ID, Kind: row.Kind, Subject: row.Subject, Username: row.Username, Local: row.Local,
		CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt,
		UserLive: row.UserID != nil && (row.UserDisabled == nil || !*row.UserDisabled)}
	if row.SecretHash != nil {
		sess.SecretHash = *row.SecretHash
	}
	if row.IdleExpiresAt != nil {
		sess.IdleExpiresAt = *row.IdleExpiresAt
	}
	if row.RevokedAt != nil {
		sess.RevokedAt = *row.RevokedAt
	}
	if row.UpstreamBackend != nil {
		sess.Upstream = Upstream{Backend: *row.UpstreamBackend, RefreshToken: row.UpstreamRefreshToken}
		if row.UpstreamExpiry != nil {
			sess.Upstream.Expiry = row.UpstreamExpiry.UTC()
		}
	}
	if row.Roles != nil {
		// A list that does not read back is an error, never no roles: the
		// session's tokens would silently lose what its login was given.
		if err := json.Unmarshal([]byte(*row.Roles), &sess.Roles); err != nil {
			return Session{}, fmt.Errorf("reading a session: its roles are not a JSON list of names: %w", err)
		}
	}
	return sess, nil
}

// MaxVouchedRoles bounds the roles a login's backend may vouch for: as
// many as an access token carries.
const MaxVouchedRoles = accesstoken.MaxTokenRoles

// VouchedRoles checks the roles a backend vouched for at a login
// (sdk.Identity.Roles) and returns them sorted, without repeats (nil for
// none): each must pass ValidateRoleName, and there may be at most
// MaxVouchedRoles. The error wraps sdk.ErrInvalidArgument. A name no role
// of the roles table has is valid: it is carried without permissions.
func VouchedRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	set := sortedSet(roles)
	if len(set) > MaxVouchedRoles {
		return nil, fmt.Errorf("%d roles vouched for, more than %d: %w", len(set), MaxVouchedRoles, sdk.ErrInvalidArgument)
	}
	for _, r := range set {
		if err := ValidateRoleName(r); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// SetSessionUpstream records a refresh at the provider that signed in the
// live session id: the provider's new access token expires at expiry (zero:
// it did not say), and sealed replaces the refresh token when the provider
// rotated it (nil keeps the stored one). It returns sdk.ErrNotFound when
// the session has no upstream or has been revoked meanwhile.
func (s *Store) SetSessionUpstream(ctx context.Context, id string, sealed []byte, expiry time.Time) error {
	updates := map[string]any{"upstream_expiry": nil}
	if !expiry.IsZero() {
		updates["upstream_expiry"] = expiry.UTC()
	}
	if sealed != nil {
		updates["upstream_refresh_token"] = sealed
	}
	res := s.db.WithContext(ctx).Model(&sessionRow{}).
		Where("id = ? AND upstream_backend IS NOT NULL AND revoked_at IS NULL", id).Updates(updates)
	if res.Error != nil {
		return fmt.Errorf("storing a session's upstream tokens: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("live session with an upstream %s: %w", id, sdk.ErrNotFound)
	}
	return nil
}

// ExtendIdle moves a live session's idle end to until, if that is later
// than it is by at least step: a session in use is written at most once a
// step, not at every request. It reports whether it wrote.
func (s *Store) ExtendIdle(ctx context.Context, id string, until time.Time, step time.Duration) (bool, error) {
	res := s.db.WithContext(ctx).Model(&sessionRow{}).
		Where("id = ? AND revoked_at IS NULL AND idle_expires_at < ?", id, until.Add(-step).UTC()).
		Update("idle_expires_at", until.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("extending a session: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// EndSessionsOf ends every live session and token of subject, whether or
// not it is a user of the users table (an LDAP backend's "ldap:…"
// subject, say), and returns the ids of the sessions it ended: for an
// identity the host cannot disable, whose backend is asked only at login.
func (s *Store) EndSessionsOf(ctx context.Context, subject string) ([]string, error) {
	if subject == "" {
		return nil, fmt.Errorf("%w: no subject", sdk.ErrInvalidArgument)
	}
	var ended []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		ended, err = revokeUserSessions(tx, subject)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ending sessions: %w", err)
	}
	return ended, nil
}

// revokeUserSessions ends, in tx, every live session and token of the
// user with this id, and returns the ids of the sessions it ended.
func revokeUserSessions(tx *gorm.DB, subject string) ([]string, error) {
	now := time.Now().UTC()
	var ended []string
	err := tx.Model(&sessionRow{}).Where("subject = ? AND revoked_at IS NULL AND expires_at > ?", subject, now).
		Order("id").Pluck("id", &ended).Error
	if err != nil {
		return nil, err
	}
	if err := tx.Model(&sessionRow{}).Where("subject = ? AND revoked_at IS NULL", subject).Update("revoked_at", now).Error; err != nil {
		return nil, err
	}
	// Families of tokens issued before sessions were kept have no row.
	var families []string
	err = tx.Model(&tokenRow{}).Where("subject = ? AND revoked_at IS NULL AND expires_at > ?", subject, now).
		Distinct("family_id").Order("family_id").Pluck("family_id", &families).Error
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		if !slices.Contains(ended, f) {
			ended = append(ended, f)
		}
	}
	if err := tx.Model(&tokenRow{}).Where("subject = ? AND revoked_at IS NULL", subject).Update("revoked_at", now).Error; err != nil {
		return nil, err
	}
	// A two-factor login half done (its password step passed) must not
	// complete after the credentials changed.
	return ended, tx.Exec(`UPDATE authorization_requests SET state = ?, reason = ?, decided_at = ?
		WHERE user_id = ? AND slug = ? AND app = '' AND state = ?`,
		AuthRequestCancelled, ReasonCredentialsChanged, now, subject, "2FA", AuthRequestWaiting).Error
}

// ReasonCredentialsChanged is the reason of the two-factor logins
// cancelled because their user's password changed, or the user was
// disabled or removed, between the password and the code.
const ReasonCredentialsChanged = "credentials_changed"

// PurgeSessions deletes up to limit sessions that ended (expired or were
// revoked) before cutoff, and returns how many it deleted.
func (s *Store) PurgeSessions(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	cutoff = cutoff.UTC()
	db := s.db.WithContext(ctx)
	n, err := deleteInBatches(limit, func(batch int) *gorm.DB {
		return db.Exec(`DELETE FROM sessions WHERE id IN (
		   SELECT id FROM sessions WHERE expires_at < ? OR revoked_at < ? LIMIT ?)`, cutoff, cutoff, batch)
	})
	if err != nil {
		return n, fmt.Errorf("purging ended sessions: %w", err)
	}
	return n, nil
}
