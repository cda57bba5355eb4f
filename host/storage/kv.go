package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Limits on plugin storage entries.
const (
	MaxKeyBytes   = 1024
	MaxValueBytes = 1 << 20
)

// kvRow is one plugin storage entry. A counter keeps its number in Num
// (Value is NULL); any other value keeps its bytes in Value (Num is NULL).
// Expiry is in unix milliseconds so that both drivers compare it as a
// number.
type kvRow struct {
	Namespace   string `gorm:"primaryKey;size:128"`
	Key         string `gorm:"primaryKey;size:1024"`
	Value       []byte
	Num         *int64
	ExpiresAtMS *int64 `gorm:"index"`
}

func (kvRow) TableName() string { return "plugin_kv" }

func (r kvRow) entry() sdk.Entry {
	e := sdk.Entry{Key: r.Key, Value: r.Value}
	if r.Num != nil {
		e.Value = []byte(strconv.FormatInt(*r.Num, 10))
	}
	if r.Value == nil && r.Num == nil {
		e.Value = []byte{}
	}
	if r.ExpiresAtMS != nil {
		e.ExpiresAt = time.UnixMilli(*r.ExpiresAtMS).UTC()
	}
	return e
}

// KV is the storage of one namespace (a plugin instance). It implements
// sdk.Storage.
type KV struct {
	store     *Store
	namespace string
	now       func() time.Time
}

// KV returns the storage of namespace.
func (s *Store) KV(namespace string) *KV {
	return &KV{store: s, namespace: namespace, now: time.Now}
}

// WithClock returns a copy of the KV that reads time from now (for tests).
func (kv *KV) WithClock(now func() time.Time) *KV {
	c := *kv
	c.now = now
	return &c
}

// checkKey refuses a key sdk.Storage does not allow. NUL is refused on
// every driver: PostgreSQL cannot store it in text, and SQLite's string
// functions stop at it.
func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyBytes || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: a key must be 1 to %d bytes of UTF-8 without NUL", sdk.ErrInvalidArgument, MaxKeyBytes)
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > MaxValueBytes {
		return fmt.Errorf("%w: a value must be at most %d bytes", sdk.ErrInvalidArgument, MaxValueBytes)
	}
	return nil
}

// expiry returns the expiry for ttl, or nil for none.
func (kv *KV) expiry(ttl time.Duration) *int64 {
	if ttl <= 0 {
		return nil
	}
	ms := kv.now().Add(ttl).UnixMilli()
	return &ms
}

func (kv *KV) nowMS() int64 { return kv.now().UnixMilli() }

// live is the condition for an entry that has not expired.
const live = "(expires_at_ms IS NULL OR expires_at_ms > ?)"

// Get implements sdk.Storage.
func (kv *KV) Get(ctx context.Context, key string) (sdk.Entry, error) {
	if err := checkKey(key); err != nil {
		return sdk.Entry{}, err
	}
	var row kvRow
	err := kv.store.db.WithContext(ctx).
		Where("namespace = ? AND key = ? AND "+live, kv.namespace, key, kv.nowMS()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return sdk.Entry{}, fmt.Errorf("key %q: %w", key, sdk.ErrNotFound)
	}
	if err != nil {
		return sdk.Entry{}, fmt.Errorf("storage get: %w", err)
	}
	return row.entry(), nil
}

// Put implements sdk.Storage.
func (kv *KV) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	err := kv.store.db.WithContext(ctx).Exec(
		`INSERT INTO plugin_kv (namespace, key, value, num, expires_at_ms) VALUES (?, ?, ?, NULL, ?)
		 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, num = NULL, expires_at_ms = excluded.expires_at_ms`,
		kv.namespace, key, value, kv.expiry(ttl)).Error
	if err != nil {
		return fmt.Errorf("storage put: %w", err)
	}
	return nil
}

// Delete implements sdk.Storage.
func (kv *KV) Delete(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	var deleted bool
	err := kv.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec("DELETE FROM plugin_kv WHERE namespace = ? AND key = ? AND "+live, kv.namespace, key, kv.nowMS())
		if res.Error != nil {
			return res.Error
		}
		deleted = res.RowsAffected > 0
		// An expired entry is gone as far as callers know; clear it too.
		return tx.Exec("DELETE FROM plugin_kv WHERE namespace = ? AND key = ?", kv.namespace, key).Error
	})
	if err != nil {
		return false, fmt.Errorf("storage delete: %w", err)
	}
	return deleted, nil
}

