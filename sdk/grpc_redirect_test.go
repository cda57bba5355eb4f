package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// The answers echoPlugin gives, every field set.
var (
	echoExpiry   = time.Date(2027, 3, 4, 5, 6, 7, 8000000, time.UTC)
	echoIdentity = redirect.Identity{Subject: "https://idp.example|42", Username: "alice", Email: "alice@example.com",
		EmailVerified: true, Roles: []string{"admin", "ops"}, Provisioning: redirect.ProvisionCreate}
	echoBegan     = redirect.BeginResponse{URL: "https://idp.example/authorize?state=s"}
	echoCompleted = redirect.CompleteResponse{Identity: &echoIdentity, Description: "signed in", RefreshToken: "rt-1", Expiry: echoExpiry}
	echoRefreshed = redirect.RefreshResponse{RefreshToken: "rt-2", Expiry: echoExpiry, Failure: redirect.FailureInvalidGrant, Description: "rotated"}
)

// echoPlugin is a redirect authenticator that keeps the last request of
// each method and answers with the echo values. The value "error" (as
// state, code or token) makes a method fail with sdk.ErrNotFound, "nil"
// makes it answer nothing, and the code "both" is answered with an
// identity and a failure.
type echoPlugin struct {
	mu        sync.Mutex
	begin     *redirect.BeginRequest
	complete  *redirect.CompleteRequest
	refreshed *redirect.RefreshRequest
}

func (p *echoPlugin) Metadata() sdk.Metadata { return sdk.Metadata{Name: "echo", Version: "test"} }

func (p *echoPlugin) Configure(context.Context, *sdk.ConfigureRequest) error { return nil }

func outcome[T any](key string, answer *T) (*T, error) {
	switch key {
	case "error":
		return nil, fmt.Errorf("%w: no such thing", sdk.ErrNotFound)
	case "nil":
		return nil, nil
	}
	out := *answer
	return &out, nil
}

func (p *echoPlugin) Begin(_ context.Context, req *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.begin = req
	return outcome(req.State, &echoBegan)
}

func (p *echoPlugin) Complete(_ context.Context, req *redirect.CompleteRequest) (*redirect.CompleteResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.complete = req
	if req.Code == "both" {
		return &redirect.CompleteResponse{Identity: &echoIdentity, Failure: redirect.FailureInvalidIDToken}, nil
	}
	return outcome(req.Code, &echoCompleted)
}

func (p *echoPlugin) Refresh(_ context.Context, req *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refreshed = req
	if req.RefreshToken == "" {
		return &redirect.RefreshResponse{RefreshToken: "rt-3"}, nil
	}
	return outcome(req.RefreshToken, &echoRefreshed)
}

var _ redirect.Authenticator = (*echoPlugin)(nil)

// allSet fails if a field of v is its zero value: a test value that
// leaves one out would not notice that field being dropped.
func allSet(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("the test's %T leaves %s at its zero value", v, rv.Type().Field(i).Name)
		}
	}
}

