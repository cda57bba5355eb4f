// Package limiter enforces the attempt rules that plugins declare
// (sdk.AttemptLimiter, package sdk/attempts): brute-force lockout with
// django-axes semantics, without axes' check-then-act race.
//
// The host owns the counting. At the declaring backend's place in the chain
// Check works out the attempt's counters and, in one statement per counter,
// refuses a client that is locked (counting the refusal when the rule says
// so); otherwise it reserves the attempt on every counter in one
// transaction, so that at most a counter's limit of attempts whose outcome
// is unknown, plus its counted failures, are ever in play. An attempt that
// finds a counter full of attempts in flight waits until one ends (its
// outcome may unlock room, or lock the client) — bounded by the rule's
// MaxWait, after which the login is answered 503 try_again and not counted.
// When the login ends, End settles the reservation: a wrong password is
// counted, anything else is given back. Every change is in the host's
// database, so a restart, a SIGKILL or a second host sharing PostgreSQL
// changes nothing about the bound.
package limiter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/internal/coalesce"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// Reasons of a refusal.
const (
	// ReasonLockedOut: a counter is at its limit (429, or the rule's status).
	ReasonLockedOut = "locked_out"
	// ReasonIPBlocked: the address is in block_ips, or not in allow_ips
	// with only_allowed_ips (403).
	ReasonIPBlocked = "ip_blocked"
)

// Messages of a lockout answer, as django-axes words them.
const (
	cooloffMessage   = "Account locked: too many login attempts. Please try again later."
	permalockMessage = "Account locked: too many login attempts. Contact an admin to unlock your account."
	blockedMessage   = "Logins from this address are not allowed."
)

// Defaults.
const (
	defaultIPv6Prefix = 64
	defaultMaxWait    = 30 * time.Second
	// maxPoll is the longest a waiting attempt goes without looking for
	// room made on another host (room made here wakes it at once); every
	// look is a read the logins in flight compete with.
	maxPoll = 250 * time.Millisecond
	// refusalGather is how long the count of a refusal on a counter
	// refused many times a second waits for the refusals arriving after
	// it, to be counted with them in one write (coalesce.New). It is the
	// most it adds to a locked-out client's answer, and only under a
	// burst; against a flood it saves most of the writes.
	refusalGather = 200 * time.Microsecond
	// maxAdmissionRounds bounds how often one attempt finds a counter
	// locked at admission but not when it looks again (an operator's reset
	// racing new failures).
	maxAdmissionRounds = 8
)

// Emitter sends the host's signals; the host's dispatcher is one.
type Emitter interface {
	Emit(ctx context.Context, sender string, args any) string
}