// List implements sdk.Storage. Keys are compared as bytes, whatever the
// database's collation.
func (kv *KV) List(ctx context.Context, prefix string) ([]sdk.Entry, error) {
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return nil, fmt.Errorf("prefix: %w", err)
		}
	}
	q := kv.store.db.WithContext(ctx).Where("namespace = ? AND "+live, kv.namespace, kv.nowMS())
	if prefix != "" {
		q = q.Where("substr(key, 1, ?) = ?", utf8.RuneCountInString(prefix), prefix)
	}
	var rows []kvRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("storage list: %w", err)
	}
	out := make([]sdk.Entry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Increment implements sdk.Storage in one statement, so concurrent
// increments from any number of hosts add up exactly.
func (kv *KV) Increment(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	return kv.increment(ctx, key, delta, ttl, false)
}

// IncrementWindow is Increment for the host's own counting (it is not part
// of sdk.Storage): ttl only starts the expiry of a counter it creates.
func (kv *KV) IncrementWindow(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	return kv.increment(ctx, key, delta, ttl, true)
}

func (kv *KV) increment(ctx context.Context, key string, delta int64, ttl time.Duration, onlyIfNew bool) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	keep := 0 // whether a live counter keeps its expiry whatever ttl says
	if onlyIfNew {
		keep = 1
	}
	now := kv.nowMS()
	exp := kv.expiry(ttl)
	var result sql.NullInt64
	err := kv.store.db.WithContext(ctx).Raw(
		`INSERT INTO plugin_kv (namespace, key, value, num, expires_at_ms) VALUES (?, ?, NULL, ?, ?)
		 ON CONFLICT (namespace, key) DO UPDATE SET
		   num = CASE
		     WHEN plugin_kv.expires_at_ms IS NOT NULL AND plugin_kv.expires_at_ms <= ? THEN excluded.num
		     WHEN plugin_kv.num IS NULL THEN NULL
		     ELSE plugin_kv.num + excluded.num END,
		   value = CASE
		     WHEN plugin_kv.expires_at_ms IS NOT NULL AND plugin_kv.expires_at_ms <= ? THEN NULL
		     ELSE plugin_kv.value END,
		   expires_at_ms = CASE
		     WHEN plugin_kv.num IS NULL AND (plugin_kv.expires_at_ms IS NULL OR plugin_kv.expires_at_ms > ?) THEN plugin_kv.expires_at_ms
		     WHEN excluded.expires_at_ms IS NOT NULL
		       AND (? = 0 OR (plugin_kv.expires_at_ms IS NOT NULL AND plugin_kv.expires_at_ms <= ?)) THEN excluded.expires_at_ms
		     WHEN plugin_kv.expires_at_ms IS NOT NULL AND plugin_kv.expires_at_ms <= ? THEN NULL
		     ELSE plugin_kv.expires_at_ms END
		 RETURNING num`,
		kv.namespace, key, delta, exp, now, now, now, keep, now, now).Scan(&result).Error
	if err != nil {
		return 0, fmt.Errorf("storage increment: %w", err)
	}
	if !result.Valid {
		return 0, fmt.Errorf("%w: key %q holds a value that is not a counter", sdk.ErrInvalidArgument, key)
	}
	return result.Int64, nil
}

// CompareAndSwap implements sdk.Storage. A nil oldValue swaps only if the
// key is absent (or expired).
func (kv *KV) CompareAndSwap(ctx context.Context, key string, oldValue, newValue []byte, ttl time.Duration) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	if err := checkValue(newValue); err != nil {
		return false, err
	}
	if newValue == nil {
		newValue = []byte{}
	}
	now := kv.nowMS()
	db := kv.store.db.WithContext(ctx)
	var res *gorm.DB
	if oldValue == nil {
		res = db.Exec(
			`INSERT INTO plugin_kv (namespace, key, value, num, expires_at_ms) VALUES (?, ?, ?, NULL, ?)
			 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, num = NULL, expires_at_ms = excluded.expires_at_ms
			 WHERE plugin_kv.expires_at_ms IS NOT NULL AND plugin_kv.expires_at_ms <= ?`,
			kv.namespace, key, newValue, kv.expiry(ttl), now)
	} else {
		// A counter swapped to a decimal as Increment writes it stays a
		// counter, so that Increment keeps working on it. Anything else,
		// "007" or "+7" too, is stored as it was given: it reads back as
		// written.
		var newNum *int64
		if n, err := strconv.ParseInt(string(newValue), 10, 64); err == nil && strconv.FormatInt(n, 10) == string(newValue) {
			newNum = &n
		}
		res = db.Exec(
			`UPDATE plugin_kv SET
			   value = CASE WHEN num IS NOT NULL AND CAST(? AS BIGINT) IS NOT NULL THEN NULL ELSE `+kv.store.blobParam()+` END,
			   num = CASE WHEN num IS NOT NULL THEN CAST(? AS BIGINT) ELSE NULL END,
			   expires_at_ms = ?
			 WHERE namespace = ? AND key = ? AND `+live+`
			   AND ((num IS NULL AND value = ?) OR (num IS NOT NULL AND CAST(num AS TEXT) = ?))`,
			newNum, newValue, newNum, kv.expiry(ttl), kv.namespace, key, now, oldValue, string(oldValue))
	}
	if res.Error != nil {
		return false, fmt.Errorf("storage compare-and-swap: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// blobParam is a bind parameter typed as binary where the database cannot
// infer it (a CASE branch on PostgreSQL).
func (s *Store) blobParam() string {
	if s.driver == Postgres {
		return "?::bytea" // not CAST(? ...): gorm would expand a []byte after "(" as a list
	}
	return "?"
}

// PurgeExpired deletes up to limit expired entries in every namespace and
// returns how many it removed.
func (s *Store) PurgeExpired(ctx context.Context, limit int) (int64, error) {
	now := time.Now().UnixMilli()
	res := s.db.WithContext(ctx).Exec(
		`DELETE FROM plugin_kv WHERE (namespace, key) IN (
		   SELECT namespace, key FROM plugin_kv WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ? LIMIT ?)`, now, limit)
	return res.RowsAffected, res.Error
}

// Interface guard.
var _ sdk.Storage = (*KV)(nil)
