package sdk

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// redirectServer serves a plugin's redirect.Authenticator. A method that
// returns neither a response nor an error is an error the host sees: sent
// as an empty response, it would read as a refresh that succeeded.
type redirectServer struct {
	pb.UnimplementedRedirectAuthenticatorServer
	impl redirect.Authenticator
}

func (s *redirectServer) Begin(ctx context.Context, req *pb.RedirectBeginRequest) (*pb.RedirectBeginResponse, error) {
	resp, err := s.impl.Begin(ctx, wire.BeginRequestFromProto(req))
	if err == nil && resp == nil {
		err = noResponse("Begin")
	}
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return wire.BeginResponseToProto(resp), nil
}

func (s *redirectServer) Complete(ctx context.Context, req *pb.RedirectCompleteRequest) (*pb.RedirectCompleteResponse, error) {
	resp, err := s.impl.Complete(ctx, wire.CompleteRequestFromProto(req))
	if err == nil && resp == nil {
		err = noResponse("Complete")
	}
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return wire.CompleteResponseToProto(resp), nil
}

func (s *redirectServer) Refresh(ctx context.Context, req *pb.RedirectRefreshRequest) (*pb.RedirectRefreshResponse, error) {
	resp, err := s.impl.Refresh(ctx, wire.RefreshRequestFromProto(req))
	if err == nil && resp == nil {
		err = noResponse("Refresh")
	}
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return wire.RefreshResponseToProto(resp), nil
}

// noResponse is the error of a method that answered nothing.
func noResponse(method string) error {
	return fmt.Errorf("the plugin's %s returned neither a response nor an error", method)
}

// Interface guard.
var _ pb.RedirectAuthenticatorServer = (*redirectServer)(nil)
