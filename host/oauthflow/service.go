// Package oauthflow runs sign-ins with external providers (OAuth2's
// authorization code flow with PKCE, OpenID Connect) through redirect
// authenticator backends (package sdk/redirect).
//
// The host owns the flow. Start makes a state and a browser secret (kept
// in a cookie), stores only their SHA-256 with the backend and where to
// return, and has the backend build the provider's URL; the PKCE verifier
// and the OIDC nonce are derived from the two secrets with a key of the
// host's, so that nothing secret is stored and any host sharing the
// database finishes the flow. Callback uses the state once, for its own
// backend and browser and before it expires, has the backend exchange the
// code and read the identity, and maps it to a local user by the
// backend's provisioning policy. The provider's refresh token, sealed, is
// handed on to the session the sign-in starts, and Refresh renews it when
// that session is refreshed (package tokens asks).
package oauthflow

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// Sealer encrypts the providers' refresh tokens (tokens.Sealer is one).
// The label is bound in: a token sealed for one session's user and
// backend does not open as another's.
type Sealer interface {
	SealSecret(label string, plain []byte) []byte
	OpenSecret(label string, sealed []byte) ([]byte, error)
}

// Options configure a Service.
type Options struct {
	Store *storage.Store
	// Backends are the redirect authenticators, by backend name.
	Backends map[string]redirect.Authenticator
	// Key derives each flow's PKCE verifier and nonce: 32 secret bytes.
	Key    []byte
	Sealer Sealer
	// FlowTTL is how long a browser has between start and callback.
	FlowTTL time.Duration
	// ReturnOrigins are the origins (scheme://host[:port]) return_to may
	// name; a path on the host itself is always allowed.
	ReturnOrigins []string
	// CallTimeout bounds each call to a backend.
	CallTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Service runs the flows. It is safe for concurrent use.
type Service struct{ opts Options }

// New returns the service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FlowTTL <= 0 {
		opts.FlowTTL = 10 * time.Minute
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 15 * time.Second
	}
	return &Service{opts: opts}
}

// Errors the HTTP layer maps to answers.
var (
	// ErrUnknownBackend: no redirect backend of that name (404).
	ErrUnknownBackend = fmt.Errorf("no such OAuth2 backend: %w", sdk.ErrNotFound)
	// ErrBadReturn: return_to names a place the host does not send
	// browsers to (400).
	ErrBadReturn = fmt.Errorf("return_to must be a path on this host or a URL of a configured origin: %w", sdk.ErrInvalidArgument)
	// ErrBadGrant: grant is neither "session" nor "tokens", or a sign-in
	// that answers with tokens names a return_to (400): tokens are
	// answered as JSON, never put in a redirect.
	ErrBadGrant = fmt.Errorf("grant must be session, or tokens without return_to: %w", sdk.ErrInvalidArgument)
	// ErrBadState: the callback's state is missing, forged, expired, used,
	// another backend's or another browser's (400); nothing changed.
	ErrBadState = fmt.Errorf("the sign-in's state is not valid: start again: %w", sdk.ErrInvalidArgument)
	// ErrUnavailable: the backend could not answer (503).
	ErrUnavailable = errors.New("the OAuth2 backend is unavailable")
	// ErrNotProvisioned: the identity maps to no local user and the
	// backend's policy makes none (403).
	ErrNotProvisioned = fmt.Errorf("this identity has no account here: %w", sdk.ErrPermissionDenied)
)

// ProviderError is a provider's refusal or a failure to reach it: Type is
// the error type ("access_denied", "invalid_grant", "http_error_502",
// "timeout", ...), never a secret.
type ProviderError struct {
	Type, Description string
	// Upstream is set when the provider could not be reached or answered
	// with an error of its own (502): not the user's doing.
	Upstream bool
}

func (e *ProviderError) Error() string {
	if e.Description != "" {
		return "the provider refused the sign-in: " + e.Type + ": " + e.Description
	}
	return "the provider refused the sign-in: " + e.Type
}

