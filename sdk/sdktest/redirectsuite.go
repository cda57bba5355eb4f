package sdktest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// RedirectSuite is the conformance suite for redirect authenticators
// (redirect.Authenticator). Every first-party one runs it; third-party
// ones should too. The suite plays the host: it makes each flow's state,
// PKCE verifier and nonce as the host does, and hands them to the backend.
type RedirectSuite struct {
	// New returns a fresh, unconfigured plugin.
	New func() sdk.Plugin
	// Config is a valid configuration for it (nil means "{}"), naming the
	// test's provider (such as an httptest server).
	Config json.RawMessage
	// Host returns the host the plugin runs against (nil means an empty
	// MemoryHost).
	Host func(t testing.TB) sdk.Host
	// RedirectURL is the host's callback the suite gives Begin and
	// Complete; empty gives none, for a backend that is configured with
	// its own.
	RedirectURL string
	// SignIn, if set, plays a user who signs in at the provider: given the
	// URL Begin returned, it returns the code the provider sends back to
	// the callback (the test's provider issues it). Without it, the suite
	// does not check sign-ins that succeed.
	SignIn func(t testing.TB, authorizeURL string) (code string)
}

// Run runs the suite as subtests of t. It checks that:
//   - the plugin implements redirect.Authenticator and has a name and a
//     version, and refuses an unknown configuration field;
//   - Begin returns an http(s) URL whose query carries the state, the
//     PKCE challenge (code_challenge_method S256), the nonce and the
//     callback (redirect_uri, if RedirectURL is set) it was given, and
//     not the verifier;
//   - Complete of an empty, garbage or hostile code, and Refresh of a
//     garbage or hostile token, are Failures, not errors, with no
//     identity or token, and name no secret;
//   - nothing panics on zero or nil requests, and none of them gets an
//     identity or a refresh (an error is allowed); a call whose deadline
//     has passed returns without an identity;
//   - with SignIn: a signed-in user's code gives an identity with a
//     subject and a provisioning policy (and its refresh token, if any,
//     refreshes), and a code is refused with another flow's verifier or
//     nonce.
func (s RedirectSuite) Run(t *testing.T) {
	t.Run("Metadata", func(t *testing.T) {
		checkMetadata(t, StartUnconfigured(t, s.New(), s.host(t)), hostside.Redirect, "redirect.Authenticator")
	})

	t.Run("UnknownConfigFieldIsRejected", func(t *testing.T) {
		checkUnknownFieldRejected(t, StartUnconfigured(t, s.New(), s.host(t)), s.Config)
	})

	t.Run("BeginCarriesTheFlow", func(t *testing.T) {
		b := s.start(t)
		first, second := newFlow(), newFlow()
		for _, f := range []flow{first, second} {
			u := begin(t, b, f, s.RedirectURL)
			for _, p := range judgeAuthorizeURL(u, f, s.RedirectURL) {
				t.Error(p)
			}
		}
	})

	t.Run("EmptyOrGarbageCodeIsAFailure", func(t *testing.T) {
		b := s.start(t)
		f := newFlow()
		for _, code := range append([]string{""}, garbage()...) {
			resp, err := b.Complete(context.Background(), f.complete(s.RedirectURL, code))
			for _, p := range judgeCompleteFailure(resp, err, code, f.verifier) {
				t.Errorf("Complete of the code %q: %s", truncate(code), p)
			}
		}
	})

	t.Run("GarbageRefreshTokenIsAFailure", func(t *testing.T) {
		b := s.start(t)
		for _, token := range garbage() {
			resp, err := b.Refresh(context.Background(), &redirect.RefreshRequest{RefreshToken: token})
			for _, p := range judgeRefreshFailure(resp, err, token) {
				t.Errorf("Refresh of the token %q: %s", truncate(token), p)
			}
		}
	})

	t.Run("ZeroValuesDoNotPanic", func(t *testing.T) {
		b := s.start(t)
		for _, p := range zeroCalls(b) {
			t.Error(p)
		}
	})

	t.Run("ExpiredDeadlineReturns", func(t *testing.T) {
		b := s.start(t)
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := b.Complete(ctx, newFlow().complete(s.RedirectURL, "code-after-the-deadline"))
			if err == nil && resp.Identity != nil {
				t.Error("a Complete whose deadline had passed vouched for a user")
			}
		}()
		select {
		case <-done:
		case <-time.After(hangLimit):
			t.Fatal("Complete did not return for a context whose deadline had passed")
		}
	})

	t.Run("SignInGivesAnIdentity", func(t *testing.T) {
		b, f, code := s.signIn(t)
		resp, err := b.Complete(context.Background(), f.complete(s.RedirectURL, code))
		if err != nil {
			t.Fatalf("Complete of a signed-in user's code: %v", err)
		}
		for _, p := range judgeIdentity(resp, code, f.verifier) {
			t.Error(p)
		}
		if resp.RefreshToken == "" {
			return
		}
		r, err := b.Refresh(context.Background(), &redirect.RefreshRequest{RefreshToken: resp.RefreshToken})
		if err != nil || r.Failure != "" {
			t.Errorf("Refresh of the token Complete returned: %+v, %v", r, err)
		}
	})

	t.Run("CodeIsBoundToItsVerifier", func(t *testing.T) {
		b, f, code := s.signIn(t)
		other := f.complete(s.RedirectURL, code)
		other.CodeVerifier = newFlow().verifier
		resp, err := b.Complete(context.Background(), other)
		for _, p := range judgeCompleteFailure(resp, err, code, f.verifier, other.CodeVerifier) {
			t.Errorf("Complete with another flow's verifier: %s", p)
		}
	})

	t.Run("CodeIsBoundToItsNonce", func(t *testing.T) {
		b, f, code := s.signIn(t)
		other := f.complete(s.RedirectURL, code)
		other.Nonce = newFlow().nonce
		resp, err := b.Complete(context.Background(), other)
		for _, p := range judgeCompleteFailure(resp, err, code, f.verifier) {
			t.Errorf("Complete with another flow's nonce: %s", p)
		}
	})
}

