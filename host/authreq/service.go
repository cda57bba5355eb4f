// Package authreq runs authorization requests: one user asked to approve
// one operation ("approve this transfer of 500 EUR") or to prove a second
// factor (slug "2FA"), with django-auth-token's states and signals and
// without its holes.
//
// The host owns each request and its state machine (waiting, then granted,
// denied, cancelled or expired, never changing again); a backend plugin
// (sdk.AuthorizationRequestBackend) prepares the challenge, such as a code
// it delivers, and judges answers. Every change of state is one
// conditional statement in the database (package storage), so two hosts
// sharing PostgreSQL never both decide one request, an expired request is
// never granted, and authorization_expired is sent once per request. After
// MaxWrongAnswers wrong answers the next one denies the request.
package authreq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	sdkreq "github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// Emitter sends the host's signals.
type Emitter interface {
	Emit(ctx context.Context, sender string, args any) string
}

// Options configure a Service.
type Options struct {
	Store *storage.Store
	// Backends prepare and check challenges, by backend name.
	Backends map[string]sdk.AuthorizationRequestBackend
	// Order is the backends' names in configuration order.
	Order []string
	// Watched are the backends whose requests devices long-poll for: a
	// request of theirs is announced to the polls of every host.
	Watched           []string
	DefaultExpiration time.Duration
	MaxExpiration     time.Duration
	MaxWrongAnswers   int
	// CallTimeout bounds each call to a backend (default 10s).
	CallTimeout time.Duration
	Signals     Emitter
	Logger      *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Service runs authorization requests. It is safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger
}

// New returns the service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	return &Service{opts: opts, log: opts.Logger}
}

// Errors the HTTP layer maps to answers; each wraps an sdk sentinel.
var (
	// ErrNotWaiting: the request was already decided or has expired (409).
	ErrNotWaiting = fmt.Errorf("the authorization request is not waiting: %w", sdk.ErrConflict)
	// ErrUnavailable: a backend could not prepare or check (503).
	ErrUnavailable = errors.New("the authorization-request backend is unavailable")
)

// Input bounds.
const (
	maxSlug        = 64
	maxTitle       = 255
	maxDescription = 2048
	maxData        = 16 << 10
	maxCode        = 256
)

// NewRequest is what an app asks for.
type NewRequest struct {
	Slug        string
	User        string // a username
	Title       string
	Description string
	Data        json.RawMessage
	Backend     string
	Expiration  time.Duration
	// App is the app key's name; SessionID binds the request to a
	// session ("" for none).
	App, SessionID string
}

func validText(name, v string, limit int, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("%s is required: %w", name, sdk.ErrInvalidArgument)
	case len(v) > limit:
		return fmt.Errorf("%s is longer than %d bytes: %w", name, limit, sdk.ErrInvalidArgument)
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\n' && r != '\t' || r == 0x7f }):
		return fmt.Errorf("%s must be text without control characters: %w", name, sdk.ErrInvalidArgument)
	}
	return nil
}

// validSlug checks a slug: 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'. It is
// a signal's sender, so receivers may subscribe to one.
func validSlug(s string) error {
	if s == "" || len(s) > maxSlug || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) >= 0 {
		return fmt.Errorf("slug must be 1 to %d of A-Z, a-z, 0-9, '.', '_' and '-': %w", maxSlug, sdk.ErrInvalidArgument)
	}
	return nil
}

// backend picks the request's backend: the one named, or the only one.
func (s *Service) backend(name string) (string, sdk.AuthorizationRequestBackend, error) {
	if name == "" {
		switch len(s.opts.Order) {
		case 0:
			return "", nil, fmt.Errorf("no authorization-request backend is configured: %w", ErrUnavailable)
		case 1:
			name = s.opts.Order[0]
		default:
			return "", nil, fmt.Errorf("several authorization-request backends are configured (%s): name one in backend: %w",
				strings.Join(s.opts.Order, ", "), sdk.ErrInvalidArgument)
		}
	}
	b, ok := s.opts.Backends[name]
	if !ok {
		return "", nil, fmt.Errorf("no authorization-request backend named %q (there are: %s): %w", name, strings.Join(s.opts.Order, ", "), sdk.ErrInvalidArgument)
	}
	return name, b, nil
}

// Store returns the database the service works on.
func (s *Service) Store() *storage.Store { return s.opts.Store }

