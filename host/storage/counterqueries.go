package storage

import (
	"context"
	"fmt"
	"time"
)

// CounterQuery selects the live attempt counters with failures of some
// namespaces, for an admin's listing of lockouts.
type CounterQuery struct {
	Namespaces []string
	// LockedOnly keeps the counters at or past their lock.
	LockedOnly bool
	Page
}

// NamespacedCounter is a counter with its namespace (its limiter
// backend).
type NamespacedCounter struct {
	Namespace string
	CounterState
}

// lockedFirst orders locked counters before the others.
const lockedFirst = "CASE WHEN lock_at > 0 AND failures >= lock_at THEN 0 ELSE 1 END"

// QueryCounters returns a page of the counters q selects, locked ones
// first, then by failures (most first), namespace and key, and how many
// it selects in all. Only the page is read into memory, however many
// counters there are.
func (s *Store) QueryCounters(ctx context.Context, q CounterQuery) ([]NamespacedCounter, int64, error) {
	if len(q.Namespaces) == 0 {
		return nil, 0, nil
	}
	db := s.db.WithContext(ctx).Model(&attemptRow{}).
		Where("namespace IN ? AND failures > 0 AND "+live, q.Namespaces, time.Now().UnixMilli())
	if q.LockedOnly {
		db = db.Where("lock_at > 0 AND failures >= lock_at")
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("counting attempt counters: %w", err)
	}
	var rows []attemptRow
	if err := q.apply(db.Order(lockedFirst + ", failures DESC, namespace, key")).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("listing attempt counters: %w", err)
	}
	out := make([]NamespacedCounter, len(rows))
	for i, r := range rows {
		out[i] = NamespacedCounter{Namespace: r.Namespace, CounterState: CounterState{Key: r.Key, Failures: r.Failures, LockAt: r.LockAt}}
		if r.ExpiresAtMS != nil {
			out[i].ExpiresAt = time.UnixMilli(*r.ExpiresAtMS).UTC()
		}
	}
	return out, total, nil
}