// A plugin value that implements redirect.Authenticator is served as one:
// every field of every request and answer crosses the real gRPC hop.
func TestRedirectAuthenticatorIsServed(t *testing.T) {
	ctx := context.Background()
	p := &echoPlugin{}
	remote := sdktest.Start(t, p, nil, nil)
	info, err := remote.Info(ctx)
	if err != nil || !info.Has(hostside.Redirect) || len(info.Capabilities) != 1 {
		t.Fatalf("capabilities %v (%v), want redirect_authenticator alone", info.Capabilities, err)
	}
	b := remote.RedirectAuthenticator()

	beginReq := redirect.BeginRequest{State: "st", RedirectURL: "https://auth.example/cb", CodeChallenge: "ch", Nonce: "n"}
	allSet(t, beginReq)
	allSet(t, echoBegan)
	began, err := b.Begin(ctx, &beginReq)
	if err != nil || !reflect.DeepEqual(*began, echoBegan) || !reflect.DeepEqual(*p.begin, beginReq) {
		t.Fatalf("Begin: sent %+v, the plugin got %+v; it answered %+v, the host got %+v (%v)", beginReq, p.begin, echoBegan, began, err)
	}

	completeReq := redirect.CompleteRequest{RedirectURL: "https://auth.example/cb", Code: "code", CodeVerifier: "verifier", Nonce: "n"}
	allSet(t, completeReq)
	allSet(t, echoIdentity)
	completed, err := b.Complete(ctx, &completeReq)
	if err != nil || !reflect.DeepEqual(*p.complete, completeReq) {
		t.Fatalf("Complete: sent %+v, the plugin got %+v (%v)", completeReq, p.complete, err)
	}
	if !reflect.DeepEqual(*completed, echoCompleted) || !reflect.DeepEqual(*completed.Identity, echoIdentity) {
		t.Fatalf("Complete: the plugin answered %+v (identity %+v), the host got %+v (identity %+v)", echoCompleted, echoIdentity, *completed, completed.Identity)
	}

	refreshReq := redirect.RefreshRequest{RefreshToken: "rt-1"}
	allSet(t, refreshReq)
	allSet(t, echoRefreshed)
	refreshed, err := b.Refresh(ctx, &refreshReq)
	if err != nil || !reflect.DeepEqual(*refreshed, echoRefreshed) || !reflect.DeepEqual(*p.refreshed, refreshReq) {
		t.Fatalf("Refresh: sent %+v, the plugin got %+v; it answered %+v, the host got %+v (%v)", refreshReq, p.refreshed, echoRefreshed, refreshed, err)
	}
}

// The plugin's errors arrive as the sdk sentinels they wrap; an answer of
// nothing, and answers the host must not accept, are errors too.
func TestRedirectAuthenticatorErrors(t *testing.T) {
	ctx := context.Background()
	b := sdktest.Start(t, &echoPlugin{}, nil, nil).RedirectAuthenticator()
	for key, want := range map[string]error{"error": sdk.ErrNotFound, "nil": nil} {
		_, berr := b.Begin(ctx, &redirect.BeginRequest{State: key})
		_, cerr := b.Complete(ctx, &redirect.CompleteRequest{Code: key})
		_, rerr := b.Refresh(ctx, &redirect.RefreshRequest{RefreshToken: key})
		for method, err := range map[string]error{"Begin": berr, "Complete": cerr, "Refresh": rerr} {
			if err == nil || (want != nil && !errors.Is(err, want)) {
				t.Errorf("%s answering %q: %v, want an error matching %v", method, key, err, want)
			}
		}
	}

	if resp, err := b.Complete(ctx, &redirect.CompleteRequest{}); !errors.Is(err, hostside.ErrNoDecision) {
		t.Errorf("an identity for an empty code: %+v, %v; want hostside.ErrNoDecision", resp, err)
	}
	if resp, err := b.Complete(ctx, &redirect.CompleteRequest{Code: "both"}); !errors.Is(err, hostside.ErrNoDecision) {
		t.Errorf("an identity with a failure: %+v, %v; want hostside.ErrNoDecision", resp, err)
	}
	if resp, err := b.Refresh(ctx, &redirect.RefreshRequest{}); !errors.Is(err, hostside.ErrNoDecision) {
		t.Errorf("a refresh of an empty token: %+v, %v; want hostside.ErrNoDecision", resp, err)
	}
}

// A plugin that does not implement the capability does not report it.
func TestNoRedirectCapabilityWithoutTheMethods(t *testing.T) {
	info, err := sdktest.Start(t, plainPlugin{}, nil, nil).Info(context.Background())
	if err != nil || info.Has(hostside.Redirect) {
		t.Fatalf("capabilities %v (%v)", info.Capabilities, err)
	}
}

type plainPlugin struct{}

func (plainPlugin) Metadata() sdk.Metadata                                 { return sdk.Metadata{Name: "plain"} }
func (plainPlugin) Configure(context.Context, *sdk.ConfigureRequest) error { return nil }