// Create makes a waiting request for user and has its backend prepare the
// challenge (deliver a code). Nothing is stored when the backend fails.
// The slug 2FA is the host's own (two-factor logins): an app may not use
// it.
func (s *Service) Create(ctx context.Context, in NewRequest) (storage.AuthRequest, error) {
	if err := validSlug(in.Slug); err != nil {
		return storage.AuthRequest{}, err
	}
	if strings.EqualFold(in.Slug, Slug2FA) {
		return storage.AuthRequest{}, fmt.Errorf("the slug %s is the host's own, for two-factor logins: %w", Slug2FA, sdk.ErrInvalidArgument)
	}
	for _, f := range []struct {
		name, v  string
		limit    int
		required bool
	}{{"title", in.Title, maxTitle, true}, {"description", in.Description, maxDescription, false}, {"user", in.User, 255, true}} {
		if err := validText(f.name, f.v, f.limit, f.required); err != nil {
			return storage.AuthRequest{}, err
		}
	}
	if len(in.Data) > maxData {
		return storage.AuthRequest{}, fmt.Errorf("data is larger than %d bytes: %w", maxData, sdk.ErrInvalidArgument)
	}
	if len(in.Data) > 0 && (in.Data[0] != '{' || !json.Valid(in.Data)) {
		return storage.AuthRequest{}, fmt.Errorf("data must be a JSON object: %w", sdk.ErrInvalidArgument)
	}
	exp, err := s.expiration(in.Expiration)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	name, backend, err := s.backend(in.Backend)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	user, err := s.opts.Store.UserByUsername(ctx, in.User)
	if errors.Is(err, sdk.ErrNotFound) || (err == nil && user.Disabled) {
		return storage.AuthRequest{}, fmt.Errorf("no active user %q: %w", in.User, sdk.ErrInvalidArgument)
	}
	if err != nil {
		return storage.AuthRequest{}, err
	}
	r := storage.AuthRequest{ID: uuid.NewString(), Slug: in.Slug, UserID: user.ID, Username: user.Username, Title: in.Title,
		Description: in.Description, Backend: name, App: in.App, SessionID: in.SessionID, ExpiresAt: s.opts.Now().Add(exp)}
	if len(in.Data) > 0 {
		r.Data = in.Data
	}
	return s.open(ctx, backend, r)
}

// open has b prepare r's challenge, stores r waiting with it, and sends
// authorization_requested. Nothing is stored when b fails.
func (s *Service) open(ctx context.Context, b sdk.AuthorizationRequestBackend, r storage.AuthRequest) (storage.AuthRequest, error) {
	ch, err := s.prepare(ctx, b, r)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	r.Challenge, r.Delivery = ch.State, ch.Delivery
	if r, err = s.opts.Store.CreateAuthRequest(ctx, r); err != nil {
		return storage.AuthRequest{}, err
	}
	s.announce(ctx, r)
	s.opts.Signals.Emit(ctx, r.Slug, &signals.AuthorizationRequested{AuthorizationRequest: sigArgs(r), Title: r.Title, ExpiresAt: r.ExpiresAt})
	return r, nil
}

// announce wakes the long polls of r's user when devices poll for r's
// backend.
func (s *Service) announce(ctx context.Context, r storage.AuthRequest) {
	if slices.Contains(s.opts.Watched, r.Backend) {
		s.opts.Store.AnnounceAuthRequest(ctx, r.UserID)
	}
}

// backendOf is the backend that prepared r's challenge.
func (s *Service) backendOf(r storage.AuthRequest) (sdk.AuthorizationRequestBackend, error) {
	b, ok := s.opts.Backends[r.Backend]
	if !ok {
		return nil, fmt.Errorf("backend %q of the request is no longer configured: %w", r.Backend, ErrUnavailable)
	}
	return b, nil
}

func (s *Service) expiration(d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return s.opts.DefaultExpiration, nil
	case d < time.Second || d > s.opts.MaxExpiration:
		return 0, fmt.Errorf("expiration must be from 1 second to %s: %w", s.opts.MaxExpiration, sdk.ErrInvalidArgument)
	}
	return d, nil
}

// sdkRequest is the request as a backend sees it.
func sdkRequest(r storage.AuthRequest) *sdkreq.Request {
	return &sdkreq.Request{ID: r.ID, Slug: r.Slug, UserID: r.UserID, Username: r.Username, Title: r.Title,
		Description: r.Description, Data: r.Data, ExpiresAt: r.ExpiresAt, Generation: r.Generation}
}

