package chain

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/coalesce"
)

// Limits on shortcuts a backend can leave with the host.
const (
	maxShortcutTTL     = 10 * time.Second
	maxShortcuts       = 10000
	maxShortcutCounter = 16
)

// shortcuts answers repeats of denied attempts for one backend, as the
// backend allowed with sdk.Shortcut, counting each in the backend's
// storage.
type shortcuts struct {
	storage sdk.Storage
	batches *coalesce.Counter
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*shortcut
}

type shortcut struct {
	deny  Result
	sc    sdk.Shortcut
	until time.Time
}

func newShortcuts(st sdk.Storage) *shortcuts {
	return &shortcuts{storage: st, batches: coalesce.New(), now: time.Now, entries: map[string]*shortcut{}}
}

// attemptKey identifies repeats of an attempt.
func attemptKey(req *sdk.AuthenticateRequest) string {
	return req.Username + "\x00" + req.Client.IP + "\x00" + req.Client.UserAgent
}

// remember keeps the shortcut of a deny, if it is usable.
func (s *shortcuts) remember(req *sdk.AuthenticateRequest, deny Result, sc *sdk.Shortcut) {
	if sc == nil || sc.TTL <= 0 || len(sc.Counters) == 0 || len(sc.Counters) > maxShortcutCounter || sc.Renew < 0 {
		return
	}
	e := &shortcut{deny: deny, sc: *sc, until: s.now().Add(min(sc.TTL, maxShortcutTTL))}
	e.sc.Counters = append([]string(nil), sc.Counters...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= maxShortcuts {
		s.dropExpired()
		if len(s.entries) >= maxShortcuts {
			clear(s.entries) // under a flood of distinct clients, start over
		}
	}
	s.entries[attemptKey(req)] = e
}

// dropExpired removes spent shortcuts; s.mu is held.
func (s *shortcuts) dropExpired() {
	now := s.now()
	for k, e := range s.entries {
		if !now.Before(e.until) {
			delete(s.entries, k)
		}
	}
}

func (s *shortcuts) forget(key string) {
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
}

// answer answers req from a shortcut if one holds: it counts the attempt
// on the shortcut's counters and returns the deny. ok is false when the
// backend must be asked; any counting was then undone.
func (s *shortcuts) answer(ctx context.Context, req *sdk.AuthenticateRequest) (Result, bool) {
	key := attemptKey(req)
	s.mu.Lock()
	e := s.entries[key]
	if e != nil && !s.now().Before(e.until) {
		delete(s.entries, key)
		e = nil
	}
	s.mu.Unlock()
	if e == nil {
		return Result{}, false
	}
	// The count keeps a live counter's expiry (one it has to create, after
	// an expiry or a reset, gets Renew); only once it shows the promise
	// holds is the expiry renewed, as the backend renews it for a refusal,
	// so an attempt handed back to the backend leaves the expiry alone.
	holds := func(v int64) bool { return v > e.sc.Above && (e.sc.Below <= 0 || v < e.sc.Below) }
	inc := func(ctx context.Context, counter string, n int64) (int64, error) {
		v, err := s.storage.IncrementWindow(ctx, counter, n, e.sc.Renew)
		if err == nil && e.sc.Renew > 0 && holds(v) {
			_, err = s.storage.Increment(ctx, counter, 0, e.sc.Renew)
		}
		return v, err
	}
	var highest int64
	var counted []string
	for _, c := range e.sc.Counters {
		v, err := s.batches.Add(ctx, c, inc)
		if err != nil {
			s.undo(counted)
			s.forget(key)
			return Result{}, false
		}
		counted = append(counted, c)
		highest = max(highest, v)
	}
	if !holds(highest) {
		s.undo(counted)
		s.forget(key)
		return Result{}, false
	}
	res := e.deny
	res.Details = maps.Clone(e.deny.Details)
	if res.Details == nil {
		res.Details = map[string]any{}
	}
	res.Details["failure_count"] = highest
	if e.sc.Renew > 0 {
		res.RetryAfter = e.sc.Renew
	}
	return res, true
}

// undo takes back the counts of an attempt the shortcut did not answer;
// expiries stay as they are.
func (s *shortcuts) undo(counters []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range counters {
		_, _ = s.storage.Increment(ctx, c, -1, 0)
	}
}
