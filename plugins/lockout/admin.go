package lockout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The operations in this file work on a lockout instance's storage from
// outside the plugin process: the command line calls them on the database
// directly, and an admin API can call the same code.

// Attempt is one lockout counter, as listed.
type Attempt struct {
	// Group is the lockout group, e.g. "ip_address+username".
	Group     string
	Username  string
	IPAddress string
	UserAgent string
	// Hashed is set when the values were too long to keep in the key; the
	// counter still works but its values cannot be shown.
	Hashed   bool
	Failures int64
	// ExpiresAt is when the counter (and any lock) ends; zero: never.
	ExpiresAt time.Time
	// Locked is set when the next attempt would be refused.
	Locked bool
}

// ListAttempts returns every live counter, most failures first.
func ListAttempts(ctx context.Context, st sdk.Storage, s *Settings) ([]Attempt, error) {
	var out []Attempt
	for _, prefix := range []string{prefixCounter, prefixHashed} {
		entries, err := st.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			pk, ok := parseCounterKey(e.Key)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(string(e.Value), 10, 64)
			if err != nil || n <= 0 {
				continue
			}
			out = append(out, Attempt{
				Group: pk.Group.Name(), Username: pk.Values[FieldUsername], IPAddress: pk.Values[FieldIPAddress],
				UserAgent: pk.Values[FieldUserAgent], Hashed: pk.Values == nil,
				Failures: n, ExpiresAt: e.ExpiresAt, Locked: s.LockOutAtFailure && n >= int64(s.FailureLimit),
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Failures > out[j].Failures })
	return out, nil
}

// Filter selects counters to reset. With both Username and IPAddress only
// counters keyed on both, with both values, match (the pair); with one, every
// counter whose group has that field with that value; All matches every
// counter.
type Filter struct {
	Username  string
	IPAddress string
	All       bool
}

// ErrEmptyFilter is returned by Reset for a filter that names nothing: a
// reset never removes everything by accident.
var ErrEmptyFilter = errors.New("name an IP address, a username, or all")

// Reset removes the counters f selects and returns how many.
func Reset(ctx context.Context, st sdk.Storage, s *Settings, f Filter) (int, error) {
	if !f.All && f.Username == "" && f.IPAddress == "" {
		return 0, ErrEmptyFilter
	}
	user := s.Normalize(f.Username)
	removed := 0
	for _, prefix := range []string{prefixCounter, prefixHashed} {
		entries, err := st.List(ctx, prefix)
		if err != nil {
			return removed, err
		}
		for _, e := range entries {
			pk, ok := parseCounterKey(e.Key)
			if !ok || !f.matches(pk, user) {
				continue
			}
			deleted, err := st.Delete(ctx, e.Key)
			if err != nil {
				return removed, err
			}
			// A counter given back to zero holds no attempt.
			if n, _ := strconv.ParseInt(string(e.Value), 10, 64); deleted && n > 0 {
				removed++
			}
		}
	}
	return removed, nil
}

func (f Filter) matches(pk parsedKey, user string) bool {
	if f.All {
		return true
	}
	if pk.Values == nil {
		return false // a hashed key's values are unknown; only --all removes it
	}
	check := func(field, want string) bool {
		if want == "" {
			return true
		}
		return pk.Group.Has(field) && pk.Values[field] == want
	}
	return check(FieldUsername, user) && check(FieldIPAddress, f.IPAddress)
}

// resetClient removes the counters of c's own groups (reset on success).
func (p *Plugin) resetClient(ctx context.Context, c Client) (int, error) {
	removed := 0
	for _, g := range p.settings.Groups {
		key, ok := counterKey(g, c)
		if !ok {
			continue
		}
		deleted, err := p.host.Storage().Delete(ctx, key)
		if err != nil {
			return removed, fmt.Errorf("resetting on success: %w", err)
		}
		if deleted {
			removed++
		}
	}
	return removed, nil
}

// Prune removes access and access failure log records older than age and
// returns how many.
func Prune(ctx context.Context, st sdk.Storage, age time.Duration, now time.Time) (int, error) {
	if age <= 0 {
		return 0, errors.New("the age must be positive")
	}
	cutoff := now.Add(-age)
	removed := 0
	for _, prefix := range []string{prefixAccess, prefixSession, prefixFailure} {
		entries, err := st.List(ctx, prefix)
		if err != nil {
			return removed, err
		}
		for _, e := range entries {
			t, ok := recordTime(e)
			if !ok || t.After(cutoff) {
				continue
			}
			if _, err := st.Delete(ctx, e.Key); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
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
