package wire

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// The redirect-authenticator capability's messages, in both directions: the
// host writes the requests and reads the responses, the plugin the other
// way round. Both sides convert here, so a field cannot be carried one way
// and dropped the other. A nil value is written as the zero message, and a
// missing message is read as the zero value, so that neither side can be
// made to dereference nil.

// BeginRequestToProto is req on the wire.
func BeginRequestToProto(req *redirect.BeginRequest) *pb.RedirectBeginRequest {
	if req == nil {
		return &pb.RedirectBeginRequest{}
	}
	return &pb.RedirectBeginRequest{
		State:         req.State,
		RedirectUrl:   req.RedirectURL,
		CodeChallenge: req.CodeChallenge,
		Nonce:         req.Nonce,
	}
}

// BeginRequestFromProto is the request p carries.
func BeginRequestFromProto(p *pb.RedirectBeginRequest) *redirect.BeginRequest {
	return &redirect.BeginRequest{
		State:         p.GetState(),
		RedirectURL:   p.GetRedirectUrl(),
		CodeChallenge: p.GetCodeChallenge(),
		Nonce:         p.GetNonce(),
	}
}

// BeginResponseToProto is resp on the wire.
func BeginResponseToProto(resp *redirect.BeginResponse) *pb.RedirectBeginResponse {
	if resp == nil {
		return &pb.RedirectBeginResponse{}
	}
	return &pb.RedirectBeginResponse{Url: resp.URL}
}

// BeginResponseFromProto is the response p carries.
func BeginResponseFromProto(p *pb.RedirectBeginResponse) *redirect.BeginResponse {
	return &redirect.BeginResponse{URL: p.GetUrl()}
}

// CompleteRequestToProto is req on the wire.
func CompleteRequestToProto(req *redirect.CompleteRequest) *pb.RedirectCompleteRequest {
	if req == nil {
		return &pb.RedirectCompleteRequest{}
	}
	return &pb.RedirectCompleteRequest{
		RedirectUrl:  req.RedirectURL,
		Code:         req.Code,
		CodeVerifier: req.CodeVerifier,
		Nonce:        req.Nonce,
	}
}

// CompleteRequestFromProto is the request p carries.
func CompleteRequestFromProto(p *pb.RedirectCompleteRequest) *redirect.CompleteRequest {
	return &redirect.CompleteRequest{
		RedirectURL:  p.GetRedirectUrl(),
		Code:         p.GetCode(),
		CodeVerifier: p.GetCodeVerifier(),
		Nonce:        p.GetNonce(),
	}
}

// CompleteResponseToProto is resp on the wire. A nil Identity is left
// unset, and a zero Expiry too.
func CompleteResponseToProto(resp *redirect.CompleteResponse) *pb.RedirectCompleteResponse {
	if resp == nil {
		return &pb.RedirectCompleteResponse{}
	}
	return &pb.RedirectCompleteResponse{
		Identity:     identityToProto(resp.Identity),
		Failure:      resp.Failure,
		Description:  resp.Description,
		RefreshToken: resp.RefreshToken,
		Expiry:       timeToProto(resp.Expiry),
	}
}

// CompleteResponseFromProto is the response p carries: its Identity is nil
// when p sets none, and its Expiry zero.
func CompleteResponseFromProto(p *pb.RedirectCompleteResponse) *redirect.CompleteResponse {
	return &redirect.CompleteResponse{
		Identity:     identityFromProto(p.GetIdentity()),
		Failure:      p.GetFailure(),
		Description:  p.GetDescription(),
		RefreshToken: p.GetRefreshToken(),
		Expiry:       timeFromProto(p.GetExpiry()),
	}
}

// RefreshRequestToProto is req on the wire.
func RefreshRequestToProto(req *redirect.RefreshRequest) *pb.RedirectRefreshRequest {
	if req == nil {
		return &pb.RedirectRefreshRequest{}
	}
	return &pb.RedirectRefreshRequest{RefreshToken: req.RefreshToken}
}

// RefreshRequestFromProto is the request p carries.
func RefreshRequestFromProto(p *pb.RedirectRefreshRequest) *redirect.RefreshRequest {
	return &redirect.RefreshRequest{RefreshToken: p.GetRefreshToken()}
}

// RefreshResponseToProto is resp on the wire; a zero Expiry is left unset.
func RefreshResponseToProto(resp *redirect.RefreshResponse) *pb.RedirectRefreshResponse {
	if resp == nil {
		return &pb.RedirectRefreshResponse{}
	}
	return &pb.RedirectRefreshResponse{
		RefreshToken: resp.RefreshToken,
		Expiry:       timeToProto(resp.Expiry),
		Failure:      resp.Failure,
		Description:  resp.Description,
	}
}

// RefreshResponseFromProto is the response p carries.
func RefreshResponseFromProto(p *pb.RedirectRefreshResponse) *redirect.RefreshResponse {
	return &redirect.RefreshResponse{
		RefreshToken: p.GetRefreshToken(),
		Expiry:       timeFromProto(p.GetExpiry()),
		Failure:      p.GetFailure(),
		Description:  p.GetDescription(),
	}
}

func identityToProto(id *redirect.Identity) *pb.RedirectIdentity {
	if id == nil {
		return nil
	}
	return &pb.RedirectIdentity{
		Subject:       id.Subject,
		Username:      id.Username,
		Email:         id.Email,
		EmailVerified: id.EmailVerified,
		Roles:         id.Roles,
		Provisioning:  id.Provisioning,
	}
}

// identityFromProto is the identity p carries, nil for none. Roles are nil
// when there are none.
func identityFromProto(p *pb.RedirectIdentity) *redirect.Identity {
	if p == nil {
		return nil
	}
	id := &redirect.Identity{
		Subject:       p.GetSubject(),
		Username:      p.GetUsername(),
		Email:         p.GetEmail(),
		EmailVerified: p.GetEmailVerified(),
		Provisioning:  p.GetProvisioning(),
	}
	if roles := p.GetRoles(); len(roles) > 0 {
		id.Roles = roles
	}
	return id
}

// timeToProto leaves a zero time unset, so that it is not read back as
// the Unix epoch.
func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
