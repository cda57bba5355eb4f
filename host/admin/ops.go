package admin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// --- roles ---

// Roles returns every role with its permissions and member count.
func (s *Service) Roles(ctx context.Context) ([]storage.Role, error) {
	return s.opts.Store.ListRoles(ctx)
}

// CreateRole adds a role.
func (s *Service) CreateRole(ctx context.Context, c Caller, name string) (storage.Role, error) {
	r, err := s.opts.Store.CreateRole(ctx, name)
	if err == nil {
		s.audit(ctx, c, "role_created", name, nil)
	}
	return r, err
}

// DeleteRole removes a role, its grants and its memberships.
func (s *Service) DeleteRole(ctx context.Context, c Caller, name string) error {
	err := s.opts.Store.DeleteRole(ctx, name)
	if err == nil {
		s.audit(ctx, c, "role_deleted", name, nil)
	}
	return err
}

// GrantPermissions adds permissions to a role; it returns how many were
// new.
func (s *Service) GrantPermissions(ctx context.Context, c Caller, role string, perms []string) (int, error) {
	if len(perms) == 0 {
		return 0, fmt.Errorf("name at least one permission: %w", sdk.ErrInvalidArgument)
	}
	n, err := s.opts.Store.GrantPermissions(ctx, role, perms...)
	if err == nil {
		s.audit(ctx, c, "role_permissions_granted", role, map[string]any{"permissions": perms, "added": n})
	}
	return n, err
}

// RevokePermissions removes permissions from a role; it returns how many
// the role held.
func (s *Service) RevokePermissions(ctx context.Context, c Caller, role string, perms []string) (int, error) {
	if len(perms) == 0 {
		return 0, fmt.Errorf("name at least one permission: %w", sdk.ErrInvalidArgument)
	}
	n, err := s.opts.Store.RevokePermissions(ctx, role, perms...)
	if err == nil {
		s.audit(ctx, c, "role_permissions_revoked", role, map[string]any{"permissions": perms, "removed": n})
	}
	return n, err
}

// --- lockouts ---