// Started is a flow begun: the provider's URL to send the browser to, and
// the secret to keep in the browser's flow cookie.
type Started struct {
	URL, Browser string
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: it crashes the program first
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// derive is a flow's secret for purpose: HMAC of the browser secret and
// the state under the service's key. A PKCE verifier is 43 characters of
// base64url, as RFC 7636 allows.
func (s *Service) derive(purpose, browser, state string) string {
	m := hmac.New(sha256.New, s.opts.Key)
	m.Write([]byte(purpose + "\x00" + browser + "\x00" + state))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkReturn accepts "" , a path on this host ("/x", never "//x" or a
// backslash, which browsers read as another host), or a URL of a
// configured origin.
func (s *Service) checkReturn(to string) error {
	if to == "" {
		return nil
	}
	if len(to) > 2048 || strings.ContainsAny(to, "\\\r\n\t") {
		return ErrBadReturn
	}
	if strings.HasPrefix(to, "/") {
		if strings.HasPrefix(to, "//") {
			return ErrBadReturn
		}
		return nil
	}
	u, err := url.Parse(to)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ErrBadReturn
	}
	origin := u.Scheme + "://" + u.Host
	for _, o := range s.opts.ReturnOrigins {
		if strings.EqualFold(o, origin) {
			return nil
		}
	}
	return ErrBadReturn
}

// Start begins a flow with backend; returnTo is where the browser goes
// once signed in, and grant what the sign-in answers with:
// storage.OAuth2GrantSession ("" too) or storage.OAuth2GrantTokens.
func (s *Service) Start(ctx context.Context, backend, returnTo, grant string) (Started, error) {
	b, ok := s.opts.Backends[backend]
	if !ok {
		return Started{}, ErrUnknownBackend
	}
	if err := s.checkReturn(returnTo); err != nil {
		return Started{}, err
	}
	switch {
	case grant == "":
		grant = storage.OAuth2GrantSession
	case grant == storage.OAuth2GrantTokens && returnTo != "", grant != storage.OAuth2GrantSession && grant != storage.OAuth2GrantTokens:
		return Started{}, ErrBadGrant
	}
	state, browser := random(), random()
	cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	resp, err := b.Begin(cctx, &redirect.BeginRequest{State: state,
		CodeChallenge: challenge(s.derive("pkce", browser, state)), Nonce: s.derive("nonce", browser, state)})
	if err == nil && (resp == nil || !strings.HasPrefix(resp.URL, "http")) {
		err = errors.New("the backend answered Begin without a URL")
	}
	if err != nil {
		s.opts.Logger.Warn("an OAuth2 backend could not begin a sign-in", "backend", backend, "error", err)
		return Started{}, fmt.Errorf("backend %q: %w", backend, ErrUnavailable)
	}
	err = s.opts.Store.CreateOAuth2Flow(ctx, storage.OAuth2Flow{StateHash: hashHex(state), Backend: backend,
		BrowserHash: hashHex(browser), ReturnTo: returnTo, Grant: grant, ExpiresAt: s.opts.Now().Add(s.opts.FlowTTL)})
	if err != nil {
		return Started{}, err
	}
	return Started{URL: resp.URL, Browser: browser}, nil
}

// Finished is a sign-in the provider vouched for, mapped to a local user.
type Finished struct {
	Identity sdk.Identity
	ReturnTo string
	// Grant is what the sign-in answers with (storage.OAuth2GrantSession
	// or storage.OAuth2GrantTokens), as Start was asked.
	Grant string
	// Upstream is what the session the sign-in starts keeps of the
	// provider: the backend, its refresh token sealed for the local user
	// (nil when it gave none), and when its access token expires.
	Upstream storage.Upstream
}

// Callback finishes the flow of the callback's query q, for the browser
// whose flow cookie holds browser.
func (s *Service) Callback(ctx context.Context, backend string, q url.Values, browser string) (Finished, error) {
	b, ok := s.opts.Backends[backend]
	if !ok {
		return Finished{}, ErrUnknownBackend
	}
	state := q.Get("state")
	if state == "" || browser == "" || len(state) > 256 || len(browser) > 256 {
		return Finished{}, ErrBadState
	}
	flow, ok, err := s.opts.Store.ConsumeOAuth2Flow(ctx, hashHex(state), backend, hashHex(browser), s.opts.Now())
	if err != nil {
		return Finished{}, err
	}
	if !ok {
		return Finished{}, ErrBadState
	}
	if e := q.Get("error"); e != "" {
		return Finished{}, &ProviderError{Type: clip(e, 64), Description: clip(q.Get("error_description"), 256)}
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return Finished{}, &ProviderError{Type: "invalid_request", Description: "the callback carries no code"}
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	resp, err := b.Complete(cctx, &redirect.CompleteRequest{Code: code,
		CodeVerifier: s.derive("pkce", browser, state), Nonce: s.derive("nonce", browser, state)})
	if err != nil || resp == nil {
		s.opts.Logger.Warn("an OAuth2 backend could not complete a sign-in", "backend", backend, "error", err)
		return Finished{}, fmt.Errorf("backend %q: %w", backend, ErrUnavailable)
	}
	if resp.Identity == nil {
		t := resp.Failure
		if t == "" {
			t = redirect.FailureNoIdentity
		}
		return Finished{}, &ProviderError{Type: clip(t, 64), Description: clip(resp.Description, 256), Upstream: upstreamFailure(t)}
	}
	user, err := s.localUser(ctx, backend, resp)
	if err != nil {
		return Finished{}, err
	}
	up := storage.Upstream{Backend: backend, Expiry: resp.Expiry}
	if resp.RefreshToken != "" {
		up.RefreshToken = s.opts.Sealer.SealSecret(sessionTokenLabel(backend, user.ID), []byte(resp.RefreshToken))
	}
	return Finished{Identity: sdk.Identity{Subject: user.ID, Username: user.Username,
		Attributes: map[string]string{"oauth2_backend": backend}}, ReturnTo: flow.ReturnTo, Grant: flow.Grant, Upstream: up}, nil
}

// upstreamFailure reports whether a failure type is the provider's or the
// network's, not a refusal: a status of the provider's, a timeout, or a
// connection that could not be made.
func upstreamFailure(t string) bool {
	return strings.HasPrefix(t, "http_error_") || t == redirect.FailureTimeout || t == redirect.FailureUnreachable
}

func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n]
	}
	return s
}