// prepare has the backend prepare r's challenge; any failure is
// ErrUnavailable (logged), never a request without a challenge.
func (s *Service) prepare(ctx context.Context, b sdk.AuthorizationRequestBackend, r storage.AuthRequest) (sdkreq.Challenge, error) {
	cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	ch, err := b.PrepareChallenge(cctx, sdkRequest(r))
	if err == nil && len(ch.State) > sdkreq.MaxState {
		err = fmt.Errorf("the challenge's state is %d bytes, more than %d", len(ch.State), sdkreq.MaxState)
	}
	if err != nil {
		s.log.Warn("an authorization-request backend could not prepare a challenge", "backend", r.Backend, "request", r.ID, "error", err)
		return sdkreq.Challenge{}, fmt.Errorf("backend %q could not prepare the challenge: %w", r.Backend, ErrUnavailable)
	}
	return ch, nil
}

func sigArgs(r storage.AuthRequest) signals.AuthorizationRequest {
	return signals.AuthorizationRequest{AuthorizationRequestID: r.ID, Slug: r.Slug, UserID: r.UserID, Backend: r.Backend}
}

// Get returns a request as it stands: one whose time is up reads expired
// (and is marked so, sending authorization_expired if this call did).
func (s *Service) Get(ctx context.Context, id string) (storage.AuthRequest, error) {
	r, err := s.opts.Store.AuthRequestByID(ctx, id)
	if err != nil {
		return r, err
	}
	return s.settle(ctx, r)
}

// settle marks a waiting request whose time is up expired.
func (s *Service) settle(ctx context.Context, r storage.AuthRequest) (storage.AuthRequest, error) {
	now := s.opts.Now()
	if r.State != storage.AuthRequestWaiting || now.Before(r.ExpiresAt) {
		return r, nil
	}
	expired, did, err := s.opts.Store.ExpireAuthRequest(ctx, r.ID, now)
	if err != nil {
		return r, err
	}
	if did {
		s.expired(ctx, expired)
		return expired, nil
	}
	return s.opts.Store.AuthRequestByID(ctx, r.ID)
}

func (s *Service) expired(ctx context.Context, r storage.AuthRequest) {
	s.opts.Signals.Emit(ctx, r.Slug, &signals.AuthorizationExpired{AuthorizationRequest: sigArgs(r)})
}

// ExpireDue marks the requests whose time is up expired, a batch at a
// time, and sends authorization_expired for each (once, whichever host
// marks it). It returns how many it marked.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	total := 0
	for {
		batch, err := s.opts.Store.ExpireAuthRequests(ctx, s.opts.Now(), 500)
		if err != nil {
			return total, err
		}
		for _, r := range batch {
			s.expired(ctx, r)
		}
		total += len(batch)
		if len(batch) < 500 {
			return total, nil
		}
	}
}

// Check judges an answer without deciding the request. A wrong answer is
// counted, and the one past MaxWrongAnswers denies the request (reason
// too_many_attempts). A request that is not waiting answers ErrNotWaiting.
func (s *Service) Check(ctx context.Context, id string, answer sdkreq.Answer) (bool, storage.AuthRequest, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return false, r, err
	}
	if r.State != storage.AuthRequestWaiting {
		return false, r, ErrNotWaiting
	}
	if err := s.boundSessionLives(ctx, r); err != nil {
		return false, r, err
	}
	if len(answer.Code) > maxCode {
		answer.Code = answer.Code[:maxCode] // still judged, and wrong: no code is that long
	}
	b, err := s.backendOf(r)
	if err != nil {
		return false, r, err
	}
	valid := false
	if answer.Code != "" || len(answer.Credentials) > 0 {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		v, err := b.CheckAnswer(cctx, sdkRequest(r), r.Challenge, answer)
		cancel()
		if err != nil {
			s.log.Warn("an authorization-request backend could not check an answer", "backend", r.Backend, "request", r.ID, "error", err)
			return false, r, fmt.Errorf("backend %q could not check the answer: %w", r.Backend, ErrUnavailable)
		}
		if v.Valid {
			// The answer counts only if nothing changed the request since
			// it was read: of two answers with one single-use code, one.
			if len(v.State) > sdkreq.MaxState {
				return false, r, fmt.Errorf("backend %q returned a state of %d bytes: %w", r.Backend, len(v.State), ErrUnavailable)
			}
			valid, err = s.opts.Store.AcceptAnswer(ctx, r.ID, r.Version, v.State, s.opts.Now())
			if err != nil {
				return false, r, err
			}
		}
	}
	if valid {
		return true, r, nil
	}
	r, denied, err := s.opts.Store.RejectAnswer(ctx, r.ID, s.opts.MaxWrongAnswers, s.opts.Now())
	if err != nil {
		return false, r, err
	}
	if denied {
		s.opts.Signals.Emit(ctx, r.Slug, &signals.AuthorizationDenied{AuthorizationRequest: sigArgs(r)})
	}
	return false, r, nil
}

