package lockout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Version is the plugin's version, reported in its metadata.
const Version = "1.0.0"

// Reasons for a deny.
const (
	// ReasonIPBlocked: the client's address is in block_ips (or not in
	// allow_ips with only_allowed_ips).
	ReasonIPBlocked = "ip_blocked"
)

// Messages of a lockout answer, as django-axes words them.
const (
	cooloffMessage   = "Account locked: too many login attempts. Please try again later."
	permalockMessage = "Account locked: too many login attempts. Contact an admin to unlock your account."
)

// reservationTTL is how long the plugin remembers an attempt it let through
// while it waits for the login's outcome (which arrives within the same
// request); forgotten attempts simply stay counted.
const reservationTTL = 5 * time.Minute

// Plugin is the lockout backend and signal receiver. Create it with New.
type Plugin struct {
	settings *Settings
	host     sdk.Host
	counter  *counter
	log      *slog.Logger
	now      func() time.Time

	mu           sync.Mutex
	reservations map[string]reservation // by request id
}

// reservation is an attempt the plugin counted and let through.
type reservation struct {
	client  Client
	counted map[string]int64 // counter key → count including this attempt
	at      time.Time
}

// New returns an unconfigured plugin.
func New() *Plugin {
	return &Plugin{log: sdk.Logger(), now: time.Now, reservations: map[string]reservation{}}
}

// Metadata implements sdk.Plugin. The subscriptions depend on the
// configuration once Configure has run.
func (p *Plugin) Metadata() sdk.Metadata {
	md := sdk.Metadata{
		Name:         "lockout",
		Version:      Version,
		Capabilities: []sdk.Capability{sdk.CapabilityAuthenticator, sdk.CapabilitySignalReceiver},
		Subscriptions: []sdk.Subscription{
			// The outcome of the attempts it let through. Its own denials it
			// already counted: IgnoreOwn keeps them off the rejection path.
			{Signal: "user_login_failed", IgnoreOwn: true},
			{Signal: "user_logged_in"},
			{Signal: "user_login_unavailable"},
		},
	}
	if p.settings == nil || p.settings.AccessLog {
		md.Subscriptions = append(md.Subscriptions, sdk.Subscription{Signal: "user_logged_out"})
	}
	return md
}

// Configure implements sdk.Plugin.
func (p *Plugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	s, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	for _, w := range s.Warnings {
		p.log.Warn("lockout configuration: " + w)
	}
	p.settings, p.host = s, req.Host
	p.counter = newCounter(req.Host.Storage(), s.CooloffFor, s.renewExpiry)
	return nil
}

// clientOf builds the lockout client of a login.
func (p *Plugin) clientOf(username, ip, userAgent string) Client {
	return Client{
		Username:  p.settings.Normalize(username),
		IPAddress: ip,
		UserAgent: truncateUTF8(userAgent, maxUserAgentBytes),
	}
}

