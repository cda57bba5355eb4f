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

// The states of an authorization request. A request is waiting until it
// is decided (granted, denied, cancelled) or expires; a decided or expired
// request never changes again.
const (
	AuthRequestWaiting   = "waiting"
	AuthRequestGranted   = "granted"
	AuthRequestDenied    = "denied"
	AuthRequestCancelled = "cancelled"
	AuthRequestExpired   = "expired"
)

// AuthRequest is an authorization request: one user asked to approve one
// operation, or to prove a second factor. Every change to it is one
// conditional statement, so two hosts deciding at once never both win.
type AuthRequest struct {
	ID          string
	Slug        string
	UserID      string
	Username    string
	Title       string
	Description string
	// Data is the app's JSON object about the operation (nil: none).
	Data []byte
	// Backend is the authorization-request backend that prepared the
	// challenge.
	Backend string
	// App is the name of the app key that created the request ("" from
	// the host itself, for a two-factor login).
	App string
	// SessionID is the session the request is bound to ("" when it is
	// not bound): it is answered only while that session lives.
	SessionID string
	State     string
	// Reason says why a request was denied by the host
	// ("too_many_attempts"), or who decided ("app", "admin", "cli").
	Reason string
	// WrongAnswers counts the answers that were not valid.
	WrongAnswers int
	// Generation counts the resets; Version every change of the
	// challenge's state (a reset, a code marked used).
	Generation int
	Version    int
	// Challenge is the backend's state (authreq.Challenge.State); it
	// holds no secret in clear.
	Challenge []byte
	// Delivery says how the challenge reached the user.
	Delivery  string
	CreatedAt time.Time
	ExpiresAt time.Time
	// DecidedAt is when it was decided or expired; zero while waiting.
	DecidedAt time.Time
}

// Waiting reports whether the request can still be answered and decided
// at now.
func (r AuthRequest) Waiting(now time.Time) bool {
	return r.State == AuthRequestWaiting && now.Before(r.ExpiresAt)
}

type authRequestRow struct {
	ID           string `gorm:"primaryKey;size:36"`
	Slug         string `gorm:"size:64;not null;index"`
	UserID       string `gorm:"size:255;not null;index"`
	Username     string `gorm:"size:255;not null"`
	Title        string `gorm:"size:255;not null"`
	Description  string `gorm:"size:2048;not null;default:''"`
	Data         []byte
	Backend      string `gorm:"size:128;not null"`
	App          string `gorm:"size:64;not null;default:''"`
	SessionID    string `gorm:"size:36;not null;default:''"`
	State        string `gorm:"size:16;not null"`
	Reason       string `gorm:"size:64;not null;default:''"`
	WrongAnswers int    `gorm:"not null;default:0"`
	Generation   int    `gorm:"not null;default:0"`
	Version      int    `gorm:"not null;default:0"`
	Challenge    []byte
	Delivery     string    `gorm:"size:64;not null;default:''"`
	CreatedAt    time.Time `gorm:"not null"`
	// ExpiresAt is indexed alone, for the sweep of expired requests: an
	// index led by the state would match every waiting request, and
	// PostgreSQL could pick it over the primary key to find one row by
	// id (reading them all).
	ExpiresAt time.Time `gorm:"not null;index:authreq_due"`
	DecidedAt *time.Time
	// CompletedAt is when the login of a two-factor request a device
	// granted was completed (once).
	CompletedAt *time.Time
}

func (authRequestRow) TableName() string { return "authorization_requests" }

func (r authRequestRow) request() AuthRequest {
	out := AuthRequest{ID: r.ID, Slug: r.Slug, UserID: r.UserID, Username: r.Username, Title: r.Title, Description: r.Description,
		Data: r.Data, Backend: r.Backend, App: r.App, SessionID: r.SessionID, State: r.State, Reason: r.Reason,
		WrongAnswers: r.WrongAnswers, Generation: r.Generation, Version: r.Version, Challenge: r.Challenge,
		Delivery: r.Delivery, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
	if r.DecidedAt != nil {
		out.DecidedAt = r.DecidedAt.UTC()
	}
	return out
}

// authRequestColumns are the columns RETURNING reads back.
const authRequestColumns = `id, slug, user_id, username, title, description, data, backend, app, session_id, state, reason,
	wrong_answers, generation, version, challenge, delivery, created_at, expires_at, decided_at`

// CreateAuthRequest stores a new waiting request (its ID is made here when
// empty) and returns it as stored.
func (s *Store) CreateAuthRequest(ctx context.Context, r AuthRequest) (AuthRequest, error) {
	if r.ID == "" {
		r.ID = uuid.NewString()
	}
	row := authRequestRow{ID: r.ID, Slug: r.Slug, UserID: r.UserID, Username: r.Username, Title: r.Title, Description: r.Description,
		Data: r.Data, Backend: r.Backend, App: r.App, SessionID: r.SessionID, State: AuthRequestWaiting,
		Challenge: r.Challenge, Delivery: r.Delivery, CreatedAt: time.Now().UTC(), ExpiresAt: r.ExpiresAt.UTC()}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return AuthRequest{}, fmt.Errorf("creating an authorization request: %w", err)
	}
	return row.request(), nil
}

