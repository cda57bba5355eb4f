package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// maxMemoBytes bounds an AuthenticateResponse's Memo.
const maxMemoBytes = wire.MaxMemo

// grpcPlugin is the plugin side of the go-plugin wiring: it registers a
// gRPC server for each capability the plugin implements.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl   Plugin
	served *served
}

func (g *grpcPlugin) GRPCServer(broker *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterPluginServer(s, &pluginServer{impl: g.impl, broker: broker, served: g.served})
	if a, ok := g.impl.(Authenticator); ok {
		pb.RegisterAuthenticatorServer(s, &authenticatorServer{impl: a})
	}
	if o, ok := g.impl.(OutcomeObserver); ok {
		pb.RegisterOutcomeObserverServer(s, &observerServer{impl: o})
	}
	if l, ok := g.impl.(AttemptLimiter); ok {
		pb.RegisterAttemptLimiterServer(s, &limiterServer{impl: l})
	}
	if a, ok := g.impl.(Admin); ok {
		pb.RegisterAdminServer(s, &adminServer{impl: a})
	}
	if a, ok := g.impl.(AuthorizationRequestBackend); ok {
		pb.RegisterAuthorizationRequestBackendServer(s, &authRequestServer{impl: a})
	}
	if r, ok := g.impl.(redirect.Authenticator); ok {
		pb.RegisterRedirectAuthenticatorServer(s, &redirectServer{impl: r})
	}
	if r, ok := g.impl.(SignalReceiver); ok {
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
	served *served
}

func (s *pluginServer) Metadata(context.Context, *pb.MetadataRequest) (*pb.MetadataResponse, error) {
	md := s.impl.Metadata()
	resp := &pb.MetadataResponse{Name: md.Name, Version: md.Version, Emits: md.Emits}
	for _, c := range capabilities(s.impl) {
		resp.Capabilities = append(resp.Capabilities, capabilityToProto[c])
	}
	for _, sub := range md.Subscriptions {
		resp.Subscriptions = append(resp.Subscriptions, &pb.Subscription{Signal: sub.Signal, Sender: sub.Sender})
	}
	return resp, nil
}

func (s *pluginServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	var opts []grpc.DialOption
	if s.served != nil {
		opts = s.served.hostDial
	}
	conn, err := s.broker.DialWithOptions(req.GetHostServicesBrokerId(), opts...)
	if err != nil {
		return nil, errwire.ToStatus(fmt.Errorf("%w: dialing host services: %v", ErrUnavailable, err))
	}
	if s.served != nil {
		s.served.keepHostConn(conn)
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
	if u := req.GetUser(); u != nil {
		ctx = withLookedUp(ctx, req.GetUsername(), u)
	}
	var out AuthenticateResponse
	if err := s.impl.Authenticate(ctx, in, &out); err != nil {
		return nil, errwire.ToStatus(err)
	}
	if len(out.Memo) > maxMemoBytes {
		return nil, errwire.ToStatus(fmt.Errorf("%w: the memo is %d bytes, more than %d", ErrInvalidArgument, len(out.Memo), maxMemoBytes))
	}
	resp := &pb.AuthenticateResponse{
		Decision:    decisionToProto[out.Decision],
		Reason:      out.Reason,
		HttpStatus:  int32(out.HTTPStatus),
		Description: out.Description,
		Memo:        out.Memo,
	}
	if out.Decision == DecisionIdentity {
		resp.Identity = &pb.Identity{
			Subject:    out.Identity.Subject,
			Username:   out.Identity.Username,
			Attributes: out.Identity.Attributes,
			// A set: repeats go here, so that two groups a directory maps
			// to one role count once against the host's bound.
			Roles: sortedSet(out.Identity.Roles),
		}
	}
	if out.RetryAfter > 0 {
		resp.RetryAfter = durationpb.New(out.RetryAfter)
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

type observerServer struct {
	pb.UnimplementedOutcomeObserverServer
	impl OutcomeObserver
}

func (s *observerServer) LoginEnded(ctx context.Context, req *pb.LoginEndedRequest) (*pb.LoginEndedResponse, error) {
	err := s.impl.LoginEnded(ctx, &Outcome{
		RequestID: req.GetRequestId(),
		Result:    LoginResult(req.GetResult()),
		Username:  req.GetUsername(),
		Client:    Client{IP: req.GetClient().GetIp(), UserAgent: req.GetClient().GetUserAgent()},
		Backend:   req.GetBackend(),
		Reason:    req.GetReason(),
		Subject:   req.GetSubject(),
		Memo:      req.GetMemo(),
	})
	return &pb.LoginEndedResponse{}, errwire.ToStatus(err)
}

type limiterServer struct {
	pb.UnimplementedAttemptLimiterServer
	impl AttemptLimiter
}

func (s *limiterServer) AttemptRule(context.Context, *pb.AttemptRuleRequest) (*pb.AttemptRuleResponse, error) {
	return ruleToProto(s.impl.AttemptRule()), nil
}

// ruleToProto is the wire form of a rule; the host side reads it back.
func ruleToProto(r attempts.Rule) *pb.AttemptRuleResponse {
	out := &pb.AttemptRuleResponse{
		UsernameNormalization: r.UsernameNormalization,
		Ipv6Prefix:            int32(r.IPv6Prefix),
		OnlyAllowedIps:        r.OnlyAllowedIPs,
		NeverLock:             r.NeverLock,
		StatusCode:            int32(r.StatusCode),
		AccessLog:             r.AccessLog,
		FailureLog:            r.FailureLog,
		FailureLogPerUser:     int32(r.FailureLogPerUser),
		SensitiveFields:       r.SensitiveFields,
	}
	if r.MaxWait > 0 {
		out.MaxWait = durationpb.New(r.MaxWait)
	}
	for _, p := range r.AllowIPs {
		out.AllowIps = append(out.AllowIps, p.String())
	}
	for _, p := range r.BlockIPs {
		out.BlockIps = append(out.BlockIps, p.String())
	}
	for _, c := range r.Counters {
		pc := &pb.AttemptCounter{Fields: c.Fields, CountWhileLocked: c.CountWhileLocked, ResetOnSuccess: c.ResetOnSuccess}
		for _, t := range c.Tiers {
			pt := &pb.AttemptTier{Failures: int32(t.Failures)}
			if t.Cooloff > 0 {
				pt.Cooloff = durationpb.New(t.Cooloff)
			}
			pc.Tiers = append(pc.Tiers, pt)
		}
		out.Counters = append(out.Counters, pc)
	}
	return out
}

type adminServer struct {
	pb.UnimplementedAdminServer
	impl Admin
}

func (s *adminServer) Admin(ctx context.Context, req *pb.AdminRequest) (*pb.AdminResponse, error) {
	args := json.RawMessage(req.GetArgsJson())
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	var out AdminResponse
	if err := s.impl.Admin(ctx, &AdminRequest{Command: req.GetCommand(), Args: args, Secret: req.GetSecret()}, &out); err != nil {
		return nil, errwire.ToStatus(err)
	}
	return &pb.AdminResponse{ResultJson: out.Result, Message: out.Message}, nil
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
		Origin: sig.GetOrigin(),
		Time:   sig.GetTime().AsTime(),
		Args:   json.RawMessage(sig.GetArgsJson()),
	})
	return &pb.ReceiveResponse{}, errwire.ToStatus(err)
}

var capabilityToProto = map[wire.Capability]pb.Capability{
	wire.Authenticator:        pb.Capability_CAPABILITY_AUTHENTICATOR,
	wire.OutcomeObserver:      pb.Capability_CAPABILITY_OUTCOME_OBSERVER,
	wire.AttemptLimiter:       pb.Capability_CAPABILITY_ATTEMPT_LIMITER,
	wire.Admin:                pb.Capability_CAPABILITY_ADMIN,
	wire.SignalReceiver:       pb.Capability_CAPABILITY_SIGNAL_RECEIVER,
	wire.AuthorizationRequest: pb.Capability_CAPABILITY_AUTHORIZATION_REQUEST_BACKEND,
	wire.RedirectAuth:         pb.Capability_CAPABILITY_REDIRECT_AUTHENTICATOR,
}

var decisionToProto = map[Decision]pb.Decision{
	DecisionIdentity: pb.Decision_DECISION_IDENTITY,
	DecisionAbstain:  pb.Decision_DECISION_ABSTAIN,
	DecisionDeny:     pb.Decision_DECISION_DENY,
}

// Interface guards.
var (
	_ goplugin.GRPCPlugin      = (*grpcPlugin)(nil)
	_ pb.PluginServer          = (*pluginServer)(nil)
	_ pb.AuthenticatorServer   = (*authenticatorServer)(nil)
	_ pb.OutcomeObserverServer = (*observerServer)(nil)
	_ pb.AttemptLimiterServer  = (*limiterServer)(nil)
	_ pb.AdminServer           = (*adminServer)(nil)
	_ pb.SignalReceiverServer  = (*signalReceiverServer)(nil)
)

// sortedSet returns ss sorted, without repeats; nil for none.
func sortedSet(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
