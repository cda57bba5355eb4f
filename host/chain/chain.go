// Package chain runs a login through the configured backends in order, the
// way Django walks AUTHENTICATION_BACKENDS: identity stops the chain with
// success, abstain asks the next backend, deny stops it with the backend's
// reason, and the end of the chain means invalid credentials. A backend
// that declares an attempt rule (a lockout) is enforced by the host at its
// place in the chain (package host/limiter) instead of being called.
//
// A backend that returns an error (it is down, timed out, or could not
// decide) stops the chain with a *BackendError: the login is refused as
// unavailable, never let through and never counted as a failed password —
// unless its link skips errors (on_error: skip), which treats the error as
// an abstain, logged and counted.
//
// When the caller knows how the login ended (it may still fail after the
// chain, issuing tokens), it calls Login.End: the chain settles the
// lockout attempts and tells every backend it asked that observes outcomes
// (sdk.OutcomeObserver), with the memo the backend returned.
package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Link is one backend of the chain: an Authenticator or a Limiter.
type Link struct {
	Name string
	// Authenticator answers logins; nil for a Limiter link.
	Authenticator sdk.Authenticator
	// Limiter is the backend's attempt rule, enforced by the host.
	Limiter *limiter.Limiter
	// Observer, if set, is told how each login it was asked about ended.
	Observer sdk.OutcomeObserver
	// Timeout bounds each call; the caller's deadline applies too.
	Timeout time.Duration
	// SkipErrors treats the backend's errors as abstains (on_error: skip).
	SkipErrors bool
	// Health, if set, records whether the backend's calls succeed.
	Health *Health
}

// Chain is an ordered list of backends. It is safe for concurrent use.
type Chain struct {
	links []Link
	log   *slog.Logger
	calls CallObserver // optional: ObserveCalls
}

// New returns a chain of links, asked in order, logging to log (nil:
// slog.Default).
func New(log *slog.Logger, links ...Link) *Chain {
	if log == nil {
		log = slog.Default()
	}
	return &Chain{links: links, log: log}
}

// Outcome is how the chain decided a login.
type Outcome int

// The outcomes.
const (
	// Success: a backend proved an identity.
	Success Outcome = iota + 1
	// Denied: a backend (or a lockout) stopped the chain.
	Denied
	// InvalidCredentials: every backend abstained.
	InvalidCredentials
	// Unavailable: a backend could not decide; the login fails closed.
	Unavailable
	// Busy: a lockout counter stayed full of attempts in flight for the
	// rule's longest wait; the login fails closed, uncounted.
	Busy
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Denied:
		return "denied"
	case InvalidCredentials:
		return "invalid_credentials"
	case Unavailable:
		return "unavailable"
	case Busy:
		return "busy"
	}
	return "unknown"
}

// Result is a decided login.
type Result struct {
	Outcome Outcome
	// Backend is the backend that decided: the one that granted or denied,
	// the one that could not decide, or for InvalidCredentials the last
	// one that abstained with a reason.
	Backend string
	// Identity is set on Success.
	Identity sdk.Identity
	// Reason is the deciding backend's reason code.
	Reason string
	// RetryAfter, Details, HTTPStatus and Description come from a deny.
	RetryAfter  time.Duration
	Details     map[string]any
	HTTPStatus  int
	Description string
	// Err is the *BackendError of an Unavailable outcome.
	Err error
	// Abstained lists, for InvalidCredentials, the backends that
	// abstained, in chain order, each
	// as name:reason ("name:" for no reason). Backend alone would mislead
	// whoever reads why a login failed: the last backend to abstain is
	// rarely the one that knew the user.
	Abstained []string
}

// LoginResult is how a login with this result ended, if nothing after the
// chain failed: a wrong password (every backend abstained, or one denied
// with invalid_credentials) is the only failure.
func (r Result) LoginResult() sdk.LoginResult {
	switch r.Outcome {
	case Success:
		return sdk.LoginSucceeded
	case InvalidCredentials:
		return sdk.LoginFailed
	case Denied:
		if r.Reason == sdk.ReasonInvalidCredentials {
			return sdk.LoginFailed
		}
		return sdk.LoginDenied
	}
	return sdk.LoginUnavailable
}

