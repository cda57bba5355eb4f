package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The queries in this file serve the admin API and page: pages of rows,
// filtered, with the total the filter matches.

// MaxPage is the most rows one page holds.
const MaxPage = 500

// Page selects a window of an ordered result.
type Page struct {
	Offset, Limit int
}

func (p Page) apply(q *gorm.DB) *gorm.DB {
	limit := p.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	return q.Offset(max(p.Offset, 0)).Limit(limit)
}

// likePattern is a LIKE pattern matching s anywhere, with LIKE's
// wildcards in s escaped (ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// UserQuery filters users.
type UserQuery struct {
	// Search matches usernames that contain it, in any case.
	Search string
	// Disabled, if set, keeps only disabled (or only enabled) users.
	Disabled *bool
	// Role keeps only the users who hold the role of that name.
	Role string
	Page
}

// QueryUsers returns a page of the users q selects, by username, and how
// many it selects in all.
func (s *Store) QueryUsers(ctx context.Context, q UserQuery) ([]User, int64, error) {
	db := s.db.WithContext(ctx).Model(&userRow{})
	if q.Search != "" {
		db = db.Where(`LOWER(username) LIKE ? ESCAPE '\'`, likePattern(q.Search))
	}
	if q.Disabled != nil {
		db = db.Where("disabled = ?", *q.Disabled)
	}
	if q.Role != "" {
		db = db.Where("id IN (SELECT user_roles.user_id FROM user_roles JOIN roles ON roles.id = user_roles.role_id WHERE roles.name = ?)", q.Role)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("counting users: %w", err)
	}
	var rows []userRow
	if err := q.apply(db.Order("username")).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("listing users: %w", err)
	}
	users := make([]User, len(rows))
	for i, r := range rows {
		users[i] = r.user()
	}
	return users, total, nil
}

// RolesOfUsers returns the names of the roles each of the users holds, by
// user id, each list sorted.
func (s *Store) RolesOfUsers(ctx context.Context, userIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(userIDs) == 0 {
		return out, nil
	}
	var rows []struct{ UserID, Name string }
	err := s.db.WithContext(ctx).Raw(`SELECT user_roles.user_id, roles.name FROM user_roles
		JOIN roles ON roles.id = user_roles.role_id WHERE user_roles.user_id IN ? ORDER BY roles.name`, userIDs).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reading users' roles: %w", err)
	}
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], r.Name)
	}
	return out, nil
}

// CountUsers returns how many users there are, and how many are disabled.
func (s *Store) CountUsers(ctx context.Context) (total, disabled int64, err error) {
	var row struct{ Total, Disabled int64 }
	err = s.db.WithContext(ctx).Raw(`SELECT COUNT(*) AS total,
		COALESCE(SUM(CASE WHEN disabled THEN 1 ELSE 0 END), 0) AS disabled FROM users`).Scan(&row).Error
	if err != nil {
		return 0, 0, fmt.Errorf("counting users: %w", err)
	}
	return row.Total, row.Disabled, nil
}

// AccessQuery filters the access log.
type AccessQuery struct {
	// Backends keeps the records of these limiter backends (all if empty).
	Backends []string
	// Failed, if set, keeps only failures (or only successes).
	Failed *bool
	// Username and IPAddress keep the records with exactly that value.
	Username, IPAddress string
	// Since keeps records written at or after it (all if zero).
	Since time.Time
	Page
}

func (q AccessQuery) where(db *gorm.DB) *gorm.DB {
	if len(q.Backends) > 0 {
		db = db.Where("backend IN ?", q.Backends)
	}
	if q.Failed != nil {
		db = db.Where("failed = ?", *q.Failed)
	}
	if q.Username != "" {
		db = db.Where("username = ?", q.Username)
	}
	if q.IPAddress != "" {
		db = db.Where("ip_address = ?", q.IPAddress)
	}
	if !q.Since.IsZero() {
		db = db.Where("time >= ?", q.Since.UTC())
	}
	return db
}

// QueryAccessLog returns a page of the access records q selects, newest
// first, and how many it selects in all.
func (s *Store) QueryAccessLog(ctx context.Context, q AccessQuery) ([]AccessRecord, int64, error) {
	db := q.where(s.db.WithContext(ctx).Model(&accessRow{}))
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("counting access records: %w", err)
	}
	var rows []accessRow
	if err := q.apply(db.Order("time DESC, id DESC")).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("reading the access log: %w", err)
	}
	out := make([]AccessRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, total, nil
}

// CountAccess returns how many successes and failures the access log of
// backends holds since a time.
func (s *Store) CountAccess(ctx context.Context, backends []string, since time.Time) (succeeded, failed int64, err error) {
	if len(backends) == 0 {
		return 0, 0, nil
	}
	var rows []struct {
		Failed bool
		N      int64
	}
	err = s.db.WithContext(ctx).Model(&accessRow{}).Select("failed, COUNT(*) AS n").
		Where("backend IN ? AND time >= ?", backends, since.UTC()).Group("failed").Scan(&rows).Error
	if err != nil {
		return 0, 0, fmt.Errorf("counting access records: %w", err)
	}
	for _, r := range rows {
		if r.Failed {
			failed = r.N
		} else {
			succeeded = r.N
		}
	}
	return succeeded, failed, nil
}

// CountDeliveries returns how many signal deliveries are in each state.
func (s *Store) CountDeliveries(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	err := s.db.WithContext(ctx).Model(&outboxRow{}).Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("counting signal deliveries: %w", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}
