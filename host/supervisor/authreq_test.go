package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// authReqHelper is an authorization-request backend and nothing else: its
// state names the request and generation, and "right" is the answer.
type authReqHelper struct{}

func (authReqHelper) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "authreq-helper", Version: "test"}
}

func (authReqHelper) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	return req.DecodeConfig(&struct{}{})
}

func (authReqHelper) PrepareChallenge(_ context.Context, req *authreq.Request) (authreq.Challenge, error) {
	return authreq.Challenge{State: []byte(req.ID + "/" + strconv.Itoa(req.Generation)), Delivery: "test"}, nil
}

func (authReqHelper) CheckAnswer(_ context.Context, req *authreq.Request, state []byte, a authreq.Answer) (authreq.Verdict, error) {
	if string(state) != req.ID+"/"+strconv.Itoa(req.Generation) || a.Code != "right" {
		return authreq.Verdict{Reason: "invalid_code"}, nil
	}
	return authreq.Verdict{Valid: true, State: append(state, "/used"...)}, nil
}

var _ sdk.AuthorizationRequestBackend = authReqHelper{}

// A backend that is only an authorization-request backend starts where
// one is accepted, is called through its Instance across the process
// boundary, and fails with ErrBackendDown once stopped.
func TestAuthorizationRequestBackend(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	calls := map[string]int{}
	opts := testOptions(slog.New(slog.DiscardHandler), modeAuthReq)
	opts.OnCall = func(instance, direction, method string) {
		mu.Lock()
		defer mu.Unlock()
		if direction == ToPlugin {
			calls[method]++
		}
	}
	s := New(opts)
	t.Cleanup(s.Stop)
	spec := Spec{Name: "codes", Plugin: "helper", Config: emptyConfig, Host: newTestHost(),
		AnyOf: []hostside.Capability{hostside.Authenticator, hostside.AttemptLimiter, hostside.AuthorizationRequest}}
	if err := s.Start(ctx, []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	inst := s.Instance("codes")
	if info := inst.Status().Info; !info.Has(hostside.AuthorizationRequest) || info.Has(hostside.Authenticator) {
		t.Fatalf("capabilities %v, want authorization_request_backend alone", info.Capabilities)
	}

	b := inst.AuthorizationRequestBackend()
	req := &authreq.Request{ID: "r1", Generation: 2}
	ch, err := b.PrepareChallenge(ctx, req)
	if err != nil || string(ch.State) != "r1/2" || ch.Delivery != "test" {
		t.Fatalf("PrepareChallenge: %+v, %v", ch, err)
	}
	if v, err := b.CheckAnswer(ctx, req, ch.State, authreq.Answer{Code: "wrong"}); err != nil || v.Valid || v.Reason != "invalid_code" {
		t.Fatalf("a wrong answer: %+v, %v", v, err)
	}
	if v, err := b.CheckAnswer(ctx, req, ch.State, authreq.Answer{Code: "right"}); err != nil || !v.Valid || string(v.State) != "r1/2/used" {
		t.Fatalf("the right answer: %+v, %v", v, err)
	}
	mu.Lock()
	if calls["PrepareChallenge"] != 1 || calls["CheckAnswer"] != 2 {
		t.Errorf("calls counted %v, want 1 PrepareChallenge and 2 CheckAnswer", calls)
	}
	mu.Unlock()

	s.Stop()
	if _, err := b.PrepareChallenge(ctx, req); !errors.Is(err, ErrBackendDown) {
		t.Errorf("PrepareChallenge after Stop: %v, want ErrBackendDown", err)
	}
	if _, err := b.CheckAnswer(ctx, req, ch.State, authreq.Answer{Code: "right"}); !errors.Is(err, ErrBackendDown) {
		t.Errorf("CheckAnswer after Stop: %v, want ErrBackendDown", err)
	}
}

// Where a link of the login chain is needed, such a backend is refused.
func TestAuthorizationRequestBackendIsNoLink(t *testing.T) {
	s := New(testOptions(slog.New(slog.DiscardHandler), modeAuthReq))
	t.Cleanup(s.Stop)
	spec := Spec{Name: "codes", Plugin: "helper", Config: emptyConfig, Host: newTestHost(),
		AnyOf: []hostside.Capability{hostside.Authenticator, hostside.AttemptLimiter}}
	err := s.Start(context.Background(), []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "implements none of the capabilities [authenticator attempt_limiter] (it implements [authorization_request_backend])") {
		t.Fatalf("got %v", err)
	}
}
