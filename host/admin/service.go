// Package admin is what an admin can do: log in, and read and change the
// host's users, roles, lockouts, plugins and signal deliveries. The admin
// API (package httpapi) and the admin web page call the same Service, so
// the page is never a second implementation of a rule.
//
// Admins are accounts of their own (the admins table), apart from the
// users that log in to apps: no user's token, cookie or app key is an
// admin's credential. An admin logs in through the configured lockout
// rules, counted apart from users' logins (each limiter backend has a twin
// named "<backend>@admin"), and gets a browser session; automation uses
// admin tokens. Every change an admin makes is sent as a signal naming the
// admin (admin_action, and the lback admin_* signals for registrations,
// logins and logouts).
package admin

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/plugins/password"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Sender is the sender of the signals the admin subsystem sends.
const Sender = "admin"

// TwinSuffix names the limiter twin that counts admin logins: the lockout
// backend "lockout" counts admins' logins as "lockout@admin".
const TwinSuffix = "@admin"

// Session lifetimes. An admin session is shorter than a user's: it can
// change every account.
const (
	SessionIdle = 30 * time.Minute
	SessionMax  = 12 * time.Hour
)

// Prefixes of the admin's secrets: a token, and a session cookie's value.
const (
	TokenPrefix   = "pcat_"
	sessionPrefix = "pcas_"
)

// Emitter sends the host's signals.
type Emitter interface {
	Emit(ctx context.Context, sender string, args any) string
}

// Options are the parts of the host a Service works on.
type Options struct {
	Store *storage.Store
	// Signals receives the admin and audit signals.
	Signals Emitter
	Logger  *slog.Logger
	// Limiters are the admin-login twins of the chain's limiter
	// backends, in chain order.
	Limiters []chain.Link
	// LockoutBackends are the limiter backends of users' logins, whose
	// counters and access logs admins read and reset (their twins are
	// added).
	LockoutBackends []string
	// HashPassword hashes a user's password with the password backend
	// (users' hashes are the password backend's to make); nil: setting
	// users' passwords is not available.
	HashPassword func(ctx context.Context, password string) (string, error)
	// AuthRequests runs authorization requests (nil: none).
	AuthRequests *authreq.Service
	// Devices is the device backend's commands (nil: no devices).
	Devices sdk.Admin
	// Plugins reports the plugins' states (nil: none).
	Plugins func() []supervisor.Status
	// OnLogout, if set, is told of each user session an admin's change
	// ended.
	OnUserSessionsEnded func(ctx context.Context, userID string, sessions []string)
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Service is the admin subsystem. It is safe for concurrent use.
type Service struct {
	opts  Options
	log   *slog.Logger
	login *chain.Chain
	// dummy is a hash of a password nobody knows, verified for an unknown
	// admin name so that a wrong name costs what a wrong password does.
	dummy func() string
}

// New returns the admin service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, log: opts.Logger}
	s.dummy = sync.OnceValue(func() string {
		h, err := password.Hash(randomSecret(), password.DefaultArgon2Params)
		if err != nil {
			panic("admin: hashing a dummy password: " + err.Error())
		}
		return h
	})
	links := append([]chain.Link{}, opts.Limiters...)
	links = append(links, chain.Link{Name: Sender, Authenticator: authenticator{s}, Timeout: 10 * time.Second})
	s.login = chain.New(opts.Logger, links...)
	return s
}

// Store returns the database the service works on.
func (s *Service) Store() *storage.Store { return s.opts.Store }

// Caller is an authenticated admin.
type Caller struct {
	AdminID  string
	Username string
	// Via is "session" or "token".
	Via string
	// SessionID is the admin session's id (Via "session").
	SessionID string
	// TokenName is the admin token's name (Via "token").
	TokenName string
}

// Errors the HTTP layer maps to answers.
var (
	// ErrUnauthenticated: no admin credential, or one that is not valid.
	ErrUnauthenticated = errors.New("admin authentication required")
	// ErrUnavailable: a part the operation needs is not configured.
	ErrUnavailable = errors.New("not available")
)

func (s *Service) emit(ctx context.Context, args any) { s.opts.Signals.Emit(ctx, Sender, args) }
