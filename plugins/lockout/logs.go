package lockout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/sdk"
)

// AccessRecord is one successful login in the access log.
type AccessRecord struct {
	Username   string    `json:"username"`
	IPAddress  string    `json:"ip_address"`
	UserAgent  string    `json:"user_agent"`
	SessionID  string    `json:"session_id"`
	Time       time.Time `json:"time"`
	LogoutTime time.Time `json:"logout_time,omitzero"`
}

// FailureRecord is one failed login in the access failure log.
type FailureRecord struct {
	Username  string    `json:"username"`
	IPAddress string    `json:"ip_address"`
	UserAgent string    `json:"user_agent"`
	LockedOut bool      `json:"locked_out"`
	Time      time.Time `json:"time"`
}

const (
	// prefixAccess keys access records without a session, by time.
	prefixAccess = "a|"
	// prefixSession keys access records by session id.
	prefixSession = "as|"
	prefixFailure = "x|"
)

// logSeq orders records written in the same millisecond by this process.
var logSeq atomic.Uint64

// timeKey is a sortable fixed-width timestamp for keys: unix milliseconds,
// then a sequence number, so that records of one millisecond sort in the
// order they were written.
func timeKey(t time.Time) string {
	return fmt.Sprintf("%016d%08d", t.UnixMilli(), logSeq.Add(1)%100_000_000)
}

func (p *Plugin) logAccess(ctx context.Context, c Client, sessionID string) error {
	now := p.now().UTC()
	// A record with a session is kept under the session's id, so that the
	// logout finds it with one read; one write either way.
	key := prefixAccess + timeKey(now) + "|" + uuid.NewString()
	if sessionID != "" {
		key = prefixSession + sessionID
	}
	rec, _ := json.Marshal(AccessRecord{Username: c.Username, IPAddress: c.IPAddress, UserAgent: c.UserAgent, SessionID: sessionID, Time: now})
	if err := p.host.Storage().Put(ctx, key, rec, 0); err != nil {
		return fmt.Errorf("writing the access log: %w", err)
	}
	return nil
}

// logLogout stamps the logout time on the session's access record.
func (p *Plugin) logLogout(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	st := p.host.Storage()
	e, err := st.Get(ctx, prefixSession+sessionID)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec AccessRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		// Not a record (an entry from before records were kept by
		// session): nothing to stamp.
		p.log.Debug("lockout: no access record for a session", "error", err)
		return nil
	}
	if !rec.LogoutTime.IsZero() {
		return nil
	}
	rec.LogoutTime = p.now().UTC()
	raw, _ := json.Marshal(rec)
	_, err = st.CompareAndSwap(ctx, e.Key, e.Value, raw, 0)
	return err
}

// logFailure appends to the access failure log and drops the user's oldest
// records beyond the per-user limit.
func (p *Plugin) logFailure(ctx context.Context, c Client, lockedOut bool) error {
	now := p.now().UTC()
	userPrefix := prefixFailure + escaper.Replace(c.Username) + "|"
	rec, _ := json.Marshal(FailureRecord{Username: c.Username, IPAddress: c.IPAddress, UserAgent: c.UserAgent, LockedOut: lockedOut, Time: now})
	st := p.host.Storage()
	if err := st.Put(ctx, userPrefix+timeKey(now)+"|"+uuid.NewString(), rec, 0); err != nil {
		return fmt.Errorf("writing the access failure log: %w", err)
	}
	entries, err := st.List(ctx, userPrefix)
	if err != nil {
		return err
	}
	// Keys sort by time: the oldest come first.
	for i := 0; i < len(entries)-p.settings.FailureLogLimit; i++ {
		if _, err := st.Delete(ctx, entries[i].Key); err != nil {
			return err
		}
	}
	return nil
}

// recordTime is when a log record was written: from its key, or for a
// record kept by session, from the record.
func recordTime(e sdk.Entry) (time.Time, bool) {
	if strings.HasPrefix(e.Key, prefixSession) {
		var rec AccessRecord
		if err := json.Unmarshal(e.Value, &rec); err != nil || rec.Time.IsZero() {
			return time.Time{}, false
		}
		return rec.Time, true
	}
	return logTime(e.Key)
}

// logTime reads the time out of a log key.
func logTime(key string) (time.Time, bool) {
	var ts string
	switch {
	case strings.HasPrefix(key, prefixAccess):
		ts, _, _ = strings.Cut(key[len(prefixAccess):], "|")
	case strings.HasPrefix(key, prefixFailure):
		parts := strings.Split(key, "|")
		if len(parts) != 4 {
			return time.Time{}, false
		}
		ts = parts[2]
	default:
		return time.Time{}, false
	}
	if len(ts) < 16 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(ts[:16], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}
