package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
)

// hostClient is the plugin side of the host services: it implements Host,
// Users, Storage and Emitter over the broker connection to the host.
type hostClient struct {
	c pb.HostServicesClient
}

func newHostClient(c pb.HostServicesClient) *hostClient { return &hostClient{c: c} }

func (h *hostClient) Users() Users     { return h }
func (h *hostClient) Storage() Storage { return h }
func (h *hostClient) Signals() Emitter { return h }

// checkText refuses a string protobuf cannot carry. Without it the request
// fails to encode and the plugin sees an internal gRPC error instead of
// ErrInvalidArgument.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidArgument, what)
	}
	return nil
}

// value returns a stored value as the Storage interface promises it: an
// existing entry's value is never nil, even when it is empty (protobuf
// does not tell an empty bytes field from an absent one).
func value(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (h *hostClient) LookupUser(ctx context.Context, username string) (User, error) {
	if err := checkText("username", username); err != nil {
		return User{}, err
	}
	if l, ok := ctx.Value(lookedUpKey{}).(*lookedUp); ok && l.username == username {
		if !l.user.GetFound() {
			return User{}, fmt.Errorf("user %q: %w", username, ErrNotFound)
		}
		return userFromProto(l.user.GetUser()), nil
	}
	resp, err := h.c.LookupUser(ctx, &pb.LookupUserRequest{Username: username})
	if err != nil {
		return User{}, errwire.FromStatus(err)
	}
	return userFromProto(resp.GetUser()), nil
}

func userFromProto(u *pb.User) User {
	return User{ID: u.GetId(), Username: u.GetUsername(), PasswordHash: u.GetPasswordHash(), Disabled: u.GetDisabled()}
}

// lookedUp is the user an Authenticate call's username names, as the host
// looked it up for this plugin before the call (pb.AuthenticateRequest's
// user). LookupUser answers a lookup of exactly that username, made with
// the call's context, from it instead of calling the host back: the
// password backend's one call back per login.
type lookedUp struct {
	username string
	user     *pb.UserLookup
}

type lookedUpKey struct{}

func withLookedUp(ctx context.Context, username string, user *pb.UserLookup) context.Context {
	return context.WithValue(ctx, lookedUpKey{}, &lookedUp{username: username, user: user})
}

func (h *hostClient) SetPasswordHash(ctx context.Context, userID, oldHash, newHash string) error {
	for _, f := range [...]struct{ what, v string }{{"user id", userID}, {"old hash", oldHash}, {"new hash", newHash}} {
		if err := checkText(f.what, f.v); err != nil {
			return err
		}
	}
	_, err := h.c.SetPasswordHash(ctx, &pb.SetPasswordHashRequest{UserId: userID, OldHash: oldHash, NewHash: newHash})
	return errwire.FromStatus(err)
}

func (h *hostClient) ListUsers(ctx context.Context, afterID string, limit int) ([]User, error) {
	if err := checkText("user id", afterID); err != nil {
		return nil, err
	}
	if limit < 1 || limit > math.MaxInt32 {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidArgument, math.MaxInt32)
	}
	resp, err := h.c.ListUsers(ctx, &pb.ListUsersRequest{AfterId: afterID, Limit: int32(limit)})
	if err != nil {
		return nil, errwire.FromStatus(err)
	}
	users := make([]User, len(resp.GetUsers()))
	for i, u := range resp.GetUsers() {
		users[i] = userFromProto(u)
	}
	return users, nil
}

func (h *hostClient) Get(ctx context.Context, key string) (Entry, error) {
	if err := checkText("key", key); err != nil {
		return Entry{}, err
	}
	resp, err := h.c.StorageGet(ctx, &pb.StorageGetRequest{Key: key})
	if err != nil {
		return Entry{}, errwire.FromStatus(err)
	}
	return Entry{Key: key, Value: value(resp.GetValue()), ExpiresAt: timeFromProto(resp.GetExpiresAt())}, nil
}

func (h *hostClient) Put(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := checkText("key", key); err != nil {
		return err
	}
	_, err := h.c.StoragePut(ctx, &pb.StoragePutRequest{Key: key, Value: v, Ttl: ttlToProto(ttl)})
	return errwire.FromStatus(err)
}

func (h *hostClient) Delete(ctx context.Context, key string) (bool, error) {
	if err := checkText("key", key); err != nil {
		return false, err
	}
	resp, err := h.c.StorageDelete(ctx, &pb.StorageDeleteRequest{Key: key})
	if err != nil {
		return false, errwire.FromStatus(err)
	}
	return resp.GetDeleted(), nil
}

func (h *hostClient) List(ctx context.Context, prefix string) ([]Entry, error) {
	if err := checkText("prefix", prefix); err != nil {
		return nil, err
	}
	resp, err := h.c.StorageList(ctx, &pb.StorageListRequest{Prefix: prefix})
	if err != nil {
		return nil, errwire.FromStatus(err)
	}
	out := make([]Entry, 0, len(resp.GetEntries()))
	for _, e := range resp.GetEntries() {
		out = append(out, Entry{Key: e.GetKey(), Value: value(e.GetValue()), ExpiresAt: timeFromProto(e.GetExpiresAt())})
	}
	return out, nil
}

func (h *hostClient) Increment(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	return h.increment(ctx, &pb.StorageIncrementRequest{Key: key, Delta: delta, Ttl: ttlToProto(ttl)})
}

func (h *hostClient) increment(ctx context.Context, req *pb.StorageIncrementRequest) (int64, error) {
	if err := checkText("key", req.GetKey()); err != nil {
		return 0, err
	}
	resp, err := h.c.StorageIncrement(ctx, req)
	if err != nil {
		return 0, errwire.FromStatus(err)
	}
	return resp.GetValue(), nil
}

func (h *hostClient) CompareAndSwap(ctx context.Context, key string, oldValue, newValue []byte, ttl time.Duration) (bool, error) {
	if err := checkText("key", key); err != nil {
		return false, err
	}
	resp, err := h.c.StorageCompareAndSwap(ctx, &pb.StorageCompareAndSwapRequest{
		Key: key, OldPresent: oldValue != nil, OldValue: oldValue, NewValue: newValue, Ttl: ttlToProto(ttl),
	})
	if err != nil {
		return false, errwire.FromStatus(err)
	}
	return resp.GetSwapped(), nil
}

func (h *hostClient) Emit(ctx context.Context, name string, args any) (string, error) {
	if err := checkText("signal name", name); err != nil {
		return "", err
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return "", fmt.Errorf("%w: encoding the arguments of signal %s: %v", ErrInvalidArgument, name, err)
	}
	resp, err := h.c.EmitSignal(ctx, &pb.EmitSignalRequest{Name: name, ArgsJson: raw})
	if err != nil {
		return "", errwire.FromStatus(err)
	}
	return resp.GetId(), nil
}

func ttlToProto(ttl time.Duration) *durationpb.Duration {
	if ttl <= 0 {
		return nil
	}
	return durationpb.New(ttl)
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// Interface guards.
var (
	_ Host    = (*hostClient)(nil)
	_ Users   = (*hostClient)(nil)
	_ Storage = (*hostClient)(nil)
	_ Emitter = (*hostClient)(nil)
)