// AuthRequestByID returns a request as stored, or sdk.ErrNotFound.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (AuthRequest, error) {
	var row authRequestRow
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return AuthRequest{}, fmt.Errorf("authorization request %q: %w", id, sdk.ErrNotFound)
	}
	if err != nil {
		return AuthRequest{}, fmt.Errorf("reading an authorization request: %w", err)
	}
	return row.request(), nil
}

// returning runs an UPDATE ... RETURNING and reads the rows it changed.
func (s *Store) returning(ctx context.Context, sql string, args ...any) ([]AuthRequest, error) {
	var rows []authRequestRow
	if err := s.db.WithContext(ctx).Raw(sql+" RETURNING "+authRequestColumns, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]AuthRequest, len(rows))
	for i, r := range rows {
		out[i] = r.request()
	}
	return out, nil
}

// DecideAuthRequest moves a waiting, unexpired request to state (granted,
// denied or cancelled) with a reason. It returns the request as changed
// and true, or, when it was not waiting or had expired, the request as it
// is and false: of several hosts deciding at once, exactly one gets true.
func (s *Store) DecideAuthRequest(ctx context.Context, id, state, reason string, now time.Time) (AuthRequest, bool, error) {
	switch state {
	case AuthRequestGranted, AuthRequestDenied, AuthRequestCancelled:
	default:
		return AuthRequest{}, false, fmt.Errorf("an authorization request cannot be decided %q: %w", state, sdk.ErrInvalidArgument)
	}
	now = now.UTC()
	changed, err := s.returning(ctx, `UPDATE authorization_requests SET state = ?, reason = ?, decided_at = ?
		WHERE id = ? AND state = ? AND expires_at > ?`, state, reason, now, id, AuthRequestWaiting, now)
	if err != nil {
		return AuthRequest{}, false, fmt.Errorf("deciding an authorization request: %w", err)
	}
	if len(changed) == 1 {
		return changed[0], true, nil
	}
	r, err := s.AuthRequestByID(ctx, id)
	return r, false, err
}

// ExpireAuthRequest marks one waiting request whose time is up expired;
// it reports whether this call did (exactly one caller does).
func (s *Store) ExpireAuthRequest(ctx context.Context, id string, now time.Time) (AuthRequest, bool, error) {
	changed, err := s.returning(ctx, `UPDATE authorization_requests SET state = ?, decided_at = expires_at
		WHERE id = ? AND state = ? AND expires_at <= ?`, AuthRequestExpired, id, AuthRequestWaiting, now.UTC())
	if err != nil {
		return AuthRequest{}, false, fmt.Errorf("expiring an authorization request: %w", err)
	}
	if len(changed) == 1 {
		return changed[0], true, nil
	}
	return AuthRequest{}, false, nil
}

// ExpireAuthRequests marks up to limit waiting requests whose time is up
// expired and returns them: each request is returned to exactly one
// caller, however many hosts sweep at once.
func (s *Store) ExpireAuthRequests(ctx context.Context, now time.Time, limit int) ([]AuthRequest, error) {
	now = now.UTC()
	// The state is checked again outside the subquery: on PostgreSQL a
	// second host's UPDATE that waited on the first's lock re-reads the
	// row and must find it no longer waiting.
	changed, err := s.returning(ctx, `UPDATE authorization_requests SET state = ?, decided_at = expires_at
		WHERE state = ? AND expires_at <= ? AND id IN (
		  SELECT id FROM authorization_requests WHERE state = ? AND expires_at <= ? ORDER BY expires_at LIMIT ?)`,
		AuthRequestExpired, AuthRequestWaiting, now, AuthRequestWaiting, now, limit)
	if err != nil {
		return nil, fmt.Errorf("expiring authorization requests: %w", err)
	}
	return changed, nil
}

// ResetAuthRequest replaces a waiting request's challenge with one made
// for the next generation, and its expiry; version is the version the
// caller read. It reports false when the request changed meanwhile (was
// decided, expired, reset or answered).
func (s *Store) ResetAuthRequest(ctx context.Context, id string, version int, challenge []byte, delivery string, expires, now time.Time) (AuthRequest, bool, error) {
	now = now.UTC()
	changed, err := s.returning(ctx, `UPDATE authorization_requests SET generation = generation + 1, version = version + 1,
		challenge = ?, delivery = ?, expires_at = ?, wrong_answers = 0
		WHERE id = ? AND state = ? AND version = ? AND expires_at > ?`,
		challenge, delivery, expires.UTC(), id, AuthRequestWaiting, version, now)
	if err != nil {
		return AuthRequest{}, false, fmt.Errorf("resetting an authorization request: %w", err)
	}
	if len(changed) == 1 {
		return changed[0], true, nil
	}
	return AuthRequest{}, false, nil
}

