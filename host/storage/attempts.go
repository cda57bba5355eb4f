package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Attempt counters are the host's durable record of failed logins for an
// attempt rule (package host/limiter): one row per counter, holding its
// counted failures and its expiry, and one row per attempt in flight on it
// (a reservation, with a lease). Counting has one owner, this file: every
// change to a counter is one statement or one transaction here, so
// concurrent attempts from any number of hosts sharing the database add up
// exactly.

// attemptRow is one counter. A counter with no failures exists only while
// attempts are in flight on it: its expiry is then their lease.
type attemptRow struct {
	Namespace string `gorm:"primaryKey;size:128"`
	Key       string `gorm:"primaryKey;size:1024"`
	Failures  int64  `gorm:"not null"`
	// LockAt is the failures at which the counter locks (0: never), as the
	// rule said when it was last written; listings show locks with it.
	LockAt      int64  `gorm:"not null"`
	ExpiresAtMS *int64 `gorm:"index"`
}

func (attemptRow) TableName() string { return "attempt_counters" }

// reservationRow is one attempt in flight on a counter.
type reservationRow struct {
	Namespace   string `gorm:"primaryKey;size:128"`
	Key         string `gorm:"primaryKey;size:1024"`
	ID          string `gorm:"primaryKey;size:64"`
	ExpiresAtMS int64  `gorm:"not null;index"`
}

func (reservationRow) TableName() string { return "attempt_reservations" }

// AttemptCounter is one counter of a login attempt, with its policy.
type AttemptCounter struct {
	Key string
	// LockAt is the number of failures at which the counter locks; 0 means
	// it never locks (failures are only counted).
	LockAt int64
	// ResetOnSuccess removes the counter when a login settles with
	// Settlement.Reset.
	ResetOnSuccess bool
	// Cooloffs say how long the counter lives once its count is n: the
	// Cooloff of the last step whose From is at most n, or of the first
	// step for a count below every From. Ascending by From; none, or a
	// Cooloff of 0, means the counter does not expire.
	Cooloffs []CooloffStep
}

// CooloffStep is one step of a counter's cool-off.
type CooloffStep struct {
	From    int64
	Cooloff time.Duration
}

// CooloffFor is how long the counter lives once its count is n (0: no
// expiry).
func (c AttemptCounter) CooloffFor(n int64) time.Duration {
	if len(c.Cooloffs) == 0 {
		return 0
	}
	d := c.Cooloffs[0].Cooloff
	for _, s := range c.Cooloffs {
		if n >= s.From {
			d = s.Cooloff
		}
	}
	return d
}

// CounterState is a counter as stored.
type CounterState struct {
	Key      string
	Failures int64
	LockAt   int64
	// ExpiresAt is zero for a counter that does not expire.
	ExpiresAt time.Time
}

// Locked reports whether the counter is at or past its lock.
func (c CounterState) Locked() bool { return c.LockAt > 0 && c.Failures >= c.LockAt }

// Admission is what Admit decided for an attempt.
type Admission int

// The admissions.
const (
	// Admitted: the attempt is reserved on every counter.
	Admitted Admission = iota + 1
	// Locked: a counter is at its lock; nothing was reserved.
	Locked
	// Busy: a counter's failures and attempts in flight together reach
	// its lock; nothing was reserved, and the attempt should wait.
	Busy
)

// Attempts is the attempt counters of one namespace (one limiter backend).
type Attempts struct {
	store     *Store
	namespace string
	now       func() time.Time
}

// Attempts returns the attempt counters of namespace.
func (s *Store) Attempts(namespace string) *Attempts {
	return &Attempts{store: s, namespace: namespace, now: time.Now}
}

// WithClock returns a copy that reads time from now (for tests).
func (a *Attempts) WithClock(now func() time.Time) *Attempts {
	c := *a
	c.now = now
	return &c
}

func (a *Attempts) nowMS() int64 { return a.now().UnixMilli() }

// expiryMS is the expiry of a counter whose count is n, or nil for none.
func (a *Attempts) expiryMS(c AttemptCounter, n int64) *int64 {
	d := c.CooloffFor(n)
	if d <= 0 {
		return nil
	}
	ms := a.now().Add(d).UnixMilli()
	return &ms
}

func stateOf(key string, failures, lockAt int64, exp sql.NullInt64) CounterState {
	st := CounterState{Key: key, Failures: failures, LockAt: lockAt}
	if exp.Valid {
		st.ExpiresAt = time.UnixMilli(exp.Int64).UTC()
	}
	return st
}

