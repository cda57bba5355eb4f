package supervisor

import (
	"context"

	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// RedirectAuthenticator returns the instance's redirect.Authenticator,
// valid across restarts like Authenticator.
func (i *Instance) RedirectAuthenticator() redirect.Authenticator { return redirects{i} }

type redirects struct{ i *Instance }

func (rd redirects) Begin(ctx context.Context, req *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	r := rd.i.current()
	if r == nil {
		return nil, ErrBackendDown
	}
	resp, err := r.RedirectAuthenticator().Begin(ctx, req)
	rd.i.checkAfter(err)
	return resp, err
}

func (rd redirects) Complete(ctx context.Context, req *redirect.CompleteRequest) (*redirect.CompleteResponse, error) {
	r := rd.i.current()
	if r == nil {
		return nil, ErrBackendDown
	}
	resp, err := r.RedirectAuthenticator().Complete(ctx, req)
	rd.i.checkAfter(err)
	return resp, err
}

func (rd redirects) Refresh(ctx context.Context, req *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	r := rd.i.current()
	if r == nil {
		return nil, ErrBackendDown
	}
	resp, err := r.RedirectAuthenticator().Refresh(ctx, req)
	rd.i.checkAfter(err)
	return resp, err
}

// Interface guard.
var _ redirect.Authenticator = redirects{}
