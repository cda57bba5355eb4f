package hostside

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// authRequestClient calls a plugin's AuthorizationRequestBackend. It does
// not take the plugin's word for what the host must never accept, whatever
// the plugin speaks: a state larger than authreq.MaxState is an error, and
// so is an empty answer judged valid (ErrNoDecision).
type authRequestClient struct {
	c pb.AuthorizationRequestBackendClient
}

func (a authRequestClient) PrepareChallenge(ctx context.Context, req *authreq.Request) (authreq.Challenge, error) {
	out, err := a.c.PrepareChallenge(ctx, &pb.PrepareChallengeRequest{Request: wire.AuthRequestToProto(req)})
	if err != nil {
		return authreq.Challenge{}, errwire.FromStatus(err)
	}
	ch := wire.ChallengeFromProto(out)
	if len(ch.State) > authreq.MaxState {
		return authreq.Challenge{}, fmt.Errorf("%w: the challenge's state is %d bytes, more than %d", sdk.ErrInvalidArgument, len(ch.State), authreq.MaxState)
	}
	return ch, nil
}

func (a authRequestClient) CheckAnswer(ctx context.Context, req *authreq.Request, state []byte, answer authreq.Answer) (authreq.Verdict, error) {
	out, err := a.c.CheckAnswer(ctx, wire.AnswerToProto(req, state, answer))
	if err != nil {
		return authreq.Verdict{}, errwire.FromStatus(err)
	}
	v := wire.VerdictFromProto(out)
	if len(v.State) > authreq.MaxState {
		return authreq.Verdict{}, fmt.Errorf("%w: the verdict's state is %d bytes, more than %d", sdk.ErrInvalidArgument, len(v.State), authreq.MaxState)
	}
	if v.Valid && emptyAnswer(answer) {
		return authreq.Verdict{}, fmt.Errorf("%w: the plugin judged an empty answer valid", ErrNoDecision)
	}
	return v, nil
}

// emptyAnswer reports whether an answer holds nothing: no code, and no
// credential with a value.
func emptyAnswer(a authreq.Answer) bool {
	if a.Code != "" {
		return false
	}
	for _, v := range a.Credentials {
		if v != "" {
			return false
		}
	}
	return true
}

// Interface guard.
var _ sdk.AuthorizationRequestBackend = authRequestClient{}