// RefuseIfLocked looks at counter c: if it is live and at or past its
// lock, it adds n refused attempts to it (n may be 0: only look), starts
// its cool-off again from now for the new count when n > 0, and returns its
// state with locked true. Otherwise it changes nothing and returns locked
// false. It is one statement, so concurrent callers on any host see a lock
// and count their refusals exactly.
func (a *Attempts) RefuseIfLocked(ctx context.Context, c AttemptCounter, n int64) (CounterState, bool, error) {
	if c.LockAt <= 0 {
		return CounterState{}, false, nil
	}
	now := a.nowMS()
	var rows *sql.Rows
	var err error
	db := a.store.db.WithContext(ctx)
	if n == 0 {
		rows, err = db.Raw(`SELECT failures, expires_at_ms FROM attempt_counters
			WHERE namespace = ? AND key = ? AND failures >= ? AND `+live,
			a.namespace, c.Key, c.LockAt, now).Rows()
	} else {
		// The expiry for the new count: the cool-off of the step it reaches.
		expiry, args := a.expiryCase(c, n)
		rows, err = db.Raw(`UPDATE attempt_counters SET failures = failures + ?, expires_at_ms = `+expiry+`
			WHERE namespace = ? AND key = ? AND failures >= ? AND `+live+`
			RETURNING failures, expires_at_ms`,
			append(append([]any{n}, args...), a.namespace, c.Key, c.LockAt, now)...).Rows()
	}
	if err != nil {
		return CounterState{}, false, fmt.Errorf("attempt counter: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return CounterState{}, false, rows.Err()
	}
	var failures int64
	var exp sql.NullInt64
	if err := rows.Scan(&failures, &exp); err != nil {
		return CounterState{}, false, fmt.Errorf("attempt counter: %w", err)
	}
	// The statement is run to its end, not only closed: SQLite checkpoints
	// its write-ahead log when a statement finishes, and a statement that
	// commits on Close never does, so under a flood of refusals the log
	// would grow without bound (TestRefusalsKeepTheLogBounded).
	for rows.Next() {
	}
	return stateOf(c.Key, failures, c.LockAt, exp), true, rows.Err()
}

// LockedAmong reads counters in one statement, so that their states are of
// one moment, and returns which are live and at or past their lock (a nil
// element for each that is not). It changes nothing.
func (a *Attempts) LockedAmong(ctx context.Context, counters []AttemptCounter) ([]*CounterState, error) {
	keys := make([]any, 0, len(counters))
	for _, c := range counters {
		if c.LockAt > 0 {
			keys = append(keys, c.Key)
		}
	}
	out := make([]*CounterState, len(counters))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := a.store.db.WithContext(ctx).Raw(`SELECT key, failures, expires_at_ms FROM attempt_counters
		WHERE namespace = ? AND key IN ? AND `+live,
		a.namespace, keys, a.nowMS()).Rows()
	if err != nil {
		return nil, fmt.Errorf("attempt counter: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var failures int64
		var exp sql.NullInt64
		if err := rows.Scan(&key, &failures, &exp); err != nil {
			return nil, fmt.Errorf("attempt counter: %w", err)
		}
		for i, c := range counters {
			if c.Key == key && c.LockAt > 0 && failures >= c.LockAt {
				st := stateOf(key, failures, c.LockAt, exp)
				out[i] = &st
			}
		}
	}
	return out, rows.Err()
}

// expiryCase is a SQL expression (and its arguments) for the expiry of a
// locked counter after n more failures: the cool-off of the step its new
// count reaches.
func (a *Attempts) expiryCase(c AttemptCounter, n int64) (string, []any) {
	var steps []CooloffStep
	for _, s := range c.Cooloffs {
		if s.From > c.LockAt {
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return "?", []any{a.expiryMS(c, c.LockAt)}
	}
	// The branches' parameters are cast: PostgreSQL cannot infer their type
	// inside a CASE and would take them for text.
	var b strings.Builder
	var args []any
	b.WriteString("CASE")
	for i := len(steps) - 1; i >= 0; i-- {
		b.WriteString(" WHEN failures + ? >= ? THEN CAST(? AS BIGINT)")
		args = append(args, n, steps[i].From, a.expiryMS(c, steps[i].From))
	}
	b.WriteString(" ELSE CAST(? AS BIGINT) END")
	args = append(args, a.expiryMS(c, c.LockAt))
	return b.String(), args
}

// Admit reserves one attempt, under id, on every counter, with a lease:
// unless a counter is locked (Locked; told before Busy) or its failures
// and attempts in flight already reach its lock (Busy), in which case
// nothing is reserved.
// Counters that never lock are not reserved on. It is one transaction,
// taking the counters in key order, so that concurrent admissions on any
// host see each other.
func (a *Attempts) Admit(ctx context.Context, counters []AttemptCounter, id string, lease time.Duration) (Admission, CounterState, error) {
	locking := make([]AttemptCounter, 0, len(counters))
	for _, c := range counters {
		if c.LockAt > 0 {
			locking = append(locking, c)
		}
	}
	if len(locking) == 0 {
		return Admitted, CounterState{}, nil
	}
	slices.SortFunc(locking, func(x, y AttemptCounter) int { return strings.Compare(x.Key, y.Key) })
	now := a.nowMS()
	leaseEnd := a.now().Add(lease).UnixMilli()
	verdict, at := Admitted, CounterState{}
	ctx, end := a.store.callSpan(ctx, "admit_attempt")
	// Three statements, whatever the number of counters: a statement costs
	// more to run through the driver than to execute, and a login's
	// admission used to take three per counter.
	err := a.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		stored, err := a.upsertCounters(tx, locking, leaseEnd, now)
		if err != nil {
			return err
		}
		inFlight, err := a.inFlight(tx, locking, now)
		if err != nil {
			return err
		}
		// A counter locked is told before one busy: the attempt is
		// refused at once rather than waiting for room it cannot use.
		for _, c := range locking {
			if st := stored[c.Key]; st.Failures >= c.LockAt {
				verdict, at = Locked, st
				return errStop
			}
		}
		for _, c := range locking {
			if st := stored[c.Key]; st.Failures+inFlight[c.Key] >= c.LockAt {
				verdict, at = Busy, st
				return errStop
			}
		}
		values := strings.Repeat(", (?, ?, ?, ?)", len(locking))[2:]
		args := make([]any, 0, 4*len(locking))
		for _, c := range locking {
			args = append(args, a.namespace, c.Key, id, leaseEnd)
		}
		return tx.Exec(`INSERT INTO attempt_reservations (namespace, key, id, expires_at_ms) VALUES `+values, args...).Error
	})
	if errors.Is(err, errStop) {
		end(nil)
		return verdict, at, nil
	}
	end(err)
	if err != nil {
		return 0, CounterState{}, fmt.Errorf("attempt admission: %w", err)
	}
	return Admitted, CounterState{}, nil
}

// Look is Admit without reserving or locking anything: what Admit would
// decide now, read in one query per counter. An attempt waiting for room
// looks before it tries to admit, so that waiting costs no write.
func (a *Attempts) Look(ctx context.Context, counters []AttemptCounter) (Admission, CounterState, error) {
	now := a.nowMS()
	verdict, busy := Admitted, CounterState{}
	for _, c := range counters {
		if c.LockAt <= 0 {
			continue
		}
		var failures, inFlight int64
		var exp sql.NullInt64
		err := a.store.db.WithContext(ctx).Raw(`SELECT
			  COALESCE((SELECT failures FROM attempt_counters WHERE namespace = ? AND key = ? AND `+live+`), 0),
			  (SELECT expires_at_ms FROM attempt_counters WHERE namespace = ? AND key = ? AND `+live+`),
			  (SELECT COUNT(*) FROM attempt_reservations WHERE namespace = ? AND key = ? AND expires_at_ms > ?)`,
			a.namespace, c.Key, now, a.namespace, c.Key, now, a.namespace, c.Key, now).Row().Scan(&failures, &exp, &inFlight)
		if err != nil {
			return 0, CounterState{}, fmt.Errorf("attempt counter: %w", err)
		}
		switch {
		case failures >= c.LockAt:
			return Locked, stateOf(c.Key, failures, c.LockAt, exp), nil
		case failures+inFlight >= c.LockAt && verdict == Admitted:
			verdict, busy = Busy, stateOf(c.Key, failures, c.LockAt, exp)
		}
	}
	return verdict, busy, nil
}

// upsertCounters creates the counters (sorted by key) that do not exist
// yet and takes their row locks (on PostgreSQL) until the end of the
// transaction, in key order, in one statement, and returns them as they
// now are, by key. An expired counter starts again from zero; one with no
// failures lives as long as the attempts in flight on it (leaseEnd).
func (a *Attempts) upsertCounters(tx *gorm.DB, counters []AttemptCounter, leaseEnd, now int64) (map[string]CounterState, error) {
	values := strings.Repeat(", (?, ?, 0, ?, ?)", len(counters))[2:]
	args := make([]any, 0, 4*len(counters)+2)
	for _, c := range counters {
		args = append(args, a.namespace, c.Key, c.LockAt, leaseEnd)
	}
	rows, err := tx.Raw(`INSERT INTO attempt_counters (namespace, key, failures, lock_at, expires_at_ms) VALUES `+values+`
		ON CONFLICT (namespace, key) DO UPDATE SET
		  failures = CASE WHEN attempt_counters.expires_at_ms IS NOT NULL AND attempt_counters.expires_at_ms <= ? THEN 0 ELSE attempt_counters.failures END,
		  expires_at_ms = CASE
		    WHEN attempt_counters.expires_at_ms IS NOT NULL AND attempt_counters.expires_at_ms <= ? THEN excluded.expires_at_ms
		    WHEN attempt_counters.failures = 0 AND attempt_counters.expires_at_ms IS NOT NULL AND attempt_counters.expires_at_ms < excluded.expires_at_ms THEN excluded.expires_at_ms
		    ELSE attempt_counters.expires_at_ms END,
		  lock_at = excluded.lock_at
		RETURNING key, failures, lock_at, expires_at_ms`, append(args, now, now)...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]CounterState, len(counters))
	for rows.Next() {
		var key string
		var failures, lockAt int64
		var exp sql.NullInt64
		if err := rows.Scan(&key, &failures, &lockAt, &exp); err != nil {
			return nil, err
		}
		out[key] = stateOf(key, failures, lockAt, exp)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != len(counters) {
		return nil, fmt.Errorf("%d of %d attempt counters written", len(out), len(counters))
	}
	return out, nil
}

// inFlight counts the live reservations on each of counters, by key (a
// counter with none is absent).
func (a *Attempts) inFlight(tx *gorm.DB, counters []AttemptCounter, now int64) (map[string]int64, error) {
	keys := make([]any, len(counters))
	for i, c := range counters {
		keys[i] = c.Key
	}
	rows, err := tx.Raw(`SELECT key, COUNT(*) FROM attempt_reservations
		WHERE namespace = ? AND key IN ? AND expires_at_ms > ? GROUP BY key`, a.namespace, keys, now).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]int64, len(counters))
	for rows.Next() {
		var key string
		var n int64
		if err := rows.Scan(&key, &n); err != nil {
			return nil, err
		}
		out[key] = n
	}
	return out, rows.Err()
}

