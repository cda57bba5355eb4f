package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// AccessRecord is one login in the access log an attempt rule keeps
// (django-axes' AccessLog and AccessFailureLog): a success, or with Failed
// a failure, LockedOut when the attempt was refused by a lock.
type AccessRecord struct {
	ID        string
	Backend   string
	Failed    bool
	LockedOut bool
	Username  string
	IPAddress string
	UserAgent string
	// SessionID identifies the session a success opened (the token
	// family); it is not a token.
	SessionID  string
	Time       time.Time
	LogoutTime time.Time
}

type accessRow struct {
	ID         string    `gorm:"primaryKey;size:36"`
	Backend    string    `gorm:"size:128;not null;index:access_by_user,priority:1"`
	Failed     bool      `gorm:"not null"`
	LockedOut  bool      `gorm:"not null"`
	Username   string    `gorm:"size:255;not null;index:access_by_user,priority:2"`
	IPAddress  string    `gorm:"size:64;not null"`
	UserAgent  string    `gorm:"size:255;not null"`
	SessionID  string    `gorm:"size:36;not null;index"`
	Time       time.Time `gorm:"not null;index;index:access_by_user,priority:3"`
	LogoutTime *time.Time
}

func (accessRow) TableName() string { return "access_log" }

func (r accessRow) record() AccessRecord {
	rec := AccessRecord{
		ID: r.ID, Backend: r.Backend, Failed: r.Failed, LockedOut: r.LockedOut, Username: r.Username,
		IPAddress: r.IPAddress, UserAgent: r.UserAgent, SessionID: r.SessionID, Time: r.Time.UTC(),
	}
	if r.LogoutTime != nil {
		rec.LogoutTime = r.LogoutTime.UTC()
	}
	return rec
}

// The most characters the access log keeps of a value: its columns' sizes.
const (
	maxAccessUsername  = 255
	maxAccessIPAddress = 64
	maxAccessUserAgent = 255
)

// writeAccess adds a record to the access log inside tx; for a failure it
// then drops the username's oldest failure records beyond perUser (0: no
// bound). Values are made valid UTF-8 and cut to their column's size
// (PostgreSQL would refuse them, and with them the settlement the record is
// part of).
func (s *Store) writeAccess(tx *gorm.DB, backend string, rec AccessRecord, perUser int) error {
	row := accessRow{
		ID: accessID(), Backend: backend, Failed: rec.Failed, LockedOut: rec.LockedOut,
		Username: cutChars(rec.Username, maxAccessUsername), IPAddress: cutChars(rec.IPAddress, maxAccessIPAddress),
		UserAgent: cutChars(rec.UserAgent, maxAccessUserAgent), SessionID: rec.SessionID, Time: rec.Time.UTC(),
	}
	if row.Time.IsZero() {
		row.Time = time.Now().UTC()
	}
	// Written out rather than through gorm's Create, which builds the
	// statement from the struct by reflection at every login.
	if err := tx.Exec(`INSERT INTO access_log (id, backend, failed, locked_out, username, ip_address, user_agent, session_id, "time")
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		row.ID, row.Backend, row.Failed, row.LockedOut, row.Username, row.IPAddress, row.UserAgent, row.SessionID, row.Time).Error; err != nil {
		return err
	}
	if !rec.Failed || perUser <= 0 {
		return nil
	}
	all := "LIMIT -1" // SQLite needs a LIMIT before an OFFSET
	if s.driver == Postgres {
		all = "LIMIT ALL"
	}
	return tx.Exec(`DELETE FROM access_log WHERE id IN (
		SELECT id FROM access_log WHERE backend = ? AND username = ? AND failed
		ORDER BY time DESC, id DESC `+all+` OFFSET ?)`, backend, row.Username, perUser).Error
}

// accessID is a new record's id. Ids are time-ordered (UUIDv7, increasing
// within a process), so that records written at the same time are still
// ordered oldest to newest, and a username's oldest failure records are the
// ones dropped.
func accessID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// cutChars makes s valid UTF-8 (each run of other bytes becomes U+FFFD)
// and cuts it to at most n characters.
func cutChars(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// RecordAccess adds one record to backend's access log outside any
// attempt (a refusal, say).
func (s *Store) RecordAccess(ctx context.Context, backend string, rec AccessRecord, perUser int) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.writeAccess(tx, backend, rec, perUser)
	})
	if err != nil {
		return fmt.Errorf("writing the access log: %w", err)
	}
	return nil
}

// RecordLogout stamps the logout time on the access records of a session
// that have none yet, and returns how many it stamped.
func (s *Store) RecordLogout(ctx context.Context, sessionID string, at time.Time) (int64, error) {
	if sessionID == "" {
		return 0, nil
	}
	res := s.db.WithContext(ctx).Exec(`UPDATE access_log SET logout_time = ? WHERE session_id = ? AND logout_time IS NULL AND NOT failed`,
		at.UTC(), sessionID)
	if res.Error != nil {
		return 0, fmt.Errorf("stamping the logout in the access log: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// AccessLog returns backend's access records, newest first; failed selects
// the failure log instead of the successes.
func (s *Store) AccessLog(ctx context.Context, backend string, failed bool) ([]AccessRecord, error) {
	var rows []accessRow
	err := s.db.WithContext(ctx).Where("backend = ? AND failed = ?", backend, failed).
		Order("time DESC, id DESC").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reading the access log: %w", err)
	}
	out := make([]AccessRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, nil
}

// PruneAccessLog removes access records written at or before cutoff, of
// the backends named (every backend when none is), and returns how many.
func (s *Store) PruneAccessLog(ctx context.Context, cutoff time.Time, backends ...string) (int64, error) {
	if cutoff.IsZero() {
		return 0, errors.New("prune: no cutoff")
	}
	q := s.db.WithContext(ctx).Where("time <= ?", cutoff.UTC())
	if len(backends) > 0 {
		q = q.Where("backend IN ?", backends)
	}
	res := q.Delete(&accessRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("pruning the access log: %w", res.Error)
	}
	return res.RowsAffected, nil
}
