package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The reads behind the host's scrape-time gauges (docs/metrics.md). Each
// is one aggregate statement; the host caches its result, so that however
// often /metrics is scraped the database answers it at most every few
// seconds.

// OutboxStats is the signal outbox at one moment.
type OutboxStats struct {
	// Pending is how many deliveries wait for a first or a further
	// attempt (some may be in flight).
	Pending int64
	// OldestPending is when the signal of the oldest pending delivery was
	// sent; zero when none is pending.
	OldestPending time.Time
	// Dead is how many deliveries were given up on and wait for an
	// operator's retry.
	Dead int64
}

// OutboxStats counts the pending and dead deliveries and finds the oldest
// pending one.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var rows []struct {
		State  string
		N      int64
		Oldest sql.NullInt64
	}
	err := s.db.WithContext(ctx).Raw(
		`SELECT state, COUNT(*) AS n, MIN(signal_time_ms) AS oldest FROM signal_outbox WHERE state IN (?, ?) GROUP BY state`,
		DeliveryPending, DeliveryDead).Scan(&rows).Error
	if err != nil {
		return OutboxStats{}, fmt.Errorf("counting signal deliveries: %w", err)
	}
	var st OutboxStats
	for _, r := range rows {
		switch r.State {
		case DeliveryPending:
			st.Pending = r.N
			if r.Oldest.Valid {
				st.OldestPending = time.UnixMilli(r.Oldest.Int64).UTC()
			}
		case DeliveryDead:
			st.Dead = r.N
		}
	}
	return st, nil
}

// LockedCounters returns how many live counters of each of namespaces are
// at or past their lock (a namespace with none is absent).
func (s *Store) LockedCounters(ctx context.Context, namespaces []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(namespaces) == 0 {
		return out, nil
	}
	var rows []struct {
		Namespace string
		N         int64
	}
	err := s.db.WithContext(ctx).Raw(
		`SELECT namespace, COUNT(*) AS n FROM attempt_counters
		 WHERE namespace IN ? AND lock_at > 0 AND failures >= lock_at AND `+live+` GROUP BY namespace`,
		namespaces, time.Now().UnixMilli()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("counting locked attempt counters: %w", err)
	}
	for _, r := range rows {
		out[r.Namespace] = r.N
	}
	return out, nil
}