func (s RedirectSuite) host(t testing.TB) sdk.Host {
	if s.Host == nil {
		return NewMemoryHost()
	}
	return s.Host(t)
}

func (s RedirectSuite) start(t *testing.T) redirect.Authenticator {
	t.Helper()
	return Start(t, s.New(), s.Config, s.host(t)).RedirectAuthenticator()
}

// signIn starts the plugin, begins a flow and has SignIn sign a user in.
func (s RedirectSuite) signIn(t *testing.T) (redirect.Authenticator, flow, string) {
	t.Helper()
	if s.SignIn == nil {
		t.Skip("RedirectSuite.SignIn is not set")
	}
	b := s.start(t)
	f := newFlow()
	code := s.SignIn(t, begin(t, b, f, s.RedirectURL))
	if code == "" {
		t.Fatal("SignIn returned no code")
	}
	return b, f, code
}

// flow is what the host makes for one sign-in.
type flow struct {
	state, verifier, challenge, nonce string
}

func newFlow() flow {
	f := flow{state: randomToken(), verifier: randomToken(), nonce: randomToken()}
	sum := sha256.Sum256([]byte(f.verifier))
	f.challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	return f
}

// randomToken is 43 characters of base64url, as the host's are.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// complete is the Complete of code for f, with the host's callback
// redirectURL.
func (f flow) complete(redirectURL, code string) *redirect.CompleteRequest {
	return &redirect.CompleteRequest{RedirectURL: redirectURL, Code: code, CodeVerifier: f.verifier, Nonce: f.nonce}
}

// begin calls Begin for f and returns the URL; an error fails the test.
func begin(t testing.TB, b redirect.Authenticator, f flow, redirectURL string) string {
	t.Helper()
	resp, err := b.Begin(context.Background(), &redirect.BeginRequest{
		State: f.state, RedirectURL: redirectURL, CodeChallenge: f.challenge, Nonce: f.nonce,
	})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return resp.URL
}

// judgeAuthorizeURL lists what is wrong with the URL Begin returned for f
// and the host's callback redirectURL (if any).
func judgeAuthorizeURL(raw string, f flow, redirectURL string) []string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return []string{fmt.Sprintf("Begin returned %q, not an http(s) URL", truncate(raw))}
	}
	var problems []string
	if u.User != nil {
		problems = append(problems, "Begin's URL carries user information")
	}
	q := u.Query()
	for _, want := range []struct{ param, value string }{
		{"state", f.state}, {"code_challenge", f.challenge}, {"code_challenge_method", "S256"}, {"nonce", f.nonce},
	} {
		if got := q.Get(want.param); got != want.value {
			problems = append(problems, fmt.Sprintf("Begin's URL has %s=%q, want %q", want.param, truncate(got), want.value))
		}
	}
	if got := q.Get("redirect_uri"); redirectURL != "" && got != redirectURL {
		problems = append(problems, fmt.Sprintf("Begin's URL has redirect_uri=%q, not the host's callback %q", truncate(got), redirectURL))
	}
	if strings.Contains(raw, f.verifier) {
		problems = append(problems, "Begin's URL carries the PKCE verifier")
	}
	return problems
}

