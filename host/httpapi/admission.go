package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-auth/portcullis/host/metrics"
)

// LoginLimits bound the logins the API takes on at once. A login over a
// limit is refused before it reaches the chain: no backend sees it, so no
// password is hashed, the lockout does not count it and no signal is sent.
// A zero field sets no limit.
type LoginLimits struct {
	// PerAddress is the most logins one client address may have in
	// progress, running or queued; more are answered 429
	// too_many_concurrent_logins. The address is the one the API
	// establishes for the login (trusted proxies speak for their
	// clients); IPv6 addresses are counted by /64, what one subscriber is
	// usually given.
	PerAddress int
	// Running is the most logins that run the chain at once.
	Running int
	// Queued is the most logins that wait for a turn to run; a login that
	// finds the queue full is answered 503 server_busy at once. Used only
	// with Running.
	Queued int
	// QueueWait bounds a login's wait for a turn; it is then answered 503
	// server_busy. Used only with Running.
	QueueWait time.Duration
}

// Why a login was refused, as counted in portcullis_logins_refused_total.
const (
	refusedPerAddress = "per_address"
	refusedQueueFull  = "queue_full"
	refusedQueueWait  = "queue_wait"
)

// retryAfterBusy is the Retry-After of the refusals, in seconds: they
// are about logins in progress, which last milliseconds to seconds.
const retryAfterBusy = "1"

// admission decides whether a login may go on to the chain.
type admission struct {
	perAddress *addressSlots // nil: no limit
	queue      *loginQueue   // nil: no limit
	refused    *metrics.Counter
	log        *throttledLog
}

func newAdmission(l LoginLimits, m *metrics.Registry, log *throttledLog) *admission {
	a := &admission{
		refused: m.Counter("portcullis_logins_refused_total", "Logins refused before the chain because of a capacity limit.", "reason"),
		log:     log,
	}
	if l.PerAddress > 0 {
		a.perAddress = &addressSlots{max: l.PerAddress, inUse: map[netip.Prefix]int{}}
	}
	if l.Running > 0 {
		a.queue = newLoginQueue(l.Running, l.Queued, l.QueueWait)
	}
	return a
}

// admit lets a login from the client address ip (as clientFacts gave it)
// go on, holding its address's place and a turn, or answers it. When ok,
// the caller must call done once the login has ended.
func (a *admission) admit(w http.ResponseWriter, r *http.Request, ip string) (done func(), ok bool) {
	release, ok := a.holdAddress(w, r, ip)
	if !ok {
		return nil, false
	}
	leave, ok := a.takeTurn(w, r, ip)
	if !ok {
		release()
		return nil, false
	}
	return func() { leave(); release() }, true
}

// holdAddress counts a login from the client address ip (as clientFacts
// gave it) among its address's logins in progress, or answers it 429.
// When ok, the caller must call release once the login has ended.
func (a *admission) holdAddress(w http.ResponseWriter, r *http.Request, ip string) (release func(), ok bool) {
	if a.perAddress == nil {
		return func() {}, true
	}
	key := addressKey(ip)
	if !a.perAddress.take(key) {
		a.refuse(w, refusedPerAddress, http.StatusTooManyRequests, codeTooManyLogins,
			"too many logins from this address are in progress; try again in a moment", "ip", ip)
		setLoginOutcome(w, outcomeRefused)
		return nil, false
	}
	return func() { a.perAddress.give(key) }, true
}

// takeTurn lets a login go on to run the chain once a turn is free, or
// answers it 503. When ok, the caller must call leave once the login has
// ended.
func (a *admission) takeTurn(w http.ResponseWriter, r *http.Request, ip string) (leave func(), ok bool) {
	if a.queue == nil {
		return func() {}, true
	}
	if err := a.queue.enter(r.Context()); err != nil {
		reason := refusedQueueWait
		if errors.Is(err, errQueueFull) {
			reason = refusedQueueFull
		}
		a.refuse(w, reason, http.StatusServiceUnavailable, codeServerBusy,
			"the server is busy with other logins; try again in a moment", "ip", ip)
		setLoginOutcome(w, outcomeRefused)
		return nil, false
	}
	return a.queue.leave, true
}

// refuse answers a login over a limit, with Retry-After.
func (a *admission) refuse(w http.ResponseWriter, reason string, status int, code, description string, logArgs ...any) {
	a.refused.Inc(reason)
	a.log.warn("logins are being refused: a capacity limit is reached (see portcullis_logins_refused_total)", append(logArgs, "reason", reason)...)
	w.Header().Set("Retry-After", retryAfterBusy)
	writeError(w, status, code, description, nil)
}

// addressKey is what a login's address is counted as: an IPv4 address
// itself, an IPv6 address its /64. An address that is not one (a peer on a
// unix socket) is the zero prefix, shared by all of them.
func addressKey(ip string) netip.Prefix {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// addressSlots counts the logins in progress per address.
type addressSlots struct {
	max   int
	mu    sync.Mutex
	inUse map[netip.Prefix]int
}

// take counts one more login for key, unless key has max already.
func (s *addressSlots) take(key netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[key] >= s.max {
		return false
	}
	s.inUse[key]++
	return true
}

// give ends a login that take counted.
func (s *addressSlots) give(key netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[key] <= 1 {
		delete(s.inUse, key) // the map holds only addresses with logins in progress
		return
	}
	s.inUse[key]--
}

var (
	errQueueFull = errors.New("the login queue is full")
	errQueueWait = errors.New("no turn came within the login queue wait")
)

// loginQueue lets at most running logins run at once and at most queued
// wait for a turn, each for at most wait. Turns are given in arrival order
// (a channel's blocked senders are served first in, first out).
type loginQueue struct {
	turns   chan struct{} // one element per login running
	queued  int64
	waiting atomic.Int64
	wait    time.Duration
}

func newLoginQueue(running, queued int, wait time.Duration) *loginQueue {
	return &loginQueue{turns: make(chan struct{}, running), queued: int64(queued), wait: wait}
}

// enter returns once the caller may run (nil), or errQueueFull at once,
// errQueueWait after the wait, or ctx's error. After nil the caller must
// call leave.
func (q *loginQueue) enter(ctx context.Context) error {
	select {
	case q.turns <- struct{}{}:
		return nil
	default:
	}
	if q.waiting.Add(1) > q.queued {
		q.waiting.Add(-1)
		return errQueueFull
	}
	defer q.waiting.Add(-1)
	timer := time.NewTimer(q.wait)
	defer timer.Stop()
	select {
	case q.turns <- struct{}{}:
		return nil
	case <-timer.C:
		return errQueueWait
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leave ends a turn that enter gave.
func (q *loginQueue) leave() { <-q.turns }

// throttledLog writes a warning at most once per interval, so that a
// flood of refusals shows in the log without flooding it.
type throttledLog struct {
	log      interface{ Warn(msg string, args ...any) }
	interval time.Duration
	last     atomic.Int64 // unix nanoseconds of the last warning
}

func (t *throttledLog) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := t.last.Load()
	if now-last < int64(t.interval) || !t.last.CompareAndSwap(last, now) {
		return
	}
	t.log.Warn(msg, args...)
}
