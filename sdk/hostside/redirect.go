package hostside

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// RedirectAuthenticator returns the plugin's redirect.Authenticator.
func (r *Remote) RedirectAuthenticator() redirect.Authenticator {
	return redirectClient{r.redirects}
}

// redirectClient calls a plugin's redirect.Authenticator. It does not take
// the plugin's word for what the host must never accept, whatever the
// plugin speaks: an identity for an empty code, an identity that comes
// with a failure, and a refresh of an empty token that succeeds are no
// decision (ErrNoDecision).
type redirectClient struct {
	c pb.RedirectAuthenticatorClient
}

func (r redirectClient) Begin(ctx context.Context, req *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	out, err := r.c.Begin(ctx, wire.BeginRequestToProto(req))
	if err != nil {
		return nil, errwire.FromStatus(err)
	}
	return wire.BeginResponseFromProto(out), nil
}

func (r redirectClient) Complete(ctx context.Context, req *redirect.CompleteRequest) (*redirect.CompleteResponse, error) {
	out, err := r.c.Complete(ctx, wire.CompleteRequestToProto(req))
	if err != nil {
		return nil, errwire.FromStatus(err)
	}
	resp := wire.CompleteResponseFromProto(out)
	if resp.Identity != nil {
		if req == nil || req.Code == "" {
			return nil, fmt.Errorf("%w: the plugin vouched for a user without a code", ErrNoDecision)
		}
		if resp.Failure != "" {
			return nil, fmt.Errorf("%w: the plugin answered both an identity and the failure %q", ErrNoDecision, clip(resp.Failure))
		}
	}
	return resp, nil
}

func (r redirectClient) Refresh(ctx context.Context, req *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	out, err := r.c.Refresh(ctx, wire.RefreshRequestToProto(req))
	if err != nil {
		return nil, errwire.FromStatus(err)
	}
	resp := wire.RefreshResponseFromProto(out)
	if resp.Failure == "" && (req == nil || req.RefreshToken == "") {
		return nil, fmt.Errorf("%w: the plugin refreshed an empty refresh token", ErrNoDecision)
	}
	return resp, nil
}

// clip shortens what a plugin said, for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Interface guard.
var _ redirect.Authenticator = redirectClient{}
