package chain

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// fakeAuth is an Authenticator whose answer is a function.
type fakeAuth struct {
	fn    func(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error
	calls int
}

func (f *fakeAuth) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	f.calls++
	return f.fn(ctx, req, resp)
}

func grant(subject string) *fakeAuth {
	return &fakeAuth{fn: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		r.Grant(sdk.Identity{Subject: subject})
		return nil
	}}
}

func abstain(reason string) *fakeAuth {
	return &fakeAuth{fn: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		r.Abstain(reason)
		return nil
	}}
}

func deny(reason string) *fakeAuth {
	return &fakeAuth{fn: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		r.Deny(reason, time.Minute)
		return nil
	}}
}

func failing(err error) *fakeAuth {
	return &fakeAuth{fn: func(context.Context, *sdk.AuthenticateRequest, *sdk.AuthenticateResponse) error { return err }}
}

// A failed login names every backend that abstained, with its reason:
// the backend that knew the user and found the password wrong is not
// hidden by the later ones that did not know the user.
func TestChainListsTheBackendsThatAbstained(t *testing.T) {
	links := []Link{
		{Name: "files", Authenticator: abstain(sdk.ReasonInvalidCredentials)},
		{Name: "other", Authenticator: abstain("")},
		{Name: "local", Authenticator: abstain(sdk.ReasonInvalidCredentials)},
	}
	res, err := authenticate(New(nil, links...), context.Background(), &sdk.AuthenticateRequest{Username: "u"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"files:invalid_credentials", "other:", "local:invalid_credentials"}
	if res.Outcome != InvalidCredentials || !slices.Equal(res.Abstained, want) {
		t.Fatalf("got %v %q, want invalid credentials %q", res.Outcome, res.Abstained, want)
	}
}

func TestChain(t *testing.T) {
	tests := []struct {
		name        string
		links       []*fakeAuth
		wantOutcome Outcome
		wantBackend string
		wantReason  string
		wantErr     bool
		wantCalls   []int
	}{
		{"identity first stops", []*fakeAuth{grant("a"), grant("b")}, Success, "b0", "", false, []int{1, 0}},
		{"abstain then identity", []*fakeAuth{abstain(""), grant("b")}, Success, "b1", "", false, []int{1, 1}},
		{"deny stops before identity", []*fakeAuth{abstain(""), deny("locked_out"), grant("c")}, Denied, "b1", "locked_out", false, []int{1, 1, 0}},
		{"deny without reason is permission_denied", []*fakeAuth{deny("")}, Denied, "b0", "permission_denied", false, []int{1}},
		{"all abstain", []*fakeAuth{abstain(""), abstain("")}, InvalidCredentials, "", sdk.ReasonInvalidCredentials, false, []int{1, 1}},
		{"all abstain names the last backend with a reason", []*fakeAuth{abstain("invalid_credentials"), abstain("")}, InvalidCredentials, "b0", "invalid_credentials", false, []int{1, 1}},
		{"a later custom abstain reason does not hide a wrong password", []*fakeAuth{abstain("invalid_credentials"), abstain("not_mine")}, InvalidCredentials, "b1", "invalid_credentials", false, []int{1, 1}},
		{"error stops and fails closed", []*fakeAuth{failing(sdk.ErrUnavailable), grant("b")}, 0, "", "", true, []int{1, 0}},
		{"error after abstain", []*fakeAuth{abstain(""), failing(errors.New("boom")), grant("c")}, 0, "", "", true, []int{1, 1, 0}},
		{"no decision fails closed", []*fakeAuth{{fn: func(context.Context, *sdk.AuthenticateRequest, *sdk.AuthenticateResponse) error { return nil }}, grant("b")}, 0, "", "", true, []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var links []Link
			for i, f := range tt.links {
				links = append(links, Link{Name: "b" + string(rune('0'+i)), Authenticator: f})
			}
			res, err := authenticate(New(nil, links...), context.Background(), &sdk.AuthenticateRequest{Username: "u"})
			if tt.wantErr {
				var be *BackendError
				if !errors.As(err, &be) {
					t.Fatalf("got %+v, %v; want a *BackendError", res, err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != tt.wantOutcome || res.Backend != tt.wantBackend || res.Reason != tt.wantReason {
					t.Fatalf("got %v/%q/%q, want %v/%q/%q", res.Outcome, res.Backend, res.Reason, tt.wantOutcome, tt.wantBackend, tt.wantReason)
				}
			}
			for i, f := range tt.links {
				if f.calls != tt.wantCalls[i] {
					t.Errorf("backend %d called %d times, want %d", i, f.calls, tt.wantCalls[i])
				}
			}
		})
	}
}

func TestTimeoutFailsClosed(t *testing.T) {
	slow := &fakeAuth{fn: func(ctx context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		<-ctx.Done()
		r.Grant(sdk.Identity{Subject: "late"}) // an answer after the deadline must not count
		return nil
	}}
	_, err := authenticate(New(nil, Link{Name: "slow", Authenticator: slow, Timeout: 10 * time.Millisecond}), context.Background(), &sdk.AuthenticateRequest{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

// authenticate runs req through c and returns its result, and the error of
// an Unavailable result.
func authenticate(c *Chain, ctx context.Context, req *sdk.AuthenticateRequest) (Result, error) {
	login := c.Run(ctx, req)
	_ = login.End(ctx, login.Result.LoginResult(), "")
	return login.Result, login.Result.Err
}
