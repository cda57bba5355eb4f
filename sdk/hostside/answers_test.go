package hostside_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// answering answers every login with what answer makes of the response.
type answering struct {
	answer func(*sdk.AuthenticateResponse)
}

func (answering) Metadata() sdk.Metadata                                 { return sdk.Metadata{Name: "answering", Version: "test"} }
func (answering) Configure(context.Context, *sdk.ConfigureRequest) error { return nil }
func (a answering) Authenticate(_ context.Context, _ *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	a.answer(resp)
	return nil
}

// An answer with a field over its bound is no decision (the login fails
// closed), whatever its decision; at the bound it is taken.
func TestAnswersOverTheirBoundsAreNoDecision(t *testing.T) {
	deny := func(f func(*sdk.AuthenticateResponse)) func(*sdk.AuthenticateResponse) {
		return func(r *sdk.AuthenticateResponse) { r.Deny("permission_denied", 0); f(r) }
	}
	grant := func(id sdk.Identity) func(*sdk.AuthenticateResponse) {
		return func(r *sdk.AuthenticateResponse) { r.Grant(id) }
	}
	big := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name  string
		field string // named in the error
		at    func(*sdk.AuthenticateResponse)
		over  func(*sdk.AuthenticateResponse)
	}{
		{"reason", "reason",
			func(r *sdk.AuthenticateResponse) { r.Deny(big(128), 0) },
			func(r *sdk.AuthenticateResponse) { r.Deny(big(129), 0) }},
		{"description", "description",
			deny(func(r *sdk.AuthenticateResponse) { r.Description = big(1 << 10) }),
			deny(func(r *sdk.AuthenticateResponse) { r.Description = big(1<<10 + 1) })},
		{"details", "details_json",
			deny(func(r *sdk.AuthenticateResponse) { r.Details = map[string]any{"k": big(16<<10 - 8)} }),
			deny(func(r *sdk.AuthenticateResponse) { r.Details = map[string]any{"k": big(16<<10 - 7)} })},
		{"subject", "subject",
			grant(sdk.Identity{Subject: big(512)}),
			grant(sdk.Identity{Subject: big(513)})},
		{"username", "username",
			grant(sdk.Identity{Subject: "s", Username: big(512)}),
			grant(sdk.Identity{Subject: "s", Username: big(513)})},
		{"attributes", "attributes",
			grant(sdk.Identity{Subject: "s", Attributes: map[string]string{"a": big(8 << 10), "b": big(8<<10 - 2)}}),
			grant(sdk.Identity{Subject: "s", Attributes: map[string]string{"a": big(8 << 10), "b": big(8<<10 - 1)}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct {
				answer func(*sdk.AuthenticateResponse)
				ok     bool
			}{{tc.at, true}, {tc.over, false}} {
				remote := sdktest.Start(t, answering{answer: c.answer}, nil, nil)
				var resp sdk.AuthenticateResponse
				err := remote.Authenticator().Authenticate(context.Background(), &sdk.AuthenticateRequest{RequestID: "r", Username: "alice"}, &resp)
				switch {
				case c.ok && err != nil:
					t.Errorf("at the bound: %v", err)
				case !c.ok && !errors.Is(err, hostside.ErrNoDecision):
					t.Errorf("over the bound: err = %v, want ErrNoDecision", err)
				case !c.ok && !strings.Contains(err.Error(), tc.field):
					t.Errorf("over the bound: %q does not name the %s", err, tc.field)
				}
			}
		})
	}
}