// errStop rolls a transaction back without it being a failure.
var errStop = errors.New("stop")

// Settlement is how an admitted attempt ended.
type Settlement struct {
	// ID is the attempt's reservation id.
	ID string
	// Failed counts the attempt as a failure on every counter.
	Failed bool
	// Reset removes the counters whose ResetOnSuccess is set (a success).
	Reset bool
	// Record, if set, is written to the access log in the same
	// transaction; FailureLogLimit then bounds a username's failure
	// records (oldest dropped).
	Record          *AccessRecord
	FailureLogLimit int
}

// Settle ends an admitted attempt in one transaction: it removes its
// reservations, counts the failure (each counter's cool-off starts again
// from now, for its new count) or resets the counters, and writes the
// access record. It returns the counters' states after a failure.
func (a *Attempts) Settle(ctx context.Context, counters []AttemptCounter, s Settlement) ([]CounterState, error) {
	var states []CounterState
	ctx, end := a.store.callSpan(ctx, "settle_attempt")
	err := a.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		states, err = a.settle(tx, counters, s)
		return err
	})
	end(err)
	if err != nil {
		return nil, fmt.Errorf("settling an attempt: %w", err)
	}
	return states, nil
}

// SettleIn is Settle made part of tx, a transaction that creates a session
// (a SessionWrite): the login's session and its settlement are then one
// commit.
func (a *Attempts) SettleIn(tx *Tx, counters []AttemptCounter, s Settlement) error {
	if _, err := a.settle(tx.db, counters, s); err != nil {
		return fmt.Errorf("settling an attempt: %w", err)
	}
	return nil
}

