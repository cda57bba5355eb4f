package hostside

import (
	"context"
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
)

// hostServer serves the host's sdk.Host to one plugin over the broker.
type hostServer struct {
	pb.UnimplementedHostServicesServer
	host sdk.Host
}

func (s *hostServer) LookupUser(ctx context.Context, req *pb.LookupUserRequest) (*pb.LookupUserResponse, error) {
	u, err := s.host.Users().LookupUser(ctx, req.GetUsername())
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return &pb.LookupUserResponse{User: userToProto(u)}, nil
}

// userToProto is a user as the wire carries it.
func userToProto(u sdk.User) *pb.User {
	return &pb.User{Id: u.ID, Username: u.Username, PasswordHash: u.PasswordHash, Disabled: u.Disabled}
}

func (s *hostServer) ListUsers(ctx context.Context, req *pb.ListUsersRequest) (*pb.ListUsersResponse, error) {
	users, err := s.host.Users().ListUsers(ctx, req.GetAfterId(), int(req.GetLimit()))
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	resp := &pb.ListUsersResponse{Users: make([]*pb.User, len(users))}
	for i, u := range users {
		resp.Users[i] = userToProto(u)
	}
	return resp, nil
}

func (s *hostServer) SetPasswordHash(ctx context.Context, req *pb.SetPasswordHashRequest) (*pb.SetPasswordHashResponse, error) {
	err := s.host.Users().SetPasswordHash(ctx, req.GetUserId(), req.GetOldHash(), req.GetNewHash())
	return &pb.SetPasswordHashResponse{}, errwire.ToStatus(err)
}

func (s *hostServer) StorageGet(ctx context.Context, req *pb.StorageGetRequest) (*pb.StorageGetResponse, error) {
	e, err := s.host.Storage().Get(ctx, req.GetKey())
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return &pb.StorageGetResponse{Value: e.Value, ExpiresAt: timeToProto(e.ExpiresAt)}, nil
}

func (s *hostServer) StoragePut(ctx context.Context, req *pb.StoragePutRequest) (*pb.StoragePutResponse, error) {
	err := s.host.Storage().Put(ctx, req.GetKey(), req.GetValue(), ttlFromProto(req.GetTtl()))
	return &pb.StoragePutResponse{}, errwire.ToStatus(err)
}

func (s *hostServer) StorageDelete(ctx context.Context, req *pb.StorageDeleteRequest) (*pb.StorageDeleteResponse, error) {
	deleted, err := s.host.Storage().Delete(ctx, req.GetKey())
	return &pb.StorageDeleteResponse{Deleted: deleted}, errwire.ToStatus(err)
}

func (s *hostServer) StorageList(ctx context.Context, req *pb.StorageListRequest) (*pb.StorageListResponse, error) {
	entries, err := s.host.Storage().List(ctx, req.GetPrefix())
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	resp := &pb.StorageListResponse{Entries: make([]*pb.StorageEntry, 0, len(entries))}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, &pb.StorageEntry{Key: e.Key, Value: e.Value, ExpiresAt: timeToProto(e.ExpiresAt)})
	}
	return resp, nil
}

func (s *hostServer) StorageIncrement(ctx context.Context, req *pb.StorageIncrementRequest) (*pb.StorageIncrementResponse, error) {
	v, err := s.host.Storage().Increment(ctx, req.GetKey(), req.GetDelta(), ttlFromProto(req.GetTtl()))
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return &pb.StorageIncrementResponse{Value: v}, nil
}

func (s *hostServer) StorageCompareAndSwap(ctx context.Context, req *pb.StorageCompareAndSwapRequest) (*pb.StorageCompareAndSwapResponse, error) {
	var old []byte
	if req.GetOldPresent() {
		old = req.GetOldValue()
		if old == nil {
			old = []byte{}
		}
	}
	swapped, err := s.host.Storage().CompareAndSwap(ctx, req.GetKey(), old, req.GetNewValue(), ttlFromProto(req.GetTtl()))
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return &pb.StorageCompareAndSwapResponse{Swapped: swapped}, nil
}

func (s *hostServer) EmitSignal(ctx context.Context, req *pb.EmitSignalRequest) (*pb.EmitSignalResponse, error) {
	id, err := s.host.Signals().Emit(ctx, req.GetName(), json.RawMessage(req.GetArgsJson()))
	if err != nil {
		return nil, errwire.ToStatus(err)
	}
	return &pb.EmitSignalResponse{Id: id}, nil
}

func ttlFromProto(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Interface guards.
var _ pb.HostServicesServer = (*hostServer)(nil)
