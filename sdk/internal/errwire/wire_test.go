package errwire_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// fakeAuthServer is an Authenticator service whose answer is a function;
// like the SDK's own adapter, it sends errors through ToStatus.
type fakeAuthServer struct {
	pb.UnimplementedAuthenticatorServer
	authenticate func(ctx context.Context, req *pb.AuthenticateRequest) error
}

func (f *fakeAuthServer) Authenticate(ctx context.Context, req *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if err := f.authenticate(ctx, req); err != nil {
		return nil, errwire.ToStatus(err)
	}
	return &pb.AuthenticateResponse{}, nil
}

// startServer serves srv over an in-memory connection and returns a client
// and a function that stops the server.
func startServer(t *testing.T, srv pb.AuthenticatorServer) (pb.AuthenticatorClient, func()) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	pb.RegisterAuthenticatorServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		s.Stop()
	})
	return pb.NewAuthenticatorClient(conn), s.Stop
}

func TestErrorsCrossTheWire(t *testing.T) {
	cfgErr := &errwire.ConfigError{Problems: []strictjson.Problem{
		{Path: "failure_limit", Message: "must be > 0"},
		{Path: "servers[0].url", Message: "unknown field"},
	}}
	tests := []struct {
		name    string
		err     error
		want    error // sentinel errors.Is must match, nil for none
		wantMsg string
		wantCfg []strictjson.Problem
	}{
		{"not found", fmt.Errorf("user %q: %w", "bob", errwire.ErrNotFound), errwire.ErrNotFound, `user "bob": not found`, nil},
		{"conflict", errwire.ErrConflict, errwire.ErrConflict, "conflict", nil},
		{"invalid argument", errwire.ErrInvalidArgument, errwire.ErrInvalidArgument, "invalid argument", nil},
		{"unavailable", fmt.Errorf("%w: ldap is down", errwire.ErrUnavailable), errwire.ErrUnavailable, "unavailable: ldap is down", nil},
		{"unimplemented", errwire.ErrUnimplemented, errwire.ErrUnimplemented, "not implemented", nil},
		{"canceled", context.Canceled, context.Canceled, "context canceled", nil},
		{"config error", cfgErr, errwire.ErrInvalidArgument, cfgErr.Error(), cfgErr.Problems},
		{"unknown", errors.New("segfault in libldap"), nil, "", nil},
	}
	var current error
	client, _ := startServer(t, &fakeAuthServer{authenticate: func(context.Context, *pb.AuthenticateRequest) error { return current }})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			current = tt.err
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, raw := client.Authenticate(ctx, &pb.AuthenticateRequest{Username: "bob"})
			if raw == nil {
				t.Fatal("the call succeeded; want an error")
			}
			err := errwire.FromStatus(raw)
			checkOnlySentinel(t, err, tt.want)
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("message = %q, want %q", err.Error(), tt.wantMsg)
			}
			if tt.want == nil && err.Error() == "" {
				t.Errorf("unknown error lost its message")
			}
			var got *errwire.ConfigError
			if isCfg := errors.As(err, &got); isCfg != (tt.wantCfg != nil) {
				t.Fatalf("errors.As(*ConfigError) = %v, want %v", isCfg, !isCfg)
			}
			if got != nil && !slices.Equal(got.Problems, tt.wantCfg) {
				t.Errorf("problems = %v, want %v", got.Problems, tt.wantCfg)
			}
		})
	}
}

func TestDeadlineCrossesTheWire(t *testing.T) {
	client, _ := startServer(t, &fakeAuthServer{authenticate: func(ctx context.Context, _ *pb.AuthenticateRequest) error {
		<-ctx.Done()
		return ctx.Err()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, raw := client.Authenticate(ctx, &pb.AuthenticateRequest{})
	err := errwire.FromStatus(raw)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want errors.Is(err, context.DeadlineExceeded)", err)
	}
}

func TestGoneServerIsUnavailable(t *testing.T) {
	client, stop := startServer(t, &fakeAuthServer{authenticate: func(context.Context, *pb.AuthenticateRequest) error { return nil }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Authenticate(ctx, &pb.AuthenticateRequest{}); err != nil {
		t.Fatalf("first call: %v", err)
	}
	stop()
	_, raw := client.Authenticate(ctx, &pb.AuthenticateRequest{})
	err := errwire.FromStatus(raw)
	checkOnlySentinel(t, err, errwire.ErrUnavailable)
}
