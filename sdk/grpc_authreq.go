package sdk

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// authRequestServer serves a plugin's AuthorizationRequestBackend. It
// refuses to hand the host a State larger than authreq.MaxState: the
// backend's mistake is an error the host sees, never a state cut short.
type authRequestServer struct {
	pb.UnimplementedAuthorizationRequestBackendServer
	impl AuthorizationRequestBackend
}

func (s *authRequestServer) PrepareChallenge(ctx context.Context, req *pb.PrepareChallengeRequest) (*pb.PrepareChallengeResponse, error) {
	ch, err := s.impl.PrepareChallenge(ctx, wire.AuthRequestFromProto(req.GetRequest()))
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	if err := checkStateSize("the challenge's", ch.State); err != nil {
		return nil, errwire.ToStatus(err)
	}
	return wire.ChallengeToProto(ch), nil
}

func (s *authRequestServer) CheckAnswer(ctx context.Context, req *pb.CheckAnswerRequest) (*pb.CheckAnswerResponse, error) {
	v, err := s.impl.CheckAnswer(ctx, wire.AuthRequestFromProto(req.GetRequest()), req.GetState(), wire.AnswerFromProto(req))
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	if err := checkStateSize("the verdict's", v.State); err != nil {
		return nil, errwire.ToStatus(err)
	}
	return wire.VerdictToProto(v), nil
}

// checkStateSize refuses a state larger than authreq.MaxState.
func checkStateSize(whose string, state []byte) error {
	if len(state) > authreq.MaxState {
		return fmt.Errorf("%w: %s state is %d bytes, more than %d", ErrInvalidArgument, whose, len(state), authreq.MaxState)
	}
	return nil
}

// Interface guard.
var _ pb.AuthorizationRequestBackendServer = (*authRequestServer)(nil)
