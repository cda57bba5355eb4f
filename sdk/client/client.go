// Package client is the host's side of the plugin protocol: it dispenses
// plugins built with package sdk and serves the host's services to them.
//
// Plugin authors do not need this package; the Portcullis host and
// sdk/sdktest use it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
)

// PluginSet is the go-plugin plugin set to dispense sdk.PluginName from.
// host is served to the plugin for the life of its process.
func PluginSet(host sdk.Host) goplugin.PluginSet {
	return goplugin.PluginSet{sdk.PluginName: &grpcPlugin{host: host}}
}

type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	host sdk.Host
}

func (g *grpcPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host side has no plugin server")
}

func (g *grpcPlugin) GRPCClient(_ context.Context, broker *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	id := broker.NextId()
	go broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		pb.RegisterHostServicesServer(s, &hostServer{host: g.host})
		return s
	})
	return &Remote{
		plugin:  pb.NewPluginClient(conn),
		auth:    pb.NewAuthenticatorClient(conn),
		signals: pb.NewSignalReceiverClient(conn),
		hostID:  id,
	}, nil
}

// Remote is a running plugin as the host sees it. Its methods are safe for
// concurrent use; every call carries ctx's deadline to the plugin.
type Remote struct {
	plugin  pb.PluginClient
	auth    pb.AuthenticatorClient
	signals pb.SignalReceiverClient
	hostID  uint32
}

// Metadata asks the plugin to describe itself.
func (r *Remote) Metadata(ctx context.Context) (sdk.Metadata, error) {
	resp, err := r.plugin.Metadata(ctx, &pb.MetadataRequest{})
	if err != nil {
		return sdk.Metadata{}, errwire.FromStatus(err)
	}
	md := sdk.Metadata{Name: resp.GetName(), Version: resp.GetVersion()}
	for _, c := range resp.GetCapabilities() {
		capability, ok := capabilityFromProto[c]
		if !ok {
			return sdk.Metadata{}, fmt.Errorf("plugin %q declares unknown capability %v", md.Name, c)
		}
		md.Capabilities = append(md.Capabilities, capability)
	}
	for _, s := range resp.GetSubscriptions() {
		md.Subscriptions = append(md.Subscriptions, sdk.Subscription{Signal: s.GetSignal(), Sender: s.GetSender(), IgnoreOwn: s.GetIgnoreOwn()})
	}
	return md, nil
}

// Configure hands the plugin its instance name and configuration. A bad
// configuration comes back as *sdk.ConfigError.
func (r *Remote) Configure(ctx context.Context, instance string, config json.RawMessage) error {
	_, err := r.plugin.Configure(ctx, &pb.ConfigureRequest{
		Instance: instance, ConfigJson: config, HostServicesBrokerId: r.hostID,
	})
	return errwire.FromStatus(err)
}

// Authenticator returns the plugin's Authenticator capability. Call it only
// if the metadata declares sdk.CapabilityAuthenticator.
func (r *Remote) Authenticator() sdk.Authenticator { return authenticatorClient{r.auth} }

// SignalReceiver returns the plugin's SignalReceiver capability. Call it only
// if the metadata declares sdk.CapabilitySignalReceiver.
func (r *Remote) SignalReceiver() sdk.SignalReceiver { return signalReceiverClient{r.signals} }

type authenticatorClient struct{ c pb.AuthenticatorClient }

// ErrNoDecision is returned when a plugin answers without a valid decision;
// the host treats it like any other failure to decide.
var ErrNoDecision = errors.New("plugin answered without a valid decision")

func (a authenticatorClient) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	out, err := a.c.Authenticate(ctx, &pb.AuthenticateRequest{
		RequestId:   req.RequestID,
		Username:    req.Username,
		Password:    req.Password,
		Credentials: req.Credentials,
		Client:      &pb.Client{Ip: req.Client.IP, UserAgent: req.Client.UserAgent},
		Path:        req.Path,
	})
	if err != nil {
		return errwire.FromStatus(err)
	}
	*resp = sdk.AuthenticateResponse{
		Reason:      out.GetReason(),
		HTTPStatus:  int(out.GetHttpStatus()),
		Description: out.GetDescription(),
	}
	if d := out.GetRetryAfter(); d != nil {
		resp.RetryAfter = d.AsDuration()
	}
	if raw := out.GetDetailsJson(); len(raw) > 0 {
		if err := json.Unmarshal(raw, &resp.Details); err != nil {
			return fmt.Errorf("%w: deny details are not a JSON object: %v", ErrNoDecision, err)
		}
	}
	switch out.GetDecision() {
	case pb.Decision_DECISION_IDENTITY:
		id := out.GetIdentity()
		if id.GetSubject() == "" {
			return fmt.Errorf("%w: identity without a subject", ErrNoDecision)
		}
		resp.Decision = sdk.DecisionIdentity
		resp.Identity = sdk.Identity{Subject: id.GetSubject(), Username: id.GetUsername(), Attributes: id.GetAttributes()}
	case pb.Decision_DECISION_ABSTAIN:
		resp.Decision = sdk.DecisionAbstain
	case pb.Decision_DECISION_DENY:
		resp.Decision = sdk.DecisionDeny
		if sc := out.GetShortcut(); sc != nil {
			resp.Shortcut = &sdk.Shortcut{
				TTL: sc.GetTtl().AsDuration(), Counters: sc.GetCounters(), Above: sc.GetAbove(), Below: sc.GetBelow(),
				Renew: sc.GetRenew().AsDuration(),
			}
		}
	default:
		return fmt.Errorf("%w: %v", ErrNoDecision, out.GetDecision())
	}
	return nil
}

type signalReceiverClient struct{ c pb.SignalReceiverClient }

func (s signalReceiverClient) Receive(ctx context.Context, sig *sdk.Signal) error {
	_, err := s.c.Receive(ctx, &pb.ReceiveRequest{Signal: &pb.Signal{
		Id:       sig.ID,
		Name:     sig.Name,
		Sender:   sig.Sender,
		Time:     timestamppb.New(sig.Time),
		ArgsJson: sig.Args,
	}})
	return errwire.FromStatus(err)
}

var capabilityFromProto = map[pb.Capability]sdk.Capability{
	pb.Capability_CAPABILITY_AUTHENTICATOR:                 sdk.CapabilityAuthenticator,
	pb.Capability_CAPABILITY_REDIRECT_AUTHENTICATOR:        sdk.CapabilityRedirectAuthenticator,
	pb.Capability_CAPABILITY_AUTHORIZATION_REQUEST_BACKEND: sdk.CapabilityAuthorizationRequestBackend,
	pb.Capability_CAPABILITY_SIGNAL_RECEIVER:               sdk.CapabilitySignalReceiver,
}

// Interface guards.
var (
	_ goplugin.GRPCPlugin = (*grpcPlugin)(nil)
	_ sdk.Authenticator   = authenticatorClient{}
	_ sdk.SignalReceiver  = signalReceiverClient{}
)
