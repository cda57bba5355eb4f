package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// redirectHelper is a redirect authenticator and nothing else. Begin's
// state "slow" waits for the call's deadline and "exit" kills the
// process; Complete's code "good" vouches for a user and "refuse" is an
// error; Refresh takes "rt" alone.
type redirectHelper struct{}

// redirectExpiry is the expiry the helper reports.
var redirectExpiry = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

func (redirectHelper) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "redirect-helper", Version: "test"}
}

func (redirectHelper) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	return req.DecodeConfig(&struct{}{})
}

func (redirectHelper) Begin(ctx context.Context, req *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	switch req.State {
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	case "exit":
		os.Exit(3)
	}
	q := url.Values{"state": {req.State}, "redirect_uri": {req.RedirectURL}, "code_challenge": {req.CodeChallenge}, "nonce": {req.Nonce}}
	return &redirect.BeginResponse{URL: "https://idp.example/authorize?" + q.Encode()}, nil
}

func (redirectHelper) Complete(_ context.Context, req *redirect.CompleteRequest) (*redirect.CompleteResponse, error) {
	switch req.Code {
	case "good":
		return &redirect.CompleteResponse{
			Identity:     &redirect.Identity{Subject: "idp|" + req.Nonce, Username: "alice", Roles: []string{"ops"}, Provisioning: redirect.ProvisionLink},
			RefreshToken: "rt", Expiry: redirectExpiry,
		}, nil
	case "refuse":
		return nil, sdk.ErrPermissionDenied
	}
	return &redirect.CompleteResponse{Failure: redirect.FailureInvalidGrant, Description: "unknown code"}, nil
}

func (redirectHelper) Refresh(_ context.Context, req *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	if req.RefreshToken != "rt" {
		return &redirect.RefreshResponse{Failure: redirect.FailureInvalidGrant}, nil
	}
	return &redirect.RefreshResponse{RefreshToken: "rt2", Expiry: redirectExpiry}, nil
}

var _ redirect.Authenticator = redirectHelper{}

// backendCapabilities are the capabilities host.New accepts a backend for.
var backendCapabilities = []hostside.Capability{hostside.Authenticator, hostside.AttemptLimiter, hostside.AuthorizationRequest, hostside.Redirect}

