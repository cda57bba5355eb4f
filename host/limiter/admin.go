package limiter

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// The operations in this file work on a limiter backend's counters and
// access log without the rule or the plugin: the command line calls them on
// the database directly, and the admin API can call the same code.

// Counter is one counter, as listed.
type Counter struct {
	// Backend is the limiter backend the counter belongs to.
	Backend string
	// Group is the counter's fields, e.g. "ip_address+username".
	Group     string
	Username  string
	IPAddress string
	UserAgent string
	// Hashed is set when the values were too long to keep in the key; the
	// counter still works but its values cannot be shown.
	Hashed   bool
	Failures int64
	LockAt   int64
	// ExpiresAt is when the counter (and any lock) ends; zero: never.
	ExpiresAt time.Time
	// Locked is set when the next attempt would be refused.
	Locked bool
}

// List returns every live counter of backend, most failures first.
func List(ctx context.Context, store *storage.Store, backend string) ([]Counter, error) {
	return list(ctx, store.Attempts(backend), backend)
}

// list is List on a's counters (a may read another clock).
func list(ctx context.Context, a *storage.Attempts, backend string) ([]Counter, error) {
	states, err := a.Counters(ctx)
	if err != nil {
		return nil, err
	}
	var out []Counter
	for _, st := range states {
		if c, ok := counterOf(backend, st); ok {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Failures > out[j].Failures })
	return out, nil
}

// counterOf is the listing of backend's counter st; false for a key that
// is not a counter's.
func counterOf(backend string, st storage.CounterState) (Counter, bool) {
	pk, ok := parseCounterKey(st.Key)
	if !ok {
		return Counter{}, false
	}
	return Counter{
		Backend: backend, Group: pk.Group.name(), Username: pk.Values[attempts.FieldUsername],
		IPAddress: pk.Values[attempts.FieldIPAddress], UserAgent: pk.Values[attempts.FieldUserAgent],
		Hashed: pk.Values == nil, Failures: st.Failures, LockAt: st.LockAt, ExpiresAt: st.ExpiresAt, Locked: st.Locked(),
	}, true
}

// ListPage returns a page of the live counters of backends, all of them
// or only the locked ones, in the order of storage.QueryCounters (locked
// first, then most failures first), and how many there are in all. Only
// the page is read, however many counters there are.
func ListPage(ctx context.Context, store *storage.Store, backends []string, lockedOnly bool, page storage.Page) ([]Counter, int64, error) {
	states, total, err := store.QueryCounters(ctx, storage.CounterQuery{Namespaces: backends, LockedOnly: lockedOnly, Page: page})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Counter, 0, len(states))
	for _, st := range states {
		if c, ok := counterOf(st.Namespace, st.CounterState); ok {
			out = append(out, c)
		}
	}
	return out, total, nil
}

// Filter selects counters to reset. With both Username and IPAddress only
// counters keyed on both, with both values, match (the pair); with one,
// every counter whose group has that field with that value; All matches
// every counter. A username matches a counter's value as written or as any
// username normalization makes it (the rule is not at hand); an address
// matches the counter's address or the IPv6 prefix that holds it.
type Filter struct {
	Username  string
	IPAddress string
	All       bool
}

// ErrEmptyFilter is returned by Reset for a filter that names nothing: a
// reset never removes everything by accident.
var ErrEmptyFilter = errors.New("name an IP address, a username, or all")

// Reset removes backend's counters that f selects and returns how many.
func Reset(ctx context.Context, store *storage.Store, backend string, f Filter) (int, error) {
	return reset(ctx, store.Attempts(backend), f)
}

// reset is Reset on a's counters (a may read another clock).
func reset(ctx context.Context, a *storage.Attempts, f Filter) (int, error) {
	if !f.All && f.Username == "" && f.IPAddress == "" {
		return 0, ErrEmptyFilter
	}
	states, err := a.Counters(ctx)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, st := range states {
		pk, ok := parseCounterKey(st.Key)
		if !ok || !f.matches(pk) {
			continue
		}
		deleted, err := a.DeleteCounter(ctx, st.Key)
		if err != nil {
			return removed, err
		}
		if deleted {
			removed++
		}
	}
	return removed, nil
}

func (f Filter) matches(pk parsedKey) bool {
	if f.All {
		return true
	}
	if pk.Values == nil {
		return false // a hashed key's values are unknown; only all removes it
	}
	if f.Username != "" {
		v, ok := pk.Values[attempts.FieldUsername]
		if !ok || !usernameMatches(f.Username, v) {
			return false
		}
	}
	if f.IPAddress != "" {
		v, ok := pk.Values[attempts.FieldIPAddress]
		if !ok || !addressMatches(f.IPAddress, v) {
			return false
		}
	}
	return true
}

func usernameMatches(typed, v string) bool {
	for _, n := range []string{attempts.NormalizeNone, attempts.NormalizeLowercase, attempts.NormalizeCasefold} {
		norm, _ := normalizer(n)
		if norm(typed) == v {
			return true
		}
	}
	return false
}

// Prune removes access and access failure log records age old or older,
// of the backends named (every backend when none is), and returns how
// many.
func Prune(ctx context.Context, store *storage.Store, age time.Duration, now time.Time, backends ...string) (int64, error) {
	if age <= 0 {
		return 0, errors.New("the age must be positive")
	}
	return store.PruneAccessLog(ctx, now.Add(-age), backends...)
}

// ParseAge reads an age such as "30d", "12h" or "90m".
func ParseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("age %q: want a positive number of days such as 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("age %q: want a positive age such as 30d or 12h", s)
	}
	return d, nil
}