// settle is Settle's work, inside tx.
func (a *Attempts) settle(tx *gorm.DB, counters []AttemptCounter, s Settlement) ([]CounterState, error) {
	sorted := slices.Clone(counters)
	slices.SortFunc(sorted, func(x, y AttemptCounter) int { return strings.Compare(x.Key, y.Key) })
	now := a.nowMS()
	var states []CounterState
	// The attempt's reservations, and on a success the counters that
	// reset, each go in one statement.
	var reserved, reset []any
	for _, c := range sorted {
		if c.LockAt > 0 {
			reserved = append(reserved, c.Key)
		}
		if s.Reset && c.ResetOnSuccess {
			reset = append(reset, c.Key)
		}
	}
	if len(reserved) > 0 {
		if err := tx.Exec(`DELETE FROM attempt_reservations WHERE namespace = ? AND id = ? AND key IN ?`,
			a.namespace, s.ID, reserved).Error; err != nil {
			return nil, err
		}
	}
	if len(reset) > 0 {
		if err := tx.Exec(`DELETE FROM attempt_counters WHERE namespace = ? AND key IN ? AND failures > 0`,
			a.namespace, reset).Error; err != nil {
			return nil, err
		}
	}
	for _, c := range sorted {
		if !s.Failed || (s.Reset && c.ResetOnSuccess) {
			continue
		}
		var failures int64
		if err := tx.Raw(`INSERT INTO attempt_counters (namespace, key, failures, lock_at, expires_at_ms) VALUES (?, ?, 1, ?, NULL)
			ON CONFLICT (namespace, key) DO UPDATE SET
			  failures = CASE WHEN attempt_counters.expires_at_ms IS NOT NULL AND attempt_counters.expires_at_ms <= ? THEN 1 ELSE attempt_counters.failures + 1 END,
			  lock_at = excluded.lock_at
			RETURNING failures`, a.namespace, c.Key, c.LockAt, now).Row().Scan(&failures); err != nil {
			return nil, err
		}
		exp := a.expiryMS(c, failures)
		if err := tx.Exec(`UPDATE attempt_counters SET expires_at_ms = ? WHERE namespace = ? AND key = ?`,
			exp, a.namespace, c.Key).Error; err != nil {
			return nil, err
		}
		st := CounterState{Key: c.Key, Failures: failures, LockAt: c.LockAt}
		if exp != nil {
			st.ExpiresAt = time.UnixMilli(*exp).UTC()
		}
		states = append(states, st)
	}
	if s.Record != nil {
		if err := a.store.writeAccess(tx, a.namespace, *s.Record, s.FailureLogLimit); err != nil {
			return nil, err
		}
	}
	return states, nil
}

