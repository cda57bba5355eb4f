package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Delivery states of an outbox entry.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// Delivery is one signal on its way to one async subscriber.
type Delivery struct {
	ID         int64
	SignalID   string
	Subscriber string
	Name       string
	Sender     string
	// Origin is "host" or "plugin" (sdk.Signal.Origin); empty for a signal
	// queued before origins were recorded.
	Origin string
	Time   time.Time
	// Args is the signal's arguments as JSON.
	Args          []byte
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	DeliveredAt   time.Time
}

// Signal returns the delivery's signal.
func (d Delivery) Signal() sdk.Signal {
	return sdk.Signal{ID: d.SignalID, Name: d.Name, Sender: d.Sender, Origin: d.Origin, Time: d.Time, Args: d.Args}
}

// outboxRow is one delivery. Times that the database compares are unix
// milliseconds, so that both drivers compare numbers.
type outboxRow struct {
	ID              int64  `gorm:"primaryKey;autoIncrement"`
	SignalID        string `gorm:"size:36;not null;index"`
	Subscriber      string `gorm:"size:255;not null"`
	Name            string `gorm:"size:64;not null"`
	Sender          string `gorm:"size:255;not null"`
	Origin          string `gorm:"size:16;not null;default:''"`
	SignalTimeMS    int64  `gorm:"not null"`
	Args            []byte `gorm:"not null"`
	State           string `gorm:"size:16;not null;index:idx_outbox_due,priority:1"`
	Attempts        int    `gorm:"not null;default:0"`
	NextAttemptAtMS int64  `gorm:"not null;index:idx_outbox_due,priority:2"`
	LeasedUntilMS   int64  `gorm:"not null;default:0"`
	LeasedBy        string `gorm:"size:64;not null;default:''"`
	LastError       string `gorm:"size:1024;not null;default:''"`
	DeliveredAtMS   int64  `gorm:"not null;default:0"`
}

func (outboxRow) TableName() string { return "signal_outbox" }

func (r outboxRow) delivery() Delivery {
	d := Delivery{
		ID: r.ID, SignalID: r.SignalID, Subscriber: r.Subscriber, Name: r.Name, Sender: r.Sender, Origin: r.Origin,
		Time: time.UnixMilli(r.SignalTimeMS).UTC(), Args: r.Args, State: r.State, Attempts: r.Attempts,
		NextAttemptAt: time.UnixMilli(r.NextAttemptAtMS).UTC(), LastError: r.LastError,
	}
	if r.DeliveredAtMS > 0 {
		d.DeliveredAt = time.UnixMilli(r.DeliveredAtMS).UTC()
	}
	return d
}

// Enqueue stores sig for delivery to each subscriber, in one transaction:
// after it returns, the signal survives a crash.
func (s *Store) Enqueue(ctx context.Context, sig sdk.Signal, subscribers []string) error {
	if len(subscribers) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	rows := make([]outboxRow, len(subscribers))
	for i, sub := range subscribers {
		rows[i] = outboxRow{
			SignalID: sig.ID, Subscriber: sub, Name: sig.Name, Sender: sig.Sender, Origin: sig.Origin,
			SignalTimeMS: sig.Time.UnixMilli(), Args: sig.Args, State: DeliveryPending, NextAttemptAtMS: now,
		}
	}
	if err := s.db.WithContext(ctx).Create(&rows).Error; err != nil {
		return fmt.Errorf("queueing signal %s: %w", sig.Name, err)
	}
	return nil
}