// A backend that is only a redirect authenticator starts where one is
// accepted, is called through its Instance across the process boundary
// within the caller's deadline, and fails with ErrBackendDown once
// stopped.
func TestRedirectAuthenticator(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	calls := map[string]int{}
	opts := testOptions(slog.New(slog.DiscardHandler), modeRedirect)
	opts.OnCall = func(instance, direction, method string) {
		mu.Lock()
		defer mu.Unlock()
		if direction == ToPlugin {
			calls[method]++
		}
	}
	s := New(opts)
	t.Cleanup(s.Stop)
	spec := Spec{Name: "idp", Plugin: "helper", Config: emptyConfig, Host: newTestHost(), AnyOf: backendCapabilities}
	if err := s.Start(ctx, []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	inst := s.Instance("idp")
	if info := inst.Status().Info; !info.Has(hostside.Redirect) || len(info.Capabilities) != 1 {
		t.Fatalf("capabilities %v, want redirect_authenticator alone", info.Capabilities)
	}

	b := inst.RedirectAuthenticator()
	began, err := b.Begin(ctx, &redirect.BeginRequest{State: "st", RedirectURL: "https://auth.example/cb", CodeChallenge: "ch", Nonce: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(began.URL)
	if err != nil || u.Query().Get("state") != "st" || u.Query().Get("redirect_uri") != "https://auth.example/cb" ||
		u.Query().Get("code_challenge") != "ch" || u.Query().Get("nonce") != "n1" {
		t.Fatalf("Begin: %q, %v", began.URL, err)
	}

	done, err := b.Complete(ctx, &redirect.CompleteRequest{Code: "good", CodeVerifier: "v", Nonce: "n1"})
	if err != nil || done.Identity == nil || done.Identity.Subject != "idp|n1" || done.Identity.Username != "alice" ||
		done.RefreshToken != "rt" || !done.Expiry.Equal(redirectExpiry) {
		t.Fatalf("Complete of a good code: %+v, %v", done, err)
	}
	if done, err := b.Complete(ctx, &redirect.CompleteRequest{Code: "bad"}); err != nil || done.Identity != nil || done.Failure != redirect.FailureInvalidGrant {
		t.Fatalf("Complete of a bad code: %+v, %v", done, err)
	}
	if _, err := b.Complete(ctx, &redirect.CompleteRequest{Code: "refuse"}); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Fatalf("Complete's error: %v, want sdk.ErrPermissionDenied", err)
	}
	if r, err := b.Refresh(ctx, &redirect.RefreshRequest{RefreshToken: "rt"}); err != nil || r.Failure != "" || r.RefreshToken != "rt2" || !r.Expiry.Equal(redirectExpiry) {
		t.Fatalf("Refresh: %+v, %v", r, err)
	}

	// The caller's deadline reaches the plugin: a slow call ends with it.
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := b.Begin(dctx, &redirect.BeginRequest{State: "slow"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a Begin past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a Begin with a 200ms deadline took %v", took)
	}

	mu.Lock()
	if calls["Begin"] != 2 || calls["Complete"] != 3 || calls["Refresh"] != 1 {
		t.Errorf("calls counted %v, want 2 Begin, 3 Complete and 1 Refresh", calls)
	}
	mu.Unlock()

	s.Stop()
	if _, err := b.Begin(ctx, &redirect.BeginRequest{State: "st"}); !errors.Is(err, ErrBackendDown) {
		t.Errorf("Begin after Stop: %v, want ErrBackendDown", err)
	}
	if _, err := b.Complete(ctx, &redirect.CompleteRequest{Code: "good"}); !errors.Is(err, ErrBackendDown) {
		t.Errorf("Complete after Stop: %v, want ErrBackendDown", err)
	}
	if _, err := b.Refresh(ctx, &redirect.RefreshRequest{RefreshToken: "rt"}); !errors.Is(err, ErrBackendDown) {
		t.Errorf("Refresh after Stop: %v, want ErrBackendDown", err)
	}
}

// The accessor stays valid across a restart: once the process that died
// in a call is replaced, the same value calls the new one.
func TestRedirectAuthenticatorAcrossRestart(t *testing.T) {
	ctx := context.Background()
	s := New(testOptions(slog.New(slog.DiscardHandler), modeRedirect))
	t.Cleanup(s.Stop)
	spec := Spec{Name: "idp", Plugin: "helper", Config: emptyConfig, Host: newTestHost(), AnyOf: backendCapabilities}
	if err := s.Start(ctx, []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	inst := s.Instance("idp")
	b := inst.RedirectAuthenticator()
	firstPID := inst.Status().PID
	if _, err := b.Begin(ctx, &redirect.BeginRequest{State: "exit"}); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("a Begin whose process died: %v, want sdk.ErrUnavailable", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := inst.Status()
		if st.State == StateRunning && st.PID != firstPID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r, err := b.Begin(ctx, &redirect.BeginRequest{State: "again"}); err != nil || !strings.Contains(r.URL, "state=again") {
		t.Fatalf("Begin after the restart: %+v, %v", r, err)
	}
}

// Where a link of the login chain is needed, a redirect authenticator is
// refused.
func TestRedirectAuthenticatorIsNoLink(t *testing.T) {
	s := New(testOptions(slog.New(slog.DiscardHandler), modeRedirect))
	t.Cleanup(s.Stop)
	spec := Spec{Name: "idp", Plugin: "helper", Config: emptyConfig, Host: newTestHost(),
		AnyOf: []hostside.Capability{hostside.Authenticator, hostside.AttemptLimiter}}
	err := s.Start(context.Background(), []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "implements none of the capabilities [authenticator attempt_limiter] (it implements [redirect_authenticator])") {
		t.Fatalf("got %v", err)
	}
}