// Options complete a Limiter.
type Options struct {
	// Lease bounds how long an attempt may stay in flight: a reservation
	// whose host died is given back after it. It must outlast the longest
	// login (the chain's timeouts), or the bound could be exceeded.
	Lease  time.Duration
	Emit   Emitter
	Logger *slog.Logger
	// Metrics counts the lockouts and the logins they refuse
	// (portcullis_lockouts_total, portcullis_lockout_refusals_total);
	// optional.
	Metrics *metrics.Registry
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Limiter enforces one backend's rule. It is safe for concurrent use.
type Limiter struct {
	name      string
	rule      attempts.Rule
	groups    []group
	policies  []counterPolicy // by group
	normalize func(string) string
	ipv6Bits  int
	maxWait   time.Duration
	store     *storage.Attempts
	logs      *storage.Store
	refusals  *coalesce.Batcher[refusal]
	snapshots *coalesce.Batcher[[]*storage.CounterState]
	waiters   *waiters
	seen      *seenLocked
	opts      Options
	lockouts  *metrics.Counter // clients that became locked out
	refused   *metrics.Counter // logins refused because their client is locked out
}

// counterPolicy is a group's limit and cool-offs.
type counterPolicy struct {
	lockAt           int64
	cooloffs         []storage.CooloffStep
	countWhileLocked bool
	resetOnSuccess   bool
}

// New checks rule and returns the Limiter of backend name. A rule the host
// cannot enforce as written is an error naming every problem.
func New(name string, rule attempts.Rule, store *storage.Store, opts Options) (*Limiter, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	l := &Limiter{
		name: name, rule: rule, ipv6Bits: rule.IPv6Prefix, maxWait: rule.MaxWait,
		store: store.Attempts(name).WithClock(opts.Now), logs: store,
		refusals: coalesce.New[refusal](refusalGather), snapshots: coalesce.New[[]*storage.CounterState](refusalGather), waiters: newWaiters(), seen: newSeenLocked(), opts: opts,
		lockouts: opts.Metrics.Counter("portcullis_lockouts_total", "Times a client became locked out (user_locked_out sent), by backend.", "backend"),
		refused:  opts.Metrics.Counter("portcullis_lockout_refusals_total", "Logins refused because a lockout rule locked their client, by backend.", "backend"),
	}
	// Written as 0 from the start, so that the first lockout is an
	// increase over it rather than the appearance of a series.
	l.lockouts.Add(0, name)
	l.refused.Add(0, name)
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var ok bool
	if l.normalize, ok = normalizer(rule.UsernameNormalization); !ok {
		fail("unknown username normalization %q", rule.UsernameNormalization)
	}
	if l.ipv6Bits == 0 {
		l.ipv6Bits = defaultIPv6Prefix
	}
	if l.ipv6Bits < 1 || l.ipv6Bits > 128 {
		fail("ipv6 prefix %d is not between 1 and 128", rule.IPv6Prefix)
	}
	if l.maxWait <= 0 {
		l.maxWait = defaultMaxWait
	}
	switch rule.StatusCode {
	case 0:
		l.rule.StatusCode = http.StatusTooManyRequests
	case http.StatusTooManyRequests, http.StatusForbidden:
	default:
		fail("status code %d is not 429 or 403", rule.StatusCode)
	}
	if len(rule.Counters) == 0 && !rule.OnlyAllowedIPs && len(rule.BlockIPs) == 0 {
		fail("no counters")
	}
	seen := map[string]bool{}
	for i, c := range rule.Counters {
		g := group(slices.Clone(c.Fields))
		sort.Strings(g)
		if len(g) == 0 {
			fail("counter %d has no fields", i)
			continue
		}
		for j, f := range g {
			if !knownFields[f] {
				fail("counter %d: unknown field %q", i, f)
			} else if j > 0 && g[j-1] == f {
				fail("counter %d: field %q twice", i, f)
			}
		}
		if seen[g.name()] {
			fail("counter %d repeats the group %s", i, g.name())
		}
		seen[g.name()] = true
		if len(c.Tiers) == 0 {
			fail("counter %d has no limit", i)
			continue
		}
		p := counterPolicy{lockAt: int64(c.Tiers[0].Failures), countWhileLocked: c.CountWhileLocked, resetOnSuccess: c.ResetOnSuccess}
		for j, t := range c.Tiers {
			if t.Failures < 1 || (j > 0 && t.Failures <= c.Tiers[j-1].Failures) {
				fail("counter %d: tier %d: failures must be positive and ascending", i, j)
			}
			if t.Cooloff < 0 {
				fail("counter %d: tier %d: negative cool-off", i, j)
			}
			p.cooloffs = append(p.cooloffs, storage.CooloffStep{From: int64(t.Failures), Cooloff: t.Cooloff})
		}
		if rule.NeverLock {
			p.lockAt = 0
		}
		l.groups = append(l.groups, g)
		l.policies = append(l.policies, p)
	}
	for _, f := range rule.SensitiveFields {
		if !knownFields[f] {
			fail("unknown sensitive field %q", f)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("attempt rule of %q: %v", name, errors.New(joinProblems(problems)))
	}
	return l, nil
}

func joinProblems(ps []string) string {
	out := ps[0]
	for _, p := range ps[1:] {
		out += "; " + p
	}
	return out
}

// Name is the backend whose rule this is.
func (l *Limiter) Name() string { return l.name }

// Rule returns the rule as declared.
func (l *Limiter) Rule() attempts.Rule { return l.rule }

// Verdict is what Check decided.
type Verdict struct {
	// Refusal, if set, refuses the login: the chain stops with it.
	Refusal *Refusal
	// Busy is set when the attempt waited MaxWait for room on a counter
	// and got none: the login fails closed (503 try_again), uncounted.
	Busy bool
	// Attempt, if set, is the admitted attempt: End must be called with
	// the login's outcome. Nil for an address that is not counted.
	Attempt *Attempt
}

// Refusal is a refused login, in the shape of a backend's deny.
type Refusal struct {
	Reason      string
	Status      int
	Description string
	RetryAfter  time.Duration
	Details     map[string]any
}

// Attempt is an admitted attempt: reserved on its counters until End.
type Attempt struct {
	l        *Limiter
	id       string
	client   Client
	raw      sdk.Client
	counters []storage.AttemptCounter
	ended    bool
	// settledIn: SuccessWrite's write was made in a transaction (which
	// End with a success is told has committed).
	settledIn bool
}

// SuccessWrite returns the attempt's settlement as a success, as a write
// for the transaction that stores the login's session to make, so that
// both are one commit. End must still be called: with sdk.LoginSucceeded
// once that transaction has committed (End then settles nothing again,
// and wakes the waiters), or with another result if it failed (End then
// settles the attempt as it would have).
func (a *Attempt) SuccessWrite() storage.SessionWrite {
	return func(tx *storage.Tx, sessionID string) error {
		a.settledIn = false
		if err := a.l.store.SettleIn(tx, a.counters, a.settlement(sdk.LoginSucceeded, sessionID)); err != nil {
			return err
		}
		a.settledIn = true
		return nil
	}
}

// clientOf builds the counter values of a login. They are made valid
// UTF-8 (a header may carry any bytes; PostgreSQL refuses text that is
// not UTF-8, and would refuse the login with it).
func (l *Limiter) clientOf(username string, c sdk.Client) Client {
	return Client{
		Username:  l.normalize(validUTF8(username)),
		IPAddress: validUTF8(addressKey(c.IP, l.ipv6Bits)),
		UserAgent: truncateUTF8(validUTF8(c.UserAgent), maxUserAgentBytes),
	}
}

// countersOf returns the counters of client c, and the groups they belong
// to.
func (l *Limiter) countersOf(c Client) ([]storage.AttemptCounter, []group) {
	var out []storage.AttemptCounter
	var groups []group
	for i, g := range l.groups {
		key, ok := counterKey(g, c)
		if !ok {
			continue
		}
		p := l.policies[i]
		out = append(out, storage.AttemptCounter{Key: key, LockAt: p.lockAt, Cooloffs: p.cooloffs, ResetOnSuccess: p.resetOnSuccess})
		groups = append(groups, g)
	}
	return out, groups
}

func inAny(prefixes []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Check decides whether the login req may go on to the next backends.
// An error means the host could not decide (its database failed): the
// login must fail closed.
func (l *Limiter) Check(ctx context.Context, req *sdk.AuthenticateRequest) (Verdict, error) {
	c, counters, groups, decided := l.attemptOf(req)
	if decided != nil {
		return *decided, nil
	}
	id := ""                              // made when first needed: a refusal needs none
	deadline := time.Now().Add(l.maxWait) // a real wait, whatever the rule's clock
	backoff := 20 * time.Millisecond
	var line *waiter // this attempt's place in line on a busy counter
	defer func() {
		if line != nil {
			line.leave()
		}
	}()
	for locks, waited, woken := 0, false, false; ; {
		// A refusal is looked for only if this host has seen one of the
		// counters locked, or the admission below found one locked: an
		// allowed attempt costs no read before its admission. After a
		// wait, only if the look below finds a counter locked: a waiting
		// attempt costs one read a round.
		if !l.rule.NeverLock && !waited && (locks > 0 || l.seen.anyOf(counters, l.opts.Now())) {
			refused, err := l.refuseIfLocked(ctx, c, req.Client, counters, groups)
			if err != nil || refused != nil {
				return Verdict{Refusal: refused}, err
			}
			l.seen.forget(counters)
		}
		adm, st, err := storage.Admitted, storage.CounterState{}, error(nil)
		if waited && !woken {
			// Look before trying again: a waiting attempt costs no write
			// while there is still no room. An end here that woke it has
			// likely made room: it tries at once.
			adm, st, err = l.store.Look(ctx, counters)
		}
		if err == nil && adm == storage.Admitted {
			if id == "" {
				id = newAttemptID()
			}
			adm, st, err = l.store.Admit(ctx, counters, id, l.opts.Lease)
		}
		if err != nil {
			return Verdict{}, err
		}
		switch adm {
		case storage.Admitted:
			return Verdict{Attempt: &Attempt{l: l, id: id, client: c, raw: req.Client, counters: counters}}, nil
		case storage.Locked:
			// Locked since the last look, or on another host: the
			// refusal, in the next round, counts and answers it.
			l.seen.add(st)
			if locks++; locks < maxAdmissionRounds {
				waited = false
				continue
			}
			return Verdict{}, fmt.Errorf("attempt counter %q kept changing between locked and unlocked", st.Key)
		}
		// Busy: wait in line for an attempt in flight on the counter to
		// end here; the first in line also polls for one ending on another
		// host.
		left := time.Until(deadline)
		if left <= 0 {
			l.opts.Logger.Warn("lockout: attempt waited too long for room on a counter; answered try_again", l.masked(c, "backend", l.name)...)
			return Verdict{Busy: true}, nil
		}
		if line == nil || line.key != st.Key {
			if line != nil {
				line.leave()
			}
			line = l.waiters.join(st.Key)
		}
		poll := min(backoff, left)
		backoff = min(2*backoff, maxPoll)
		if woken, err = line.wait(ctx, poll, left); err != nil {
			return Verdict{}, err
		}
		waited = true
	}
}

// attemptOf works out the counters of the login req, or decides it at
// once: refused from an address the rule blocks, let through (a zero
// Verdict) from one it allows or with no counter.
func (l *Limiter) attemptOf(req *sdk.AuthenticateRequest) (Client, []storage.AttemptCounter, []group, *Verdict) {
	if v := l.addressVerdict(req); v != nil {
		return Client{}, nil, nil, v
	}
	c := l.clientOf(req.Username, req.Client)
	counters, groups := l.countersOf(c)
	if len(counters) == 0 {
		return Client{}, nil, nil, &Verdict{}
	}
	return c, counters, groups, nil
}

// addressVerdict decides the login req by its address alone: refused from
// an address the rule blocks, let through (a zero Verdict) from one it
// allows; nil for any other.
func (l *Limiter) addressVerdict(req *sdk.AuthenticateRequest) *Verdict {
	ip, _ := netip.ParseAddr(req.Client.IP)
	// As the counters key it (addressKey): a zone names no other client,
	// and a prefix never contains a zoned address.
	ip = ip.Unmap().WithZone("")
	if inAny(l.rule.BlockIPs, ip) || (l.rule.OnlyAllowedIPs && !inAny(l.rule.AllowIPs, ip)) {
		return &Verdict{Refusal: &Refusal{Reason: ReasonIPBlocked, Status: http.StatusForbidden, Description: blockedMessage}}
	}
	if inAny(l.rule.AllowIPs, ip) {
		return &Verdict{}
	}
	return nil
}

// Early returns, when this host has seen one of the login req's counters
// locked (or the rule blocks its address), the check that refuses req as
// Check would if its counters are still locked; otherwise nil, and reads
// nothing. The check decides nothing of a login it does not refuse: a
// zero Verdict, and Check is still to be made. It admits nothing, so it
// needs no End. It lets the host turn away a locked-out client before the
// login waits for a turn to run, so that a flood of refusals takes no turn
// from other logins. While the host has seen no lock, it works out no
// counters: Check does, for the logins it admits.
func (l *Limiter) Early(req *sdk.AuthenticateRequest) func(context.Context, *sdk.AuthenticateRequest) (Verdict, error) {
	if v := l.addressVerdict(req); v != nil {
		if v.Refusal == nil {
			return nil
		}
		return func(context.Context, *sdk.AuthenticateRequest) (Verdict, error) { return *v, nil }
	}
	if l.rule.NeverLock || l.seen.empty() {
		return nil
	}
	c := l.clientOf(req.Username, req.Client)
	counters, groups := l.countersOf(c)
	if !l.seen.anyOf(counters, l.opts.Now()) {
		return nil
	}
	return func(ctx context.Context, req *sdk.AuthenticateRequest) (Verdict, error) {
		refused, err := l.refuseIfLocked(ctx, c, req.Client, counters, groups)
		if err == nil && refused == nil {
			l.seen.forget(counters)
		}
		return Verdict{Refusal: refused}, err
	}
}

// refusal is the result of a batch of refusal checks on one counter.
type refusal struct {
	state  storage.CounterState
	locked bool
}

// activeCounters is how many of counters can lock.
func activeCounters(counters []storage.AttemptCounter) int {
	n := 0
	for _, c := range counters {
		if c.LockAt > 0 {
			n++
		}
	}
	return n
}

// snapshotKey names the set of counters for l.snapshots.
func snapshotKey(counters []storage.AttemptCounter) string {
	var b strings.Builder
	for _, c := range counters {
		b.WriteString(c.Key)
		b.WriteByte(0)
	}
	return b.String()
}

// refuseIfLocked refuses the attempt if any of its counters is locked,
// counting the refusal on the locked counters when the rule says so.
func (l *Limiter) refuseIfLocked(ctx context.Context, c Client, raw sdk.Client, counters []storage.AttemptCounter, groups []group) (*Refusal, error) {
	var worst storage.CounterState
	var worstGroup group
	locked, counted := false, false
	// look refuses on counter i if it is locked, counting the refusal if
	// its group counts refusals.
	look := func(i int) (bool, error) {
		ctr := counters[i]
		per := int64(0)
		if l.policyOf(groups[i]).countWhileLocked {
			per = 1
		}
		flush := func(ctx context.Context, key string, n int64) (refusal, error) {
			st, ok, err := l.store.RefuseIfLocked(ctx, ctr, n*per)
			return refusal{state: st, locked: ok}, err
		}
		r, place, err := l.refusals.Add(ctx, ctr.Key, flush)
		if err != nil || !r.locked {
			return false, err
		}
		st := r.state
		l.seen.add(st)
		if per > 0 {
			// This caller's own count, as if the batch had been counted
			// one by one.
			st.Failures = st.Failures - place.N + place.Index
			if st.Failures > st.LockAt && l.reachesTier(i, st.Failures) {
				l.emitLockedOut(ctx, c, raw, groups[i], st.Failures)
			}
		}
		if !locked || st.Failures > worst.Failures {
			worst, worstGroup = st, groups[i]
		}
		locked, counted = true, counted || per > 0
		return true, nil
	}
	if activeCounters(counters) > 1 {
		// The counters are read together, in one statement, so that what
		// is locked is decided at one moment; the refusal is then counted
		// on each counter locked at that moment that counts refusals (and
		// is still locked when counted), as if it had happened then. A
		// counter that is not locked costs no write. The attempts of a
		// flood share the read and the writes (l.snapshots), each still
		// getting its own count.
		per := make([]int64, len(counters))
		for i := range counters {
			if l.policyOf(groups[i]).countWhileLocked {
				per[i] = 1
			}
		}
		locks, place, err := l.snapshots.Add(ctx, snapshotKey(counters), func(ctx context.Context, _ string, n int64) ([]*storage.CounterState, error) {
			locks, err := l.store.LockedAmong(ctx, counters)
			if err != nil {
				return nil, err
			}
			for i, st := range locks {
				if st == nil || per[i] == 0 {
					continue
				}
				now, ok, err := l.store.RefuseIfLocked(ctx, counters[i], n)
				if err != nil {
					return nil, err
				}
				locks[i] = nil
				if ok {
					locks[i] = &now
				}
			}
			return locks, nil
		})
		if err != nil {
			return nil, err
		}
		for i, p := range locks {
			if p == nil {
				continue
			}
			st := *p
			l.seen.add(st)
			if per[i] > 0 {
				st.Failures = st.Failures - place.N + place.Index
				if st.Failures > st.LockAt && l.reachesTier(i, st.Failures) {
					l.emitLockedOut(ctx, c, raw, groups[i], st.Failures)
				}
				counted = true
			}
			if !locked || st.Failures > worst.Failures {
				worst, worstGroup = st, groups[i]
			}
			locked = true
		}
	} else {
		for i, ctr := range counters {
			if ctr.LockAt > 0 {
				if _, err := look(i); err != nil {
					return nil, err
				}
			}
		}
	}
	if !locked {
		return nil, nil
	}
	// As django-axes: a refusal that is not counted is not logged either.
	if l.rule.FailureLog && counted {
		rec := storage.AccessRecord{Failed: true, LockedOut: true, Username: c.Username, IPAddress: raw.IP, UserAgent: c.UserAgent, Time: l.opts.Now()}
		if err := l.logs.RecordAccess(context.WithoutCancel(ctx), l.name, rec, l.rule.FailureLogPerUser); err != nil {
			l.opts.Logger.Warn("lockout: writing the access failure log", "backend", l.name, "error", err)
		}
	}
	if l.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		l.opts.Logger.Debug("lockout: attempt refused", l.masked(c, "backend", l.name, "group", worstGroup.name(), "failures", worst.Failures)...)
	}
	l.refused.Inc(l.name)
	return l.refusal(c, worst), nil
}

// reachesTier reports whether counter i's count n is where a lock starts
// or grows to a longer tier.
func (l *Limiter) reachesTier(i int, n int64) bool {
	p := l.policies[i]
	if p.lockAt <= 0 {
		return false
	}
	for _, s := range p.cooloffs {
		if n == s.From {
			return true
		}
	}
	return false
}

// refusal is the answer to a client whose counter st is locked.
func (l *Limiter) refusal(c Client, st storage.CounterState) *Refusal {
	var left time.Duration
	if !st.ExpiresAt.IsZero() {
		left = max(st.ExpiresAt.Sub(l.opts.Now()), time.Second)
	}
	r := &Refusal{
		Reason: ReasonLockedOut, Status: l.rule.StatusCode, RetryAfter: left, Description: permalockMessage,
		Details: map[string]any{
			"failure_limit": st.LockAt,
			"failure_count": st.Failures,
			"username":      c.Username,
		},
	}
	if left > 0 {
		r.Description = cooloffMessage
		r.Details["cooloff_time"] = isoDuration(left)
		r.Details["cooloff_seconds"] = int64((left + time.Second - 1) / time.Second)
	}
	return r
}

// Backend is the backend whose rule admitted the attempt.
func (a *Attempt) Backend() string { return a.l.name }

// End settles the attempt with the login's result: LoginFailed counts a
// failure on every counter; LoginSucceeded gives the attempt back (or
// resets the counters with reset_on_success) and writes the access log;
// anything else gives it back. sessionID names the session a success
// opened. End must be called once; an error means a failure could not be
// counted, and the host must then not answer it as a wrong password.
func (a *Attempt) End(ctx context.Context, result sdk.LoginResult, sessionID string) error {
	if a == nil || a.ended {
		return nil
	}
	a.ended = true
	l := a.l
	if result == sdk.LoginSucceeded && a.settledIn {
		for _, c := range a.counters {
			l.waiters.wakeOne(c.Key)
		}
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	states, err := l.store.Settle(ctx, a.counters, a.settlement(result, sessionID))
	// Room may have freed on these counters: wake one waiter on each.
	for _, c := range a.counters {
		l.waiters.wakeOne(c.Key)
	}
	if err != nil {
		l.opts.Logger.Error("lockout: settling an attempt", "backend", l.name, "result", result.String(), "error", err)
		if result == sdk.LoginFailed {
			return err
		}
		return nil
	}
	if result == sdk.LoginFailed {
		if l.opts.Logger.Enabled(ctx, slog.LevelDebug) {
			l.opts.Logger.Debug("lockout: failure counted", l.masked(a.client, "backend", l.name)...)
		}
		for _, st := range states {
			l.seen.add(st)
			if i := l.groupOfKey(st.Key); i >= 0 && l.reachesTier(i, st.Failures) {
				l.emitLockedOut(ctx, a.client, a.raw, l.groups[i], st.Failures)
			}
		}
	}
	return nil
}

// settlement is what settling the attempt with result writes.
func (a *Attempt) settlement(result sdk.LoginResult, sessionID string) storage.Settlement {
	l := a.l
	s := storage.Settlement{ID: a.id}
	rec := storage.AccessRecord{Username: a.client.Username, IPAddress: a.raw.IP, UserAgent: a.client.UserAgent, Time: l.opts.Now()}
	switch result {
	case sdk.LoginFailed:
		s.Failed = true
		if l.rule.FailureLog {
			rec.Failed = true
			s.Record, s.FailureLogLimit = &rec, l.rule.FailureLogPerUser
		}
	case sdk.LoginSucceeded:
		s.Reset = true // the counters whose group resets on success
		if l.rule.AccessLog {
			rec.SessionID = sessionID
			s.Record = &rec
		}
	}
	return s
}

// policyOf is the policy of group g.
func (l *Limiter) policyOf(g group) counterPolicy {
	for i, gg := range l.groups {
		if gg.same(g) {
			return l.policies[i]
		}
	}
	return counterPolicy{}
}

// groupOfKey is the index of the group a counter key belongs to, or -1.
func (l *Limiter) groupOfKey(key string) int {
	pk, ok := parseCounterKey(key)
	if !ok {
		return -1
	}
	for i, g := range l.groups {
		if g.same(pk.Group) {
			return i
		}
	}
	return -1
}

// emitLockedOut sends user_locked_out for a client whose counter of group
// g reached n failures.
func (l *Limiter) emitLockedOut(ctx context.Context, c Client, raw sdk.Client, g group, n int64) {
	var until time.Time
	p := storage.AttemptCounter{Cooloffs: l.policyOf(g).cooloffs}
	if d := p.CooloffFor(n); d > 0 {
		until = l.opts.Now().Add(d).UTC()
	}
	l.opts.Logger.Warn("lockout: client locked out", l.masked(c, "backend", l.name, "group", g.name(), "failures", n)...)
	l.lockouts.Inc(l.name)
	if l.opts.Emit == nil {
		return
	}
	l.opts.Emit.Emit(ctx, l.name, &signals.UserLockedOut{
		Backend: l.name, Username: c.Username, Client: raw, Failures: int(n), Group: g.name(), Until: until,
	})
}

// masked returns log attributes for c with the rule's sensitive fields
// masked, as django-axes masks them.
func (l *Limiter) masked(c Client, extra ...any) []any {
	mask := func(field, v string) string {
		if slices.Contains(l.rule.SensitiveFields, field) {
			return "********************"
		}
		return v
	}
	return append([]any{
		"username", mask(attempts.FieldUsername, c.Username),
		"ip_address", mask(attempts.FieldIPAddress, c.IPAddress),
		"user_agent", mask(attempts.FieldUserAgent, c.UserAgent),
	}, extra...)
}

func newAttemptID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