// judgeCompleteFailure lists what is wrong with a Complete that must be a
// Failure naming none of secrets.
func judgeCompleteFailure(resp *redirect.CompleteResponse, err error, secrets ...string) []string {
	if err != nil {
		return []string{fmt.Sprintf("an error, not a Failure: %v", err)}
	}
	var problems []string
	if resp.Identity != nil {
		problems = append(problems, fmt.Sprintf("vouched for the user %q", resp.Identity.Subject))
	}
	if resp.Failure == "" {
		problems = append(problems, "no Failure")
	}
	if resp.RefreshToken != "" {
		problems = append(problems, "a refresh token with a Failure")
	}
	return append(problems, namesSecret(resp.Failure+" "+resp.Description, secrets)...)
}

// judgeRefreshFailure lists what is wrong with a Refresh that must be a
// Failure naming none of secrets.
func judgeRefreshFailure(resp *redirect.RefreshResponse, err error, secrets ...string) []string {
	if err != nil {
		return []string{fmt.Sprintf("an error, not a Failure: %v", err)}
	}
	var problems []string
	if resp.Failure == "" {
		problems = append(problems, "no Failure: the token was refreshed")
	}
	if resp.RefreshToken != "" {
		problems = append(problems, "a new refresh token with a Failure")
	}
	return append(problems, namesSecret(resp.Failure+" "+resp.Description, secrets)...)
}

// judgeIdentity lists what is wrong with the answer to a signed-in user's
// code.
func judgeIdentity(resp *redirect.CompleteResponse, secrets ...string) []string {
	if resp.Identity == nil {
		return []string{fmt.Sprintf("no identity for a signed-in user's code (failure %q: %s)", resp.Failure, truncate(resp.Description))}
	}
	var problems []string
	if resp.Failure != "" {
		problems = append(problems, fmt.Sprintf("an identity with the failure %q", resp.Failure))
	}
	if resp.Identity.Subject == "" {
		problems = append(problems, "an identity without a subject")
	}
	switch resp.Identity.Provisioning {
	case redirect.ProvisionLink, redirect.ProvisionCreate, redirect.ProvisionDeny:
	default:
		problems = append(problems, fmt.Sprintf("the provisioning policy %q is not link, create or deny", resp.Identity.Provisioning))
	}
	return append(problems, namesSecret(resp.Description, secrets)...)
}

// namesSecret reports the secrets text names. Secrets shorter than 8
// characters could be there by chance, and are not looked for.
func namesSecret(text string, secrets []string) []string {
	var problems []string
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(text, s) {
			problems = append(problems, fmt.Sprintf("the failure or description names the secret %q", truncate(s)))
		}
	}
	return problems
}

// zeroCalls calls b's methods with zero and nil requests, and lists the
// calls that panicked in the plugin or were answered with what the host
// must not accept; any other error is the plugin's right.
func zeroCalls(b redirect.Authenticator) []string {
	ctx := context.Background()
	var problems []string
	judge := func(call string, err error) {
		switch {
		case err == nil:
		case strings.Contains(err.Error(), "panicked"):
			problems = append(problems, fmt.Sprintf("%s panicked: %v", call, err))
		case errors.Is(err, hostside.ErrNoDecision):
			problems = append(problems, fmt.Sprintf("%s: %v", call, err))
		}
	}
	_, err := b.Begin(ctx, &redirect.BeginRequest{})
	judge("Begin of a zero request", err)
	_, err = b.Begin(ctx, nil)
	judge("Begin of nil", err)
	_, err = b.Complete(ctx, &redirect.CompleteRequest{})
	judge("Complete of a zero request", err)
	_, err = b.Complete(ctx, nil)
	judge("Complete of nil", err)
	_, err = b.Refresh(ctx, &redirect.RefreshRequest{})
	judge("Refresh of a zero request", err)
	_, err = b.Refresh(ctx, nil)
	judge("Refresh of nil", err)
	return problems
}

// garbage are codes and refresh tokens no provider issued: the backend
// must answer them with a Failure.
func garbage() []string {
	return []string{
		"garbage-that-no-provider-issued",
		strings.Repeat("9", 4096),
		"nul\x00byte",
		"ünïcödé-コード",
		"' OR 1=1 --",
		"a b&c=d#e",
	}
}
