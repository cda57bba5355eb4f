package wire

import (
	"encoding/json"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
)

// The authorization-request capability's messages, in both directions: the
// host writes a request and reads the challenge and verdict, the plugin
// reads the request and writes the others. Both sides convert here, so a
// field cannot be carried one way and dropped the other.

// AuthRequestToProto is req on the wire.
func AuthRequestToProto(req *authreq.Request) *pb.AuthorizationRequest {
	if req == nil {
		return nil
	}
	out := &pb.AuthorizationRequest{
		Id:          req.ID,
		Slug:        req.Slug,
		UserId:      req.UserID,
		Username:    req.Username,
		Title:       req.Title,
		Description: req.Description,
		DataJson:    req.Data,
		Generation:  int64(req.Generation),
	}
	if !req.ExpiresAt.IsZero() {
		out.ExpiresAt = timestamppb.New(req.ExpiresAt)
	}
	return out
}

// AuthRequestFromProto is the request p carries; a nil p is the zero
// request. An empty data_json is nil Data.
func AuthRequestFromProto(p *pb.AuthorizationRequest) *authreq.Request {
	req := &authreq.Request{
		ID:          p.GetId(),
		Slug:        p.GetSlug(),
		UserID:      p.GetUserId(),
		Username:    p.GetUsername(),
		Title:       p.GetTitle(),
		Description: p.GetDescription(),
		Generation:  int(p.GetGeneration()),
	}
	if data := p.GetDataJson(); len(data) > 0 {
		req.Data = json.RawMessage(data)
	}
	if ts := p.GetExpiresAt(); ts != nil {
		req.ExpiresAt = ts.AsTime()
	}
	return req
}

// ChallengeToProto is c on the wire.
func ChallengeToProto(c authreq.Challenge) *pb.PrepareChallengeResponse {
	return &pb.PrepareChallengeResponse{State: c.State, Delivery: c.Delivery}
}

// ChallengeFromProto is the challenge p carries.
func ChallengeFromProto(p *pb.PrepareChallengeResponse) authreq.Challenge {
	return authreq.Challenge{State: p.GetState(), Delivery: p.GetDelivery()}
}

// AnswerToProto is the check of answer against state for req, on the wire.
func AnswerToProto(req *authreq.Request, state []byte, answer authreq.Answer) *pb.CheckAnswerRequest {
	return &pb.CheckAnswerRequest{
		Request:     AuthRequestToProto(req),
		State:       state,
		Code:        answer.Code,
		Credentials: answer.Credentials,
	}
}

// AnswerFromProto is the answer p carries. Its Credentials are nil when
// there are none.
func AnswerFromProto(p *pb.CheckAnswerRequest) authreq.Answer {
	a := authreq.Answer{Code: p.GetCode()}
	if c := p.GetCredentials(); len(c) > 0 {
		a.Credentials = c
	}
	return a
}

// VerdictToProto is v on the wire. A nil State is left unset (the stored
// state stays); any other, an empty one included, replaces it.
func VerdictToProto(v authreq.Verdict) *pb.CheckAnswerResponse {
	out := &pb.CheckAnswerResponse{Valid: v.Valid, Reason: v.Reason}
	if v.State != nil {
		out.State = v.State
	}
	return out
}

// VerdictFromProto is the verdict p carries: its State is nil when p sets
// none, and not nil (if empty) when it does.
func VerdictFromProto(p *pb.CheckAnswerResponse) authreq.Verdict {
	v := authreq.Verdict{Valid: p.GetValid(), Reason: p.GetReason()}
	if p.State != nil { // proto3 optional: present, even if empty
		v.State = p.State
	}
	return v
}