// Release gives back an attempt's reservations without counting it: Settle
// with only the id.
func (a *Attempts) Release(ctx context.Context, counters []AttemptCounter, id string) error {
	_, err := a.Settle(ctx, counters, Settlement{ID: id})
	return err
}

// Counters returns every live counter with at least one failure, in key
// order.
func (a *Attempts) Counters(ctx context.Context) ([]CounterState, error) {
	var rows []attemptRow
	err := a.store.db.WithContext(ctx).
		Where("namespace = ? AND failures > 0 AND "+live, a.namespace, a.nowMS()).
		Order("key").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("listing attempt counters: %w", err)
	}
	out := make([]CounterState, len(rows))
	for i, r := range rows {
		out[i] = CounterState{Key: r.Key, Failures: r.Failures, LockAt: r.LockAt}
		if r.ExpiresAtMS != nil {
			out[i].ExpiresAt = time.UnixMilli(*r.ExpiresAtMS).UTC()
		}
	}
	return out, nil
}

// DeleteCounter removes a counter's failures and reports whether it had
// any (live). Attempts in flight on it stay reserved.
func (a *Attempts) DeleteCounter(ctx context.Context, key string) (bool, error) {
	res := a.store.db.WithContext(ctx).Exec(
		`DELETE FROM attempt_counters WHERE namespace = ? AND key = ? AND failures > 0 AND `+live,
		a.namespace, key, a.nowMS())
	if res.Error != nil {
		return false, fmt.Errorf("resetting an attempt counter: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// AttemptNamespaces returns the namespaces that hold counters or access
// records, sorted.
func (s *Store) AttemptNamespaces(ctx context.Context) ([]string, error) {
	var names []string
	err := s.db.WithContext(ctx).Raw(
		`SELECT namespace FROM attempt_counters UNION SELECT backend FROM access_log ORDER BY 1`).Scan(&names).Error
	if err != nil {
		return nil, fmt.Errorf("listing attempt namespaces: %w", err)
	}
	return names, nil
}

// PurgeAttempts deletes up to limit expired counters and reservations and
// returns how many.
func (s *Store) PurgeAttempts(ctx context.Context, limit int) (int64, error) {
	now := time.Now().UnixMilli()
	var total int64
	for _, q := range []string{
		`DELETE FROM attempt_counters WHERE (namespace, key) IN (
		   SELECT namespace, key FROM attempt_counters WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ? LIMIT ?)`,
		`DELETE FROM attempt_reservations WHERE (namespace, key, id) IN (
		   SELECT namespace, key, id FROM attempt_reservations WHERE expires_at_ms <= ? LIMIT ?)`,
	} {
		res := s.db.WithContext(ctx).Exec(q, now, limit)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
	}
	return total, nil
}
