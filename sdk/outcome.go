package sdk

import "context"

// OutcomeObserver is told how a login ended: the host calls LoginEnded on
// every backend it asked about the login (in chain order, after the chain
// decided and before the answer leaves), with the memo the backend returned
// with its answer. A backend learns outcomes only this way, never from a
// signal, which anyone subscribed could not tell from a forgery.
//
// LoginEnded runs with a deadline; an error is logged and counted by the
// host and changes nothing about the login. It must be idempotent: a host
// may call it again for the same RequestID after a retry.
type OutcomeObserver interface {
	LoginEnded(ctx context.Context, o *Outcome) error
}

// LoginResult is how a login ended.
type LoginResult int

// The results.
const (
	// LoginSucceeded: a backend proved an identity and the host answered
	// with tokens or a session.
	LoginSucceeded LoginResult = iota + 1
	// LoginFailed: wrong credentials (every backend abstained, or one
	// denied with ReasonInvalidCredentials). The only result counted as a
	// failure.
	LoginFailed
	// LoginDenied: a backend or the host's lockout refused the login.
	LoginDenied
	// LoginUnavailable: the login could not be decided (a backend errored
	// or was down, or the host could not finish it); the client got a 503.
	LoginUnavailable
)

func (r LoginResult) String() string {
	switch r {
	case LoginSucceeded:
		return "succeeded"
	case LoginFailed:
		return "failed"
	case LoginDenied:
		return "denied"
	case LoginUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// Outcome is how one login ended, as told to a backend that was asked.
type Outcome struct {
	RequestID string
	Result    LoginResult
	Username  string
	Client    Client
	// Backend is the backend that decided and Reason its reason code; both
	// empty when the host decided (e.g. it could not issue tokens).
	Backend string
	Reason  string
	// Subject is the user id, with LoginSucceeded.
	Subject string
	// Memo is what this backend returned with its answer (nil if none).
	Memo []byte
}