// Authenticate implements sdk.Authenticator: it counts the attempt in every
// lockout group and abstains, or denies a client over the limit.
func (p *Plugin) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	s := p.settings
	if s == nil {
		return fmt.Errorf("%w: lockout is not configured", sdk.ErrUnavailable)
	}
	c := p.clientOf(req.Username, req.Client.IP, req.Client.UserAgent)
	ip, _ := netip.ParseAddr(c.IPAddress)
	ip = ip.Unmap()
	if inAny(s.BlockIPs, ip) || (s.OnlyAllowedIPs && !inAny(s.AllowIPs, ip)) {
		resp.Deny(ReasonIPBlocked, 0)
		resp.HTTPStatus = http.StatusForbidden
		resp.Description = "Logins from this address are not allowed."
		return nil
	}
	if inAny(s.AllowIPs, ip) {
		resp.Abstain("")
		return nil
	}

	if !s.CountDuringLock && s.LockOutAtFailure {
		// Attempts while locked are neither counted nor extend the lock:
		// look before counting.
		if locked, count, until, err := p.lockedNow(ctx, c); err != nil {
			return err
		} else if locked {
			var left time.Duration
			if !until.IsZero() {
				left = until.Sub(p.now())
			}
			p.deny(resp, c, count, left)
			return nil
		}
	}

	counted := map[string]int64{}
	var worst int64
	for _, g := range s.Groups {
		key, ok := counterKey(g, c)
		if !ok {
			continue
		}
		n, err := p.counter.add(ctx, key)
		if err != nil {
			// This attempt must not go through unchecked: fail closed, and
			// give back what was counted, since the attempt will not be
			// judged.
			p.refundAll(context.WithoutCancel(ctx), counted)
			return fmt.Errorf("counting the attempt: %w", err)
		}
		counted[key] = n
		worst = max(worst, n)
	}

	if s.LockOutAtFailure && worst > int64(s.FailureLimit) {
		// Locked: the failures before this attempt reached the limit.
		failures := worst
		if !s.CountDuringLock {
			// It slipped past the look above in a race: give it back.
			p.refundAll(ctx, counted)
			failures--
		}
		p.deny(resp, c, failures, s.CooloffFor(failures))
		resp.Shortcut = s.shortcut(counted, worst)
		if s.CountDuringLock && s.locksAt(worst) {
			// This refusal took the lock to a longer tier.
			p.emitLockedOut(ctx, c, sdk.ClientFacts{ClientIP: req.Client.IP, UserAgent: req.Client.UserAgent}, worst)
		}
		if s.FailureLog {
			if err := p.logFailure(ctx, c, true); err != nil {
				p.log.Warn("lockout: writing the access failure log", "error", err)
			}
		}
		return nil
	}
	if len(counted) > 0 && req.RequestID != "" {
		p.mu.Lock()
		p.reservations[req.RequestID] = reservation{client: c, counted: counted, at: p.now()}
		p.forgetOld()
		p.mu.Unlock()
	}
	resp.Abstain("")
	return nil
}

// lockedNow reports, without counting, whether c is locked out and until
// when (zero time: until reset).
func (p *Plugin) lockedNow(ctx context.Context, c Client) (bool, int64, time.Time, error) {
	for _, g := range p.settings.Groups {
		key, ok := counterKey(g, c)
		if !ok {
			continue
		}
		e, err := p.host.Storage().Get(ctx, key)
		if errors.Is(err, sdk.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, 0, time.Time{}, fmt.Errorf("reading the attempt count: %w", err)
		}
		var n int64
		fmt.Sscan(string(e.Value), &n)
		if n >= int64(p.settings.FailureLimit) {
			return true, n, e.ExpiresAt, nil
		}
	}
	return false, 0, time.Time{}, nil
}

// deny answers a locked-out attempt: failures is the count that locked it,
// cooloff the time left (0: until reset).
func (p *Plugin) deny(resp *sdk.AuthenticateResponse, c Client, failures int64, cooloff time.Duration) {
	s := p.settings
	resp.Deny(sdk.ReasonLockedOut, cooloff)
	resp.HTTPStatus = s.StatusCode
	resp.Details = map[string]any{
		"failure_limit": s.FailureLimit,
		"failure_count": failures,
		"username":      c.Username,
	}
	resp.Description = permalockMessage
	if cooloff > 0 {
		resp.Description = cooloffMessage
		resp.Details["cooloff_time"] = isoDuration(cooloff)
		resp.Details["cooloff_seconds"] = int64((cooloff + time.Second - 1) / time.Second)
	}
	p.log.Debug("lockout: attempt refused", p.masked(c, "failures", failures)...)
}

// Receive implements sdk.SignalReceiver: the outcome of a login this
// plugin counted.
func (p *Plugin) Receive(ctx context.Context, sig *sdk.Signal) error {
	if p.settings == nil {
		return fmt.Errorf("%w: lockout is not configured", sdk.ErrUnavailable)
	}
	switch sig.Name {
	case "user_login_failed":
		var a sdk.UserLoginFailed
		if err := sig.Decode(&a); err != nil {
			return err
		}
		res, ok := p.take(a.RequestID)
		if a.Reason != sdk.ReasonInvalidCredentials {
			// Refused for another reason (another backend denied it): not a
			// wrong password, so not a failure.
			if ok {
				p.refundAll(ctx, res.counted)
			}
			return nil
		}
		if ok {
			p.confirmFailure(ctx, res, a.ClientFacts)
		}
		if p.settings.FailureLog {
			return p.logFailure(ctx, p.clientOf(a.Username, a.ClientIP, a.UserAgent), false)
		}
		return nil
	case "user_login_unavailable":
		var a sdk.UserLoginUnavailable
		if err := sig.Decode(&a); err != nil {
			return err
		}
		if res, ok := p.take(a.RequestID); ok {
			p.refundAll(ctx, res.counted)
		}
		return nil
	case "user_logged_in":
		var a sdk.UserLoggedIn
		if err := sig.Decode(&a); err != nil {
			return err
		}
		res, ok := p.take(a.RequestID)
		if p.settings.ResetOnSuccess {
			c := p.clientOf(a.Username, a.ClientIP, a.UserAgent)
			if _, err := p.resetClient(ctx, c); err != nil {
				return err
			}
		} else if ok {
			p.refundAll(ctx, res.counted)
		}
		if p.settings.AccessLog {
			return p.logAccess(ctx, p.clientOf(a.Username, a.ClientIP, a.UserAgent), a.SessionID)
		}
		return nil
	case "user_logged_out":
		var a sdk.UserLoggedOut
		if err := sig.Decode(&a); err != nil {
			return err
		}
		if p.settings.AccessLog {
			return p.logLogout(ctx, a.SessionID)
		}
	}
	return nil
}

