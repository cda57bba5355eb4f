// Package chain runs a login through the configured backends in order, the
// way Django walks AUTHENTICATION_BACKENDS: identity stops the chain with
// success, abstain asks the next backend, deny stops it with the backend's
// reason, and the end of the chain means invalid credentials.
//
// A backend that returns an error (it is down, timed out, or could not
// decide) stops the chain with a *BackendError: the login is refused as
// unavailable, never let through and never counted as a failed password.
package chain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Link is one backend of the chain.
type Link struct {
	Name          string
	Authenticator sdk.Authenticator
	// Timeout bounds each call; the caller's deadline applies too.
	Timeout time.Duration
	// Storage is the backend's storage namespace. With it the chain honours
	// the shortcuts the backend gives with its denies (sdk.Shortcut);
	// without it they are ignored.
	Storage sdk.Storage
}

// Chain is an ordered list of backends. It is safe for concurrent use.
type Chain struct {
	links     []Link
	shortcuts []*shortcuts // per link; nil where the link has no storage
}

// New returns a chain of links, asked in order.
func New(links ...Link) *Chain {
	c := &Chain{links: links, shortcuts: make([]*shortcuts, len(links))}
	for i, l := range links {
		if l.Storage != nil {
			c.shortcuts[i] = newShortcuts(l.Storage)
		}
	}
	return c
}

// Outcome is how a login ended.
type Outcome int

// The outcomes.
const (
	// Success: a backend proved an identity.
	Success Outcome = iota + 1
	// Denied: a backend stopped the chain.
	Denied
	// InvalidCredentials: every backend abstained.
	InvalidCredentials
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Denied:
		return "denied"
	case InvalidCredentials:
		return "invalid_credentials"
	}
	return "unknown"
}

// Result is a decided login.
type Result struct {
	Outcome Outcome
	// Backend is the backend that decided: the one that granted or denied,
	// or for InvalidCredentials the last one that abstained with a reason.
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
}

// BackendError is a backend that could not decide.
type BackendError struct {
	Backend string
	Err     error
}

func (e *BackendError) Error() string { return fmt.Sprintf("backend %q: %v", e.Backend, e.Err) }
func (e *BackendError) Unwrap() error { return e.Err }

// Authenticate runs req through the chain. A non-nil error is always a
// *BackendError, and means the login must fail closed.
func (c *Chain) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest) (Result, error) {
	res := Result{Outcome: InvalidCredentials, Reason: sdk.ReasonInvalidCredentials}
	for i, l := range c.links {
		sc := c.shortcuts[i]
		if sc != nil {
			if deny, ok := sc.answer(ctx, req); ok {
				return deny, nil
			}
		}
		resp, err := call(ctx, l, req)
		if err != nil {
			return Result{}, &BackendError{Backend: l.Name, Err: err}
		}
		switch resp.Decision {
		case sdk.DecisionIdentity:
			return Result{Outcome: Success, Backend: l.Name, Identity: resp.Identity}, nil
		case sdk.DecisionDeny:
			deny := Result{
				Outcome: Denied, Backend: l.Name, Reason: orDefault(resp.Reason, sdk.ReasonPermissionDenied),
				RetryAfter: resp.RetryAfter, Details: resp.Details, HTTPStatus: resp.HTTPStatus, Description: resp.Description,
			}
			if sc != nil {
				sc.remember(req, deny, resp.Shortcut)
			}
			return deny, nil
		case sdk.DecisionAbstain:
			// The end of the chain is invalid credentials whatever the
			// abstain reasons (a later backend's "not mine" must not hide
			// an earlier wrong password); the backend that gave a reason is
			// named.
			if resp.Reason != "" {
				res.Backend = l.Name
			}
		default:
			return Result{}, &BackendError{Backend: l.Name, Err: fmt.Errorf("no decision (%v)", resp.Decision)}
		}
	}
	return res, nil
}

func call(ctx context.Context, l Link, req *sdk.AuthenticateRequest) (sdk.AuthenticateResponse, error) {
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