// BackendError is a backend that could not decide.
type BackendError struct {
	Backend string
	Err     error
}

func (e *BackendError) Error() string { return fmt.Sprintf("backend %q: %v", e.Backend, e.Err) }
func (e *BackendError) Unwrap() error { return e.Err }

// Login is one login through the chain: its Result, and what End needs.
type Login struct {
	Result Result

	chain    *Chain
	req      *sdk.AuthenticateRequest
	asked    []asked
	attempts []*limiter.Attempt
	ended    bool
}

// asked is a link the chain asked, with the memo it answered.
type asked struct {
	link *Link
	memo []byte
}

// Run runs req through the chain. The caller must call End once it knows
// how the login ended, whatever the Result.
func (c *Chain) Run(ctx context.Context, req *sdk.AuthenticateRequest) *Login {
	login := &Login{chain: c, req: req}
	login.Result = c.run(ctx, login)
	return login
}

func (c *Chain) run(ctx context.Context, login *Login) Result {
	req := login.req
	res := Result{Outcome: InvalidCredentials, Reason: sdk.ReasonInvalidCredentials}
	for i := range c.links {
		l := &c.links[i]
		if l.Limiter != nil {
			if decided, ok := c.limit(ctx, login, l, l.Limiter.Check); ok {
				return decided
			}
			continue
		}
		lctx, span := linkSpan(ctx, l)
		start := time.Now()
		resp, err := call(lctx, l, req)
		if err == nil && resp.Decision != sdk.DecisionIdentity && resp.Decision != sdk.DecisionAbstain && resp.Decision != sdk.DecisionDeny {
			err = fmt.Errorf("no decision (%v)", resp.Decision)
		}
		c.timed(l.Name, start, callResult(resp, err))
		endCallSpan(span, resp, err, l.SkipErrors && ctx.Err() == nil)
		l.Health.record(err)
		if err != nil {
			if l.SkipErrors && ctx.Err() == nil {
				c.log.WarnContext(ctx, "backend failed; skipped as if it abstained (on_error: skip)", "backend", l.Name, "request_id", req.RequestID, "error", err)
				continue
			}
			return Result{Outcome: Unavailable, Backend: l.Name, Err: &BackendError{Backend: l.Name, Err: err}}
		}
		login.asked = append(login.asked, asked{link: l, memo: resp.Memo})
		switch resp.Decision {
		case sdk.DecisionIdentity:
			return Result{Outcome: Success, Backend: l.Name, Identity: resp.Identity}
		case sdk.DecisionDeny:
			return Result{
				Outcome: Denied, Backend: l.Name, Reason: orDefault(resp.Reason, "permission_denied"),
				RetryAfter: resp.RetryAfter, Details: resp.Details, HTTPStatus: resp.HTTPStatus, Description: resp.Description,
			}
		case sdk.DecisionAbstain:
			// The end of the chain is invalid credentials whatever the
			// abstain reasons (a later backend's "not mine" must not hide
			// an earlier wrong password); the backend that gave a reason is
			// named.
			if resp.Reason != "" {
				res.Backend = l.Name
			}
			res.Abstained = append(res.Abstained, l.Name+":"+resp.Reason)
		}
	}
	return res
}

// limit enforces the rule of the limiter link l on the login with check
// (Check, or the early one), and returns the login's result if that decides
// it.
func (c *Chain) limit(ctx context.Context, login *Login, l *Link, check func(context.Context, *sdk.AuthenticateRequest) (limiter.Verdict, error)) (Result, bool) {
	lctx, span := linkSpan(ctx, l)
	start := time.Now()
	v, err := check(lctx, login.req)
	c.timed(l.Name, start, limiterResult(v, err))
	endLimiterSpan(span, v, err)
	if err != nil {
		l.Health.record(err)
		return Result{Outcome: Unavailable, Backend: l.Name, Err: &BackendError{Backend: l.Name, Err: err}}, true
	}
	l.Health.record(nil)
	login.asked = append(login.asked, asked{link: l})
	switch {
	case v.Busy:
		return Result{Outcome: Busy, Backend: l.Name, Reason: "try_again"}, true
	case v.Refusal != nil:
		r := v.Refusal
		return Result{
			Outcome: Denied, Backend: l.Name, Reason: r.Reason, RetryAfter: r.RetryAfter,
			Details: r.Details, HTTPStatus: r.Status, Description: r.Description,
		}, true
	case v.Attempt != nil:
		login.attempts = append(login.attempts, v.Attempt)
	}
	return Result{}, false
}