// AcceptAnswer records a valid answer: the challenge's state becomes
// challenge (nil: unchanged) if the request is still waiting at version.
// It reports false when it was not, and the answer then counts for
// nothing: another answer, a reset or a decision came first.
func (s *Store) AcceptAnswer(ctx context.Context, id string, version int, challenge []byte, now time.Time) (bool, error) {
	q := `UPDATE authorization_requests SET version = version + 1, challenge = ?
		WHERE id = ? AND state = ? AND version = ? AND expires_at > ?`
	args := []any{challenge, id, AuthRequestWaiting, version, now.UTC()}
	if challenge == nil {
		q = `UPDATE authorization_requests SET version = version
		WHERE id = ? AND state = ? AND version = ? AND expires_at > ?`
		args = args[1:]
	}
	res := s.db.WithContext(ctx).Exec(q, args...)
	if res.Error != nil {
		return false, fmt.Errorf("recording an answer: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RejectAnswer counts a wrong answer to a waiting request; the answer
// that takes the count past maxWrong denies the request with reason
// too_many_attempts. It returns the request as changed, and whether this
// call denied it (exactly one does); a request that was no longer
// waiting is returned unchanged, with false.
func (s *Store) RejectAnswer(ctx context.Context, id string, maxWrong int, now time.Time) (AuthRequest, bool, error) {
	now = now.UTC()
	changed, err := s.returning(ctx, `UPDATE authorization_requests SET wrong_answers = wrong_answers + 1,
		state = CASE WHEN wrong_answers + 1 > ? THEN ? ELSE state END,
		reason = CASE WHEN wrong_answers + 1 > ? THEN ? ELSE reason END,
		decided_at = CASE WHEN wrong_answers + 1 > ? THEN ? ELSE decided_at END
		WHERE id = ? AND state = ? AND expires_at > ?`,
		maxWrong, AuthRequestDenied, maxWrong, ReasonTooManyAttempts, maxWrong, now, id, AuthRequestWaiting, now)
	if err != nil {
		return AuthRequest{}, false, fmt.Errorf("counting a wrong answer: %w", err)
	}
	if len(changed) == 1 {
		r := changed[0]
		return r, r.State == AuthRequestDenied && r.WrongAnswers == maxWrong+1, nil
	}
	r, err := s.AuthRequestByID(ctx, id)
	return r, false, err
}

// ReasonTooManyAttempts is the reason of a request the host denied after
// too many wrong answers.
const ReasonTooManyAttempts = "too_many_attempts"

// AuthRequestQuery filters authorization requests.
type AuthRequestQuery struct {
	// State keeps the requests in that state ("" for all). A waiting
	// request whose time is up reads as waiting here until it is swept.
	State  string
	UserID string
	Slug   string
	Page
}

// QueryAuthRequests returns a page of the requests q selects, newest
// first, and how many it selects in all.
func (s *Store) QueryAuthRequests(ctx context.Context, q AuthRequestQuery) ([]AuthRequest, int64, error) {
	db := s.db.WithContext(ctx).Model(&authRequestRow{})
	if q.State != "" {
		db = db.Where("state = ?", q.State)
	}
	if q.UserID != "" {
		db = db.Where("user_id = ?", q.UserID)
	}
	if q.Slug != "" {
		db = db.Where("slug = ?", q.Slug)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("counting authorization requests: %w", err)
	}
	var rows []authRequestRow
	if err := q.apply(db.Order("created_at DESC, id DESC")).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("listing authorization requests: %w", err)
	}
	out := make([]AuthRequest, len(rows))
	for i, r := range rows {
		out[i] = r.request()
	}
	return out, total, nil
}

// PurgeAuthRequests deletes up to limit requests decided or expired
// before cutoff, and returns how many.
func (s *Store) PurgeAuthRequests(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	db := s.db.WithContext(ctx)
	n, err := deleteInBatches(limit, func(batch int) *gorm.DB {
		return db.Exec(`DELETE FROM authorization_requests WHERE id IN (
		   SELECT id FROM authorization_requests WHERE state <> ? AND decided_at < ? LIMIT ?)`, AuthRequestWaiting, cutoff.UTC(), batch)
	})
	if err != nil {
		return n, fmt.Errorf("purging decided authorization requests: %w", err)
	}
	return n, nil
}