// take removes and returns the reservation of a request.
func (p *Plugin) take(requestID string) (reservation, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.reservations[requestID]
	delete(p.reservations, requestID)
	return r, ok
}

// forgetOld drops reservations whose outcome never came; p.mu is held.
func (p *Plugin) forgetOld() {
	if len(p.reservations) < 1024 {
		return
	}
	cutoff := p.now().Add(-reservationTTL)
	for id, r := range p.reservations {
		if r.at.Before(cutoff) {
			delete(p.reservations, id)
		}
	}
}

func (p *Plugin) refundAll(ctx context.Context, counted map[string]int64) {
	for key := range counted {
		if err := p.counter.refund(ctx, key); err != nil {
			p.log.Warn("lockout: giving back an attempt", "error", err)
		}
	}
}

// confirmFailure settles a reservation that turned out to be a wrong
// password: each counter's window starts again from now (as django-axes
// refreshes attempt_time), with the cool-off of the tier its count reached,
// and user_locked_out is sent when this failure brought a counter to a lock.
func (p *Plugin) confirmFailure(ctx context.Context, res reservation, facts sdk.ClientFacts) {
	s := p.settings
	var locked int64
	for key, n := range res.counted {
		if ttl := s.CooloffFor(n); ttl > 0 {
			now, err := p.host.Storage().Increment(ctx, key, 0, ttl)
			if longer := s.CooloffFor(now); err == nil && longer > ttl {
				// Later attempts reached a longer tier meanwhile: keep it.
				_, err = p.host.Storage().Increment(ctx, key, 0, longer)
			}
			if err != nil {
				p.log.Warn("lockout: renewing a counter's window", "error", err)
			}
		}
		if s.LockOutAtFailure && s.locksAt(n) {
			locked = max(locked, n)
		}
	}
	if locked > 0 {
		p.emitLockedOut(ctx, res.client, facts, locked)
	}
}

// emitLockedOut sends user_locked_out for a client whose count reached n.
func (p *Plugin) emitLockedOut(ctx context.Context, c Client, facts sdk.ClientFacts, n int64) {
	var until time.Time
	if d := p.settings.CooloffFor(n); d > 0 {
		until = p.now().Add(d).UTC()
	}
	p.log.Warn("lockout: client locked out", p.masked(c, "failures", n)...)
	_, err := p.host.Signals().Emit(ctx, "user_locked_out", "", &sdk.UserLockedOut{
		Username: c.Username, ClientFacts: facts, Failures: int(n), Until: until,
	})
	if err != nil {
		p.log.Warn("lockout: sending user_locked_out", "error", err)
	}
}

// masked returns log attributes for c with sensitive fields masked, as
// django-axes masks them.
func (p *Plugin) masked(c Client, extra ...any) []any {
	mask := func(field, v string) string {
		if p.settings.Sensitive[field] {
			return "********************"
		}
		return v
	}
	return append([]any{
		"username", mask(FieldUsername, c.Username),
		"ip_address", mask(FieldIPAddress, c.IPAddress),
		"user_agent", mask(FieldUserAgent, c.UserAgent),
	}, extra...)
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

// Interface guards.
var (
	_ sdk.Plugin         = (*Plugin)(nil)
	_ sdk.Authenticator  = (*Plugin)(nil)
	_ sdk.SignalReceiver = (*Plugin)(nil)
)