// RefuseEarly turns req away, before the caller takes on the cost of
// running the chain (a turn among the logins running at once), if the
// lockouts at the head of the chain refuse it without counting an
// attempt: the client is one this host has seen locked out (or its
// address is blocked). It returns nil when they do not; Run must then
// decide the login. A Login it returns is decided as Run would have
// decided it, and End must be called on it as on Run's.
func (c *Chain) RefuseEarly(ctx context.Context, req *sdk.AuthenticateRequest) *Login {
	for i := range c.links {
		l := &c.links[i]
		if l.Limiter == nil {
			break
		}
		check := l.Limiter.Early(req)
		if check == nil {
			continue
		}
		login := &Login{chain: c, req: req}
		if decided, ok := c.limit(ctx, login, l, check); ok {
			login.Result = decided
			return login
		}
	}
	return nil
}

// End records how the login ended — result, and for a success the session
// it opened — and must be called once. It settles the lockout attempts
// (a failure is counted durably before End returns) and then tells each
// backend the chain asked that observes outcomes, in chain order. An error
// means a failed login could not be counted: the caller must not answer it
// as a wrong password, but fail closed.
func (l *Login) End(ctx context.Context, result sdk.LoginResult, sessionID string) error {
	if l.ended {
		return errors.New("chain: login ended twice")
	}
	l.ended = true
	var errs []error
	for _, a := range l.attempts {
		start := time.Now()
		err := a.End(ctx, result, sessionID)
		l.chain.timed(a.Backend(), start, settleResult(err))
		errs = append(errs, err)
	}
	for _, a := range l.asked {
		if a.link.Observer == nil {
			continue
		}
		o := &sdk.Outcome{
			RequestID: l.req.RequestID, Result: result, Username: l.req.Username, Client: l.req.Client,
			Backend: l.Result.Backend, Reason: l.Result.Reason, Memo: a.memo,
		}
		if result == sdk.LoginSucceeded {
			o.Subject = l.Result.Identity.Subject
		}
		l.chain.observe(ctx, a.link, o)
	}
	return errors.Join(errs...)
}

// SuccessWrites returns, for each lockout that admitted the login, its
// settlement as a success, as writes for the transaction that stores the
// login's session to make (tokens.Issuer.Issue): one commit for both. End
// must still be called: with sdk.LoginSucceeded once that transaction has
// committed (it settles nothing again), or with another result if it
// failed.
func (l *Login) SuccessWrites() []storage.SessionWrite {
	writes := make([]storage.SessionWrite, len(l.attempts))
	for i, a := range l.attempts {
		writes[i] = a.SuccessWrite()
	}
	return writes
}

// observe tells one backend the outcome; its failure changes nothing.
func (c *Chain) observe(ctx context.Context, l *Link, o *sdk.Outcome) {
	ctx = context.WithoutCancel(ctx)
	if l.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Timeout)
		defer cancel()
	}
	if err := l.Observer.LoginEnded(ctx, o); err != nil {
		c.log.WarnContext(ctx, "backend could not take the login's outcome", "backend", l.Name, "request_id", o.RequestID, "result", o.Result.String(), "error", err)
	}
}

func call(ctx context.Context, l *Link, req *sdk.AuthenticateRequest) (sdk.AuthenticateResponse, error) {
	if l.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Timeout)
		defer cancel()
	}
	var resp sdk.AuthenticateResponse
	err := l.Authenticator.Authenticate(ctx, req, &resp)
	if err == nil && ctx.Err() != nil {
		// The answer came too late to trust the caller still waits for it.
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", l.Timeout, err)
	}
	return resp, err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