// Decide grants, denies or cancels a waiting request; reason records who
// decided ("app", "admin", "cli"). A request that is not waiting (decided,
// or expired) is ErrNotWaiting, with the request as it stands.
func (s *Service) Decide(ctx context.Context, id, to, reason string) (storage.AuthRequest, error) {
	if to == storage.AuthRequestGranted {
		r, err := s.Get(ctx, id)
		if err != nil {
			return r, err
		}
		if err := s.boundSessionLives(ctx, r); err != nil {
			return r, err
		}
	}
	r, won, err := s.opts.Store.DecideAuthRequest(ctx, id, to, reason, s.opts.Now())
	if err != nil {
		return r, err
	}
	if !won {
		if r, err = s.settle(ctx, r); err != nil {
			return r, err
		}
		return r, ErrNotWaiting
	}
	args := sigArgs(r)
	switch to {
	case storage.AuthRequestGranted:
		s.opts.Signals.Emit(ctx, r.Slug, &signals.AuthorizationGranted{AuthorizationRequest: args})
	case storage.AuthRequestDenied:
		s.opts.Signals.Emit(ctx, r.Slug, &signals.AuthorizationDenied{AuthorizationRequest: args})
	case storage.AuthRequestCancelled:
		s.opts.Signals.Emit(ctx, r.Slug, &signals.AuthorizationCancelled{AuthorizationRequest: args})
	}
	return r, nil
}

// Reset gives a waiting request a new challenge (the old code dies, the
// wrong answers are forgotten) and a new expiry.
func (s *Service) Reset(ctx context.Context, id string, expiration time.Duration) (storage.AuthRequest, error) {
	exp, err := s.expiration(expiration)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return r, err
	}
	if r.State != storage.AuthRequestWaiting {
		return r, ErrNotWaiting
	}
	b, err := s.backendOf(r)
	if err != nil {
		return r, err
	}
	next := r
	next.Generation++
	next.ExpiresAt = s.opts.Now().Add(exp)
	ch, err := s.prepare(ctx, b, next)
	if err != nil {
		return r, err
	}
	reset, ok, err := s.opts.Store.ResetAuthRequest(ctx, r.ID, r.Version, ch.State, ch.Delivery, next.ExpiresAt, s.opts.Now())
	if err != nil {
		return r, err
	}
	if !ok {
		r, _ = s.Get(ctx, id)
		return r, fmt.Errorf("the authorization request changed while it was reset; try again: %w", sdk.ErrConflict)
	}
	s.announce(ctx, reset)
	s.opts.Signals.Emit(ctx, reset.Slug, &signals.AuthorizationRequested{AuthorizationRequest: sigArgs(reset), Title: reset.Title, ExpiresAt: reset.ExpiresAt})
	return reset, nil
}

// ErrSessionEnded: the request is bound to a session that has ended; it
// can no longer be answered or granted (409).
var ErrSessionEnded = fmt.Errorf("the session the authorization request is bound to has ended: %w", sdk.ErrConflict)

// boundSessionLives checks that a request bound to a session is answered
// while the session lives.
func (s *Service) boundSessionLives(ctx context.Context, r storage.AuthRequest) error {
	if r.SessionID == "" {
		return nil
	}
	sess, err := s.opts.Store.SessionByID(ctx, r.SessionID)
	if errors.Is(err, sdk.ErrNotFound) {
		return ErrSessionEnded
	}
	if err != nil {
		return err
	}
	if !sess.Active(s.opts.Now()) {
		return ErrSessionEnded
	}
	return nil
}

// List returns a page of the requests q selects, newest first.
func (s *Service) List(ctx context.Context, q storage.AuthRequestQuery) ([]storage.AuthRequest, int64, error) {
	if q.State != "" && !slices.Contains([]string{storage.AuthRequestWaiting, storage.AuthRequestGranted, storage.AuthRequestDenied,
		storage.AuthRequestCancelled, storage.AuthRequestExpired}, q.State) {
		return nil, 0, fmt.Errorf("state must be waiting, granted, denied, cancelled or expired: %w", sdk.ErrInvalidArgument)
	}
	return s.opts.Store.QueryAuthRequests(ctx, q)
}
