package chain

import (
	"context"
	"errors"
	"time"

	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/sdk"
)

// How a call to a link ended, as a CallObserver is told
// (portcullis_backend_call_duration_seconds's result label).
const (
	// An authenticator's Authenticate.
	CallIdentity = "identity"
	CallAbstain  = "abstain"
	CallDeny     = "deny"
	CallTimeout  = "timeout"
	// A limiter's admission (Check). A login that waited the rule's
	// longest wait for room on a counter and got none is refused too.
	CallAllowed = "allowed"
	CallRefused = "refused"
	// A limiter's settlement (Attempt.End) that succeeded.
	CallSettled = "settled"
	// Any call that failed (for an authenticator, other than by its
	// timeout): the backend could not decide, or the host's database
	// failed under a limiter.
	CallError = "error"
)

// CallObserver is told of each call the chain makes to a link: the link's
// name, how the call ended (a Call* result) and how long it took. It must
// not block: it runs on the login's path.
type CallObserver func(backend, result string, took time.Duration)

// ObserveCalls makes the chain tell o of every call it makes to a link.
// Call it before the chain is used.
func (c *Chain) ObserveCalls(o CallObserver) *Chain {
	c.calls = o
	return c
}

// timed tells the chain's observer, if any, of a call that began at start.
func (c *Chain) timed(backend string, start time.Time, result string) {
	if c.calls != nil {
		c.calls(backend, result, time.Since(start))
	}
}

// callResult is how an authenticator's call ended.
func callResult(resp sdk.AuthenticateResponse, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CallTimeout
	case err != nil:
		return CallError
	case resp.Decision == sdk.DecisionIdentity:
		return CallIdentity
	case resp.Decision == sdk.DecisionDeny:
		return CallDeny
	}
	return CallAbstain
}

// limiterResult is how a limiter's admission ended.
func limiterResult(v limiter.Verdict, err error) string {
	switch {
	case err != nil:
		return CallError
	case v.Busy, v.Refusal != nil:
		return CallRefused
	}
	return CallAllowed
}

// settleResult is how a limiter's settlement ended.
func settleResult(err error) string {
	if err != nil {
		return CallError
	}
	return CallSettled
}
