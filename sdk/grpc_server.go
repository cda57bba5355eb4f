package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
)

// grpcPlugin is the plugin side of the go-plugin wiring: it registers the
// gRPC servers for the capabilities the plugin declares.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl Plugin
}

func (g *grpcPlugin) GRPCServer(broker *goplugin.GRPCBroker, s *grpc.Server) error {
	md := g.impl.Metadata()
	pb.RegisterPluginServer(s, &pluginServer{impl: g.impl, broker: broker})
	if a, ok := g.impl.(Authenticator); ok && md.Has(CapabilityAuthenticator) {
		pb.RegisterAuthenticatorServer(s, &authenticatorServer{impl: a})
	}
	if r, ok := g.impl.(SignalReceiver); ok && md.Has(CapabilitySignalReceiver) {
		pb.RegisterSignalReceiverServer(s, &signalReceiverServer{impl: r})
	}
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the plugin side has no client")
}

// recoverInterceptor turns a panic in a plugin method into an error for that
// call, so one bad request does not take the process (and every login that
// needs it) down.
func recoverInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("plugin method panicked", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "plugin panicked in %s", info.FullMethod)
			}
		}()
		return handler(ctx, req)
	}
}

// drainInterceptor refuses the calls that began once the plugin was
// stopping; d, the server's stats handler, tracks the others until they
// have ended.
func drainInterceptor(d *drainer) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !d.admitted(ctx) {
			return nil, status.Error(codes.Unavailable, "plugin is stopping")
		}
		return handler(ctx, req)
	}
}

type pluginServer struct {
	pb.UnimplementedPluginServer
	impl   Plugin
	broker *goplugin.GRPCBroker
}

func (s *pluginServer) Metadata(context.Context, *pb.MetadataRequest) (*pb.MetadataResponse, error) {
	md := s.impl.Metadata()
	resp := &pb.MetadataResponse{Name: md.Name, Version: md.Version}
	for _, c := range md.Capabilities {
		resp.Capabilities = append(resp.Capabilities, capabilityToProto[c])
	}
	for _, sub := range md.Subscriptions {
		resp.Subscriptions = append(resp.Subscriptions, &pb.Subscription{Signal: sub.Signal, Sender: sub.Sender, IgnoreOwn: sub.IgnoreOwn})
	}
	return resp, nil
}

func (s *pluginServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	conn, err := s.broker.Dial(req.GetHostServicesBrokerId())
	if err != nil {
		return nil, errwire.ToStatus(fmt.Errorf("%w: dialing host services: %v", ErrUnavailable, err))
	}
	err = s.impl.Configure(ctx, &ConfigureRequest{
		Instance: req.GetInstance(),
		Config:   json.RawMessage(req.GetConfigJson()),
		Host:     newHostClient(pb.NewHostServicesClient(conn)),
	})
	return &pb.ConfigureResponse{}, errwire.ToStatus(err)
}

type authenticatorServer struct {
	pb.UnimplementedAuthenticatorServer
	impl Authenticator
}

func (s *authenticatorServer) Authenticate(ctx context.Context, req *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	in := &AuthenticateRequest{
		RequestID:   req.GetRequestId(),
		Username:    req.GetUsername(),
		Password:    req.GetPassword(),
		Credentials: req.GetCredentials(),
		Client:      Client{IP: req.GetClient().GetIp(), UserAgent: req.GetClient().GetUserAgent()},
		Path:        req.GetPath(),
	}
	var out AuthenticateResponse
	if err := s.impl.Authenticate(ctx, in, &out); err != nil {
		return nil, errwire.ToStatus(err)
	}
	resp := &pb.AuthenticateResponse{
		Decision:    decisionToProto[out.Decision],
		Reason:      out.Reason,
		HttpStatus:  int32(out.HTTPStatus),
		Description: out.Description,
	}
	if out.Decision == DecisionIdentity {
		resp.Identity = &pb.Identity{
			Subject:    out.Identity.Subject,
			Username:   out.Identity.Username,
			Attributes: out.Identity.Attributes,
		}
	}
	if out.RetryAfter > 0 {
		resp.RetryAfter = durationpb.New(out.RetryAfter)
	}
	if sc := out.Shortcut; sc != nil && out.Decision == DecisionDeny {
		resp.Shortcut = &pb.Shortcut{
			Ttl: durationpb.New(sc.TTL), Counters: sc.Counters, Above: sc.Above, Below: sc.Below,
			Renew: durationpb.New(sc.Renew),
		}
	}
	if len(out.Details) > 0 {
		details, err := json.Marshal(out.Details)
		if err != nil {
			return nil, errwire.ToStatus(fmt.Errorf("encoding deny details: %w", err))
		}
		resp.DetailsJson = details
	}
	return resp, nil
}

type signalReceiverServer struct {
	pb.UnimplementedSignalReceiverServer
	impl SignalReceiver
}

func (s *signalReceiverServer) Receive(ctx context.Context, req *pb.ReceiveRequest) (*pb.ReceiveResponse, error) {
	sig := req.GetSignal()
	err := s.impl.Receive(ctx, &Signal{
		ID:     sig.GetId(),
		Name:   sig.GetName(),
		Sender: sig.GetSender(),
		Time:   sig.GetTime().AsTime(),
		Args:   json.RawMessage(sig.GetArgsJson()),
	})
	return &pb.ReceiveResponse{}, errwire.ToStatus(err)
}

var capabilityToProto = map[Capability]pb.Capability{
	CapabilityAuthenticator:               pb.Capability_CAPABILITY_AUTHENTICATOR,
	CapabilityRedirectAuthenticator:       pb.Capability_CAPABILITY_REDIRECT_AUTHENTICATOR,
	CapabilityAuthorizationRequestBackend: pb.Capability_CAPABILITY_AUTHORIZATION_REQUEST_BACKEND,
	CapabilitySignalReceiver:              pb.Capability_CAPABILITY_SIGNAL_RECEIVER,
}

var decisionToProto = map[Decision]pb.Decision{
	DecisionUnset:    pb.Decision_DECISION_UNSPECIFIED,
	DecisionIdentity: pb.Decision_DECISION_IDENTITY,
	DecisionAbstain:  pb.Decision_DECISION_ABSTAIN,
	DecisionDeny:     pb.Decision_DECISION_DENY,
}

// Interface guards.
var (
	_ goplugin.GRPCPlugin     = (*grpcPlugin)(nil)
	_ pb.PluginServer         = (*pluginServer)(nil)
	_ pb.AuthenticatorServer  = (*authenticatorServer)(nil)
	_ pb.SignalReceiverServer = (*signalReceiverServer)(nil)
)