// Counter is a lockout counter as admins see it.
type Counter struct {
	Backend   string    `json:"backend"`
	Group     string    `json:"group"`
	Username  string    `json:"username,omitempty"`
	IPAddress string    `json:"ip_address,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Hashed    bool      `json:"hashed,omitempty"`
	Failures  int64     `json:"failures"`
	LockAt    int64     `json:"lock_at"`
	Locked    bool      `json:"locked"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// LockoutQuery filters lockout counters.
type LockoutQuery struct {
	// Backend keeps one backend's counters (its twin's too: "lockout"
	// and "lockout@admin"); all if empty.
	Backend string
	// Username and IPAddress keep counters with that value.
	Username, IPAddress string
	// LockedOnly keeps the counters that refuse the next attempt.
	LockedOnly bool
	storage.Page
}

// LockoutBackends returns the limiter backends whose counters admins see:
// each configured one and its admin twin.
func (s *Service) LockoutBackends() []string {
	var out []string
	for _, b := range s.opts.LockoutBackends {
		out = append(out, b, b+TwinSuffix)
	}
	return out
}

func (s *Service) backends(only string) ([]string, error) {
	all := s.LockoutBackends()
	if only == "" {
		return all, nil
	}
	if !slices.Contains(all, only) {
		return nil, fmt.Errorf("no lockout backend named %q (there are: %s): %w", only, strings.Join(all, ", "), sdk.ErrInvalidArgument)
	}
	return []string{only}, nil
}

// Lockouts returns a page of the counters q selects: locked ones first,
// then by failures.
func (s *Service) Lockouts(ctx context.Context, q LockoutQuery) (PageOf[Counter], error) {
	q.Page = page(q.Page)
	backends, err := s.backends(q.Backend)
	if err != nil {
		return PageOf[Counter]{}, err
	}
	name := q.Username
	if c, err := usernames.Canonical(name); err == nil {
		name = c
	}
	if name == "" && q.IPAddress == "" {
		// No value to match: the database orders and pages the counters
		// (ties by backend and key), and only the page is read.
		counters, total, err := limiter.ListPage(ctx, s.opts.Store, backends, q.LockedOnly, q.Page)
		if err != nil {
			return PageOf[Counter]{}, err
		}
		out := PageOf[Counter]{Items: make([]Counter, len(counters)), Total: total, Offset: q.Offset, Limit: q.Limit}
		for i, c := range counters {
			out.Items[i] = counterView(c)
		}
		return out, nil
	}
	var all []Counter
	for _, b := range backends {
		counters, err := limiter.List(ctx, s.opts.Store, b)
		if err != nil {
			return PageOf[Counter]{}, err
		}
		for _, c := range counters {
			if (q.LockedOnly && !c.Locked) || (name != "" && !strings.EqualFold(c.Username, name)) ||
				(q.IPAddress != "" && c.IPAddress != q.IPAddress) {
				continue
			}
			all = append(all, counterView(c))
		}
	}
	slices.SortStableFunc(all, func(a, b Counter) int {
		switch {
		case a.Locked != b.Locked:
			if a.Locked {
				return -1
			}
			return 1
		case a.Failures != b.Failures:
			return int(b.Failures - a.Failures)
		}
		return strings.Compare(a.Username+"\x00"+a.IPAddress, b.Username+"\x00"+b.IPAddress)
	})
	out := PageOf[Counter]{Items: []Counter{}, Total: int64(len(all)), Offset: q.Offset, Limit: q.Limit}
	if q.Offset < len(all) {
		out.Items = all[q.Offset:min(q.Offset+q.Limit, len(all))]
	}
	return out, nil
}

func counterView(c limiter.Counter) Counter {
	return Counter{Backend: c.Backend, Group: c.Group, Username: c.Username, IPAddress: c.IPAddress,
		UserAgent: c.UserAgent, Hashed: c.Hashed, Failures: c.Failures, LockAt: c.LockAt, Locked: c.Locked, ExpiresAt: c.ExpiresAt}
}

// ResetLockouts removes the counters f selects, of one backend (and its
// twin) or of all, and returns how many it removed.
func (s *Service) ResetLockouts(ctx context.Context, c Caller, backend string, f limiter.Filter) (int, error) {
	if !f.All && f.Username == "" && f.IPAddress == "" {
		return 0, fmt.Errorf("%s: %w", limiter.ErrEmptyFilter, sdk.ErrInvalidArgument)
	}
	if f.All && (f.Username != "" || f.IPAddress != "") {
		return 0, fmt.Errorf("all cannot be combined with an IP address or a username: %w", sdk.ErrInvalidArgument)
	}
	if f.Username != "" {
		if canonical, err := usernames.Canonical(f.Username); err == nil {
			f.Username = canonical
		}
	}
	backends, err := s.backends(backend)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, b := range backends {
		n, err := limiter.Reset(ctx, s.opts.Store, b, f)
		if err != nil {
			return removed, err
		}
		removed += n
		if n > 0 {
			s.opts.Signals.Emit(ctx, b, &signals.LockoutReset{Backend: b, Admin: c.Username, Username: f.Username, ClientIP: f.IPAddress, All: f.All, Removed: n})
		}
	}
	s.audit(ctx, c, "lockout_reset", backend, map[string]any{"username": f.Username, "ip_address": f.IPAddress, "all": f.All, "removed": removed})
	return removed, nil
}

// AccessRecord is an access-log record as admins see it.
type AccessRecord struct {
	Backend    string    `json:"backend"`
	Failed     bool      `json:"failed"`
	LockedOut  bool      `json:"locked_out"`
	Username   string    `json:"username"`
	IPAddress  string    `json:"ip_address"`
	UserAgent  string    `json:"user_agent"`
	SessionID  string    `json:"session_id,omitempty"`
	Time       time.Time `json:"time"`
	LogoutTime time.Time `json:"logout_time,omitzero"`
}

// AccessLog returns a page of the access records q selects (of the
// lockout backends and their twins), newest first.
func (s *Service) AccessLog(ctx context.Context, q storage.AccessQuery) (PageOf[AccessRecord], error) {
	q.Page = page(q.Page)
	if len(q.Backends) == 0 {
		q.Backends = s.LockoutBackends()
	}
	for _, b := range q.Backends {
		if _, err := s.backends(b); err != nil {
			return PageOf[AccessRecord]{}, err
		}
	}
	recs, total, err := s.opts.Store.QueryAccessLog(ctx, q)
	if err != nil {
		return PageOf[AccessRecord]{}, err
	}
	out := PageOf[AccessRecord]{Items: make([]AccessRecord, len(recs)), Total: total, Offset: q.Offset, Limit: q.Limit}
	for i, r := range recs {
		out.Items[i] = AccessRecord{Backend: r.Backend, Failed: r.Failed, LockedOut: r.LockedOut, Username: r.Username,
			IPAddress: r.IPAddress, UserAgent: r.UserAgent, SessionID: r.SessionID, Time: r.Time, LogoutTime: r.LogoutTime}
	}
	return out, nil
}

// --- plugins ---

// Plugin is a plugin process's state.
type Plugin struct {
	Name      string `json:"name"`
	Plugin    string `json:"plugin"`
	State     string `json:"state"`
	PID       int    `json:"pid,omitempty"`
	Restarts  int    `json:"restarts"`
	Version   string `json:"version,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// Plugins returns every plugin's state.
func (s *Service) Plugins() []Plugin {
	out := []Plugin{}
	if s.opts.Plugins == nil {
		return out
	}
	for _, st := range s.opts.Plugins() {
		out = append(out, Plugin{Name: st.Name, Plugin: st.Plugin, State: string(st.State), PID: st.PID, Restarts: st.Restarts,
			Version: st.Info.Version, LastError: st.LastError})
	}
	return out
}

// --- signal deliveries ---

// Delivery is a signal delivery as admins see it.
type Delivery struct {
	ID            int64     `json:"id"`
	SignalID      string    `json:"signal_id"`
	Signal        string    `json:"signal"`
	Sender        string    `json:"sender"`
	Subscriber    string    `json:"subscriber"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	Time          time.Time `json:"time"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}

// Deliveries returns the newest deliveries in state (all if empty), at
// most limit.
func (s *Service) Deliveries(ctx context.Context, state string, limit int) ([]Delivery, error) {
	switch state {
	case "", storage.DeliveryPending, storage.DeliveryDelivered, storage.DeliveryDead:
	default:
		return nil, fmt.Errorf("state must be pending, delivered or dead: %w", sdk.ErrInvalidArgument)
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	ds, err := s.opts.Store.ListDeliveries(ctx, state, min(limit, storage.MaxPage))
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, len(ds))
	for i, d := range ds {
		out[i] = Delivery{ID: d.ID, SignalID: d.SignalID, Signal: d.Name, Sender: d.Sender, Subscriber: d.Subscriber, State: d.State,
			Attempts: d.Attempts, Time: d.Time, LastError: d.LastError}
		if d.State == storage.DeliveryPending {
			out[i].NextAttemptAt = d.NextAttemptAt
		}
	}
	return out, nil
}

// RetryDelivery puts a dead delivery back in the queue.
func (s *Service) RetryDelivery(ctx context.Context, c Caller, id int64) error {
	err := s.opts.Store.RetryDelivery(ctx, id)
	if err == nil {
		s.audit(ctx, c, "delivery_retried", strconv.FormatInt(id, 10), nil)
	}
	return err
}

// --- overview ---

// Overview is the first page's summary.
type Overview struct {
	Plugins []Plugin `json:"plugins"`
	// Logins and Failures count the last hour's access records of the
	// lockout backends (users' logins; admins' are in AdminLogins and
	// AdminFailures).
	Logins        int64 `json:"logins_last_hour"`
	Failures      int64 `json:"failures_last_hour"`
	AdminLogins   int64 `json:"admin_logins_last_hour"`
	AdminFailures int64 `json:"admin_failures_last_hour"`
	// LockedOut are the counters that refuse their next attempt (at
	// most the first page), and LockedTotal how many there are.
	LockedOut   []Counter `json:"locked_out"`
	LockedTotal int64     `json:"locked_total"`
	Users       int64     `json:"users"`
	Disabled    int64     `json:"users_disabled"`
	// Deliveries counts signal deliveries by state.
	Deliveries map[string]int64 `json:"deliveries"`
}

// Overview summarises the host's state.
func (s *Service) Overview(ctx context.Context) (Overview, error) {
	o := Overview{Plugins: s.Plugins()}
	since := s.opts.Now().Add(-time.Hour)
	var err error
	if o.Logins, o.Failures, err = s.opts.Store.CountAccess(ctx, s.opts.LockoutBackends, since); err != nil {
		return o, err
	}
	var twins []string
	for _, b := range s.opts.LockoutBackends {
		twins = append(twins, b+TwinSuffix)
	}
	if o.AdminLogins, o.AdminFailures, err = s.opts.Store.CountAccess(ctx, twins, since); err != nil {
		return o, err
	}
	locked, err := s.Lockouts(ctx, LockoutQuery{LockedOnly: true, Page: storage.Page{Limit: 10}})
	if err != nil {
		return o, err
	}
	o.LockedOut, o.LockedTotal = locked.Items, locked.Total
	if o.Users, o.Disabled, err = s.opts.Store.CountUsers(ctx); err != nil {
		return o, err
	}
	o.Deliveries, err = s.opts.Store.CountDeliveries(ctx)
	return o, err
}