// Claim leases up to limit due deliveries to owner until now+lease and
// returns them in queue order. A delivery is due when it is pending, its
// next attempt time has come, and no live lease holds it. Two hosts never
// claim the same delivery while a lease lasts: on PostgreSQL rows are
// locked with SKIP LOCKED, on SQLite the claim runs under the write lock.
func (s *Store) Claim(ctx context.Context, owner string, limit int, lease time.Duration) ([]Delivery, error) {
	now := time.Now().UnixMilli()
	skipLocked := ""
	if s.driver == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	var rows []outboxRow
	err := s.db.WithContext(ctx).Raw(
		`UPDATE signal_outbox SET leased_by = ?, leased_until_ms = ?
		 WHERE id IN (
		   SELECT id FROM signal_outbox
		   WHERE state = ? AND next_attempt_at_ms <= ? AND leased_until_ms <= ?
		   ORDER BY id LIMIT ?`+skipLocked+`)
		 RETURNING *`,
		owner, now+lease.Milliseconds(), DeliveryPending, now, now, limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("claiming signal deliveries: %w", err)
	}
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// MarkDelivered records a successful delivery made under owner's lease.
func (s *Store) MarkDelivered(ctx context.Context, id int64, owner string) error {
	return s.db.WithContext(ctx).Exec(
		`UPDATE signal_outbox SET state = ?, delivered_at_ms = ?, leased_until_ms = 0, last_error = ''
		 WHERE id = ? AND leased_by = ?`, DeliveryDelivered, time.Now().UnixMilli(), id, owner).Error
}

// MarkFailed records a failed attempt: the delivery is retried at next, or
// becomes dead when it has had maxAttempts attempts.
func (s *Store) MarkFailed(ctx context.Context, id int64, owner string, cause string, next time.Time, maxAttempts int) error {
	if len(cause) > 1000 {
		cause = cause[:1000]
	}
	return s.db.WithContext(ctx).Exec(
		`UPDATE signal_outbox SET attempts = attempts + 1, last_error = ?, leased_until_ms = 0,
		   next_attempt_at_ms = ?, state = CASE WHEN attempts + 1 >= ? THEN ? ELSE ? END
		 WHERE id = ? AND leased_by = ?`,
		cause, next.UnixMilli(), maxAttempts, DeliveryDead, DeliveryPending, id, owner).Error
}

// Release gives a claimed delivery back without counting an attempt, to be
// tried again at next (used when its subscriber just failed another
// delivery).
func (s *Store) Release(ctx context.Context, id int64, owner string, next time.Time) error {
	return s.db.WithContext(ctx).Exec(
		`UPDATE signal_outbox SET leased_until_ms = 0, next_attempt_at_ms = ? WHERE id = ? AND leased_by = ? AND state = ?`,
		next.UnixMilli(), id, owner, DeliveryPending).Error
}

// ListDeliveries returns deliveries in state (all states if empty), newest
// first, at most limit.
func (s *Store) ListDeliveries(ctx context.Context, state string, limit int) ([]Delivery, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if state != "" {
		q = q.Where("state = ?", state)
	}
	var rows []outboxRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing signal deliveries: %w", err)
	}
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}

// RetryDelivery puts a dead (or pending) delivery back in the queue with a
// fresh set of attempts; sdk.ErrNotFound if there is none, sdk.ErrConflict
// if it was already delivered.
func (s *Store) RetryDelivery(ctx context.Context, id int64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row outboxRow
		err := tx.Where("id = ?", id).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("signal delivery %d: %w", id, sdk.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if row.State == DeliveryDelivered {
			return fmt.Errorf("signal delivery %d was already delivered: %w", id, sdk.ErrConflict)
		}
		return tx.Exec(`UPDATE signal_outbox SET state = ?, attempts = 0, next_attempt_at_ms = ?, leased_until_ms = 0 WHERE id = ?`,
			DeliveryPending, time.Now().UnixMilli(), id).Error
	})
}

// PurgeDelivered deletes deliveries delivered before cutoff, at most limit.
func (s *Store) PurgeDelivered(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	res := s.db.WithContext(ctx).Exec(
		`DELETE FROM signal_outbox WHERE id IN (
		   SELECT id FROM signal_outbox WHERE state = ? AND delivered_at_ms < ? LIMIT ?)`,
		DeliveryDelivered, cutoff.UnixMilli(), limit)
	return res.RowsAffected, res.Error
}
