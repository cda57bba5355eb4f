// Package hostside is the host's side of the plugin protocol: it dispenses
// plugins built with package sdk, calls their capabilities, and serves the
// host's services to them. It is not a client library for applications.
//
// Plugin authors do not need this package; the Portcullis host and
// sdk/sdktest use it.
package hostside

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"unicode/utf8"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// Handshake is the go-plugin handshake of the current protocol version.
var Handshake = wire.Handshake

// PluginName is the name to dispense a plugin by.
const PluginName = wire.PluginName

// LogLevelEnv is the environment variable that tells a plugin the host's
// log level.
const LogLevelEnv = wire.LogLevelEnv

// Capability names one capability a plugin implements.
type Capability = wire.Capability

// The capabilities, as the host requires and reports them.
const (
	Authenticator   = wire.Authenticator
	OutcomeObserver = wire.OutcomeObserver
	AttemptLimiter  = wire.AttemptLimiter
	Admin           = wire.Admin
	SignalReceiver  = wire.SignalReceiver
	// AuthorizationRequest is sdk.AuthorizationRequestBackend.
	AuthorizationRequest = wire.AuthorizationRequest
	// Redirect is redirect.Authenticator.
	Redirect = wire.RedirectAuth
)

// Info is what a plugin told the host about itself: its metadata and the
// capabilities its value implements.
type Info struct {
	sdk.Metadata
	Capabilities []Capability
}

// Has reports whether the plugin implements the capability.
func (i Info) Has(c Capability) bool { return slices.Contains(i.Capabilities, c) }

// DialOptions are the gRPC options the host dials a plugin with, after
// go-plugin's own: any one message the host receives from the plugin is
// bounded (wire.MaxMessage) where go-plugin allows 2 GiB, so that a
// plugin cannot make the host hold more for one answer.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(wire.MaxMessage))}
}

// PluginSet is the go-plugin plugin set to dispense PluginName from. host
// is served to the plugin for the life of its process, by a gRPC server
// made with serverOpts (added to go-plugin's own).
func PluginSet(host sdk.Host, serverOpts ...grpc.ServerOption) goplugin.PluginSet {
	return goplugin.PluginSet{wire.PluginName: &grpcPlugin{host: host, serverOpts: serverOpts}}
}

type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	host       sdk.Host
	serverOpts []grpc.ServerOption
}

func (g *grpcPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host side has no plugin server")
}

func (g *grpcPlugin) GRPCClient(_ context.Context, broker *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Remote{
		broker:     broker,
		host:       g.host,
		serverOpts: g.serverOpts,
		hostID:     broker.NextId(),
		stopped:    make(chan struct{}),
		plugin:     pb.NewPluginClient(conn),
		auth:       pb.NewAuthenticatorClient(conn),
		observer:   pb.NewOutcomeObserverClient(conn),
		limiter:    pb.NewAttemptLimiterClient(conn),
		admin:      pb.NewAdminClient(conn),
		signals:    pb.NewSignalReceiverClient(conn),
		authReqs:   pb.NewAuthorizationRequestBackendClient(conn),
		redirects:  pb.NewRedirectAuthenticatorClient(conn),
	}, nil
}

// Remote is a running plugin as the host sees it. Its methods are safe for
// concurrent use; every call carries ctx's deadline to the plugin. Call a
// capability's method only if Info says the plugin implements it.
type Remote struct {
	plugin   pb.PluginClient
	auth     pb.AuthenticatorClient
	observer pb.OutcomeObserverClient
	limiter  pb.AttemptLimiterClient
	admin    pb.AdminClient
	signals  pb.SignalReceiverClient
	authReqs pb.AuthorizationRequestBackendClient
	// redirects is the redirect.Authenticator (redirect.go).
	redirects pb.RedirectAuthenticatorClient

	// The host's services are served from the first Configure on, so that
	// a plugin that is never configured leaves no socket behind.
	broker     *goplugin.GRPCBroker
	host       sdk.Host
	serverOpts []grpc.ServerOption
	hostID     uint32
	mu         sync.Mutex
	serving    bool // the services were started
	done       bool // HostServicesStopped was asked for before they were
	stopped    chan struct{}
}

// serveHost starts serving the host's services, once.
func (r *Remote) serveHost() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.serving || r.done {
		return
	}
	r.serving = true
	go func() {
		defer close(r.stopped)
		r.broker.AcceptAndServe(r.hostID, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(append(opts, r.serverOpts...)...)
			pb.RegisterHostServicesServer(s, &hostServer{host: r.host})
			return s
		})
	}()
}

// HostServicesStopped is closed once the host's services for the plugin
// have stopped, and their socket is gone: after the go-plugin client is
// killed and the plugin's connections to them have closed. For a plugin
// never configured it is closed at once (and Configure then fails).
func (r *Remote) HostServicesStopped() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.serving && !r.done {
		r.done = true
		close(r.stopped)
	}
	return r.stopped
}

// Info asks the plugin to describe itself.
func (r *Remote) Info(ctx context.Context) (Info, error) {
	resp, err := r.plugin.Metadata(ctx, &pb.MetadataRequest{})
	if err != nil {
		return Info{}, errwire.FromStatus(err)
	}
	info := Info{Metadata: sdk.Metadata{Name: resp.GetName(), Version: resp.GetVersion(), Emits: resp.GetEmits()}}
	for _, c := range resp.GetCapabilities() {
		capability, ok := capabilityFromProto[c]
		if !ok {
			return Info{}, fmt.Errorf("plugin %q reports an unknown capability %v", info.Name, c)
		}
		info.Capabilities = append(info.Capabilities, capability)
	}
	for _, s := range resp.GetSubscriptions() {
		info.Subscriptions = append(info.Subscriptions, sdk.Subscription{Signal: s.GetSignal(), Sender: s.GetSender()})
	}
	return info, nil
}

// Configure hands the plugin its instance name and configuration. A bad
// configuration comes back as *sdk.ConfigError.
func (r *Remote) Configure(ctx context.Context, instance string, config json.RawMessage) error {
	r.serveHost()
	_, err := r.plugin.Configure(ctx, &pb.ConfigureRequest{
		Instance: instance, ConfigJson: config, HostServicesBrokerId: r.hostID,
	})
	return errwire.FromStatus(err)
}

// UserPrefetcher is implemented by a host (sdk.Host) that may send a
// plugin, with each Authenticate call, the user the call's username names,
// looked up through its own Users as the plugin would look it up: the SDK
// then answers the plugin's LookupUser of that username from it, without a
// call back across the process boundary.
type UserPrefetcher interface {
	// PrefetchesUsers reports whether the host sends the plugin its users.
	PrefetchesUsers() bool
}

// Authenticator returns the plugin's Authenticator. If the host is a
// UserPrefetcher that prefetches users, each call carries the user its
// username names.
func (r *Remote) Authenticator() sdk.Authenticator {
	a := authenticatorClient{c: r.auth}
	if p, ok := r.host.(UserPrefetcher); ok && p.PrefetchesUsers() {
		a.users = r.host.Users()
	}
	return a
}

// OutcomeObserver returns the plugin's OutcomeObserver.
func (r *Remote) OutcomeObserver() sdk.OutcomeObserver { return observerClient{r.observer} }

// Admin returns the plugin's Admin capability.
func (r *Remote) Admin() sdk.Admin { return adminClient{r.admin} }

// SignalReceiver returns the plugin's SignalReceiver.
func (r *Remote) SignalReceiver() sdk.SignalReceiver { return signalReceiverClient{r.signals} }

// AuthorizationRequestBackend returns the plugin's
// AuthorizationRequestBackend (authreq.go).
func (r *Remote) AuthorizationRequestBackend() sdk.AuthorizationRequestBackend {
	return authRequestClient{r.authReqs}
}

// AttemptRule asks an AttemptLimiter for its rule. A rule the host could
// not enforce as written (an unknown field, an address list that does not
// parse) is an error.
func (r *Remote) AttemptRule(ctx context.Context) (attempts.Rule, error) {
	resp, err := r.limiter.AttemptRule(ctx, &pb.AttemptRuleRequest{})
	if err != nil {
		return attempts.Rule{}, errwire.FromStatus(err)
	}
	return ruleFromProto(resp)
}

func ruleFromProto(p *pb.AttemptRuleResponse) (attempts.Rule, error) {
	r := attempts.Rule{
		UsernameNormalization: p.GetUsernameNormalization(),
		IPv6Prefix:            int(p.GetIpv6Prefix()),
		OnlyAllowedIPs:        p.GetOnlyAllowedIps(),
		NeverLock:             p.GetNeverLock(),
		StatusCode:            int(p.GetStatusCode()),
		AccessLog:             p.GetAccessLog(),
		FailureLog:            p.GetFailureLog(),
		FailureLogPerUser:     int(p.GetFailureLogPerUser()),
		SensitiveFields:       p.GetSensitiveFields(),
		MaxWait:               p.GetMaxWait().AsDuration(),
	}
	for _, list := range []struct {
		in  []string
		out *[]netip.Prefix
	}{{p.GetAllowIps(), &r.AllowIPs}, {p.GetBlockIps(), &r.BlockIPs}} {
		for _, s := range list.in {
			prefix, err := netip.ParsePrefix(s)
			if err != nil {
				return attempts.Rule{}, fmt.Errorf("%w: attempt rule: %q is not a CIDR prefix", sdk.ErrInvalidArgument, s)
			}
			*list.out = append(*list.out, prefix)
		}
	}
	for _, c := range p.GetCounters() {
		counter := attempts.Counter{Fields: c.GetFields(), CountWhileLocked: c.GetCountWhileLocked(), ResetOnSuccess: c.GetResetOnSuccess()}
		for _, t := range c.GetTiers() {
			counter.Tiers = append(counter.Tiers, attempts.Tier{Failures: int(t.GetFailures()), Cooloff: t.GetCooloff().AsDuration()})
		}
		r.Counters = append(r.Counters, counter)
	}
	return r, nil
}

type authenticatorClient struct {
	c pb.AuthenticatorClient
	// users, when not nil, looks up the user each call names, to send it
	// with the call.
	users sdk.Users
}

// lookUp is the user username names, to send with an Authenticate call,
// or nil to send none: when the host sends no users, or the lookup failed
// (the plugin's own lookup then meets the failure itself).
func (a authenticatorClient) lookUp(ctx context.Context, username string) *pb.UserLookup {
	if a.users == nil || !utf8.ValidString(username) {
		return nil
	}
	u, err := a.users.LookupUser(ctx, username)
	switch {
	case err == nil:
		return &pb.UserLookup{Found: true, User: userToProto(u)}
	case errors.Is(err, sdk.ErrNotFound):
		return &pb.UserLookup{}
	}
	return nil
}

// ErrNoDecision is returned when a plugin answers without a valid decision
// (an identity without a subject, an empty answer judged valid); the host
// treats it like any other failure to decide.
var ErrNoDecision = errors.New("plugin answered without a valid decision")

func (a authenticatorClient) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	out, err := a.c.Authenticate(ctx, &pb.AuthenticateRequest{
		RequestId:   req.RequestID,
		Username:    req.Username,
		Password:    req.Password,
		Credentials: req.Credentials,
		Client:      &pb.Client{Ip: req.Client.IP, UserAgent: req.Client.UserAgent},
		Path:        req.Path,
		User:        a.lookUp(ctx, req.Username),
	})
	if err != nil {
		return errwire.FromStatus(err)
	}
	if err := checkAnswerSize(out); err != nil {
		return err
	}
	*resp = sdk.AuthenticateResponse{
		Reason:      out.GetReason(),
		HTTPStatus:  int(out.GetHttpStatus()),
		Description: out.GetDescription(),
		Memo:        out.GetMemo(),
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
		roles, err := identityRoles(id.GetRoles())
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoDecision, err)
		}
		resp.Decision = sdk.DecisionIdentity
		resp.Identity = sdk.Identity{Subject: id.GetSubject(), Username: id.GetUsername(), Attributes: id.GetAttributes(), Roles: roles}
	case pb.Decision_DECISION_ABSTAIN:
		resp.Decision = sdk.DecisionAbstain
	case pb.Decision_DECISION_DENY:
		resp.Decision = sdk.DecisionDeny
	default:
		return fmt.Errorf("%w: %v", ErrNoDecision, out.GetDecision())
	}
	return nil
}

// checkAnswerSize refuses, as no decision, an answer with a field over its
// bound (package wire): a backend, hostile or broken, must not make the
// host hold megabytes for every login, or send them to the client.
func checkAnswerSize(out *pb.AuthenticateResponse) error {
	attrs := 0
	for k, v := range out.GetIdentity().GetAttributes() {
		attrs += len(k) + len(v)
	}
	for _, f := range []struct {
		name      string
		size, max int
	}{
		{"reason", len(out.GetReason()), wire.MaxReason},
		{"description", len(out.GetDescription()), wire.MaxDescription},
		{"memo", len(out.GetMemo()), wire.MaxMemo},
		{"details_json", len(out.GetDetailsJson()), wire.MaxDetails},
		{"identity's subject", len(out.GetIdentity().GetSubject()), wire.MaxSubject},
		{"identity's username", len(out.GetIdentity().GetUsername()), wire.MaxSubject},
		{"identity's attributes", attrs, wire.MaxDetails},
	} {
		if f.size > f.max {
			return fmt.Errorf("%w: the %s is %d bytes, more than %d", ErrNoDecision, f.name, f.size, f.max)
		}
	}
	return nil
}

type observerClient struct{ c pb.OutcomeObserverClient }

func (o observerClient) LoginEnded(ctx context.Context, oc *sdk.Outcome) error {
	_, err := o.c.LoginEnded(ctx, &pb.LoginEndedRequest{
		RequestId: oc.RequestID,
		Result:    pb.LoginResult(oc.Result),
		Username:  oc.Username,
		Client:    &pb.Client{Ip: oc.Client.IP, UserAgent: oc.Client.UserAgent},
		Backend:   oc.Backend,
		Reason:    oc.Reason,
		Subject:   oc.Subject,
		Memo:      oc.Memo,
	})
	return errwire.FromStatus(err)
}

type adminClient struct{ c pb.AdminClient }

func (a adminClient) Admin(ctx context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	out, err := a.c.Admin(ctx, &pb.AdminRequest{Command: req.Command, ArgsJson: req.Args, Secret: req.Secret})
	if err != nil {
		return errwire.FromStatus(err)
	}
	*resp = sdk.AdminResponse{Result: out.GetResultJson(), Message: out.GetMessage()}
	return nil
}

type signalReceiverClient struct{ c pb.SignalReceiverClient }

func (s signalReceiverClient) Receive(ctx context.Context, sig *sdk.Signal) error {
	_, err := s.c.Receive(ctx, &pb.ReceiveRequest{Signal: &pb.Signal{
		Id:       sig.ID,
		Name:     sig.Name,
		Sender:   sig.Sender,
		Origin:   sig.Origin,
		Time:     timestamppb.New(sig.Time),
		ArgsJson: sig.Args,
	}})
	return errwire.FromStatus(err)
}

var capabilityFromProto = map[pb.Capability]Capability{
	pb.Capability_CAPABILITY_AUTHENTICATOR:                 wire.Authenticator,
	pb.Capability_CAPABILITY_OUTCOME_OBSERVER:              wire.OutcomeObserver,
	pb.Capability_CAPABILITY_ATTEMPT_LIMITER:               wire.AttemptLimiter,
	pb.Capability_CAPABILITY_ADMIN:                         wire.Admin,
	pb.Capability_CAPABILITY_SIGNAL_RECEIVER:               wire.SignalReceiver,
	pb.Capability_CAPABILITY_AUTHORIZATION_REQUEST_BACKEND: wire.AuthorizationRequest,
	pb.Capability_CAPABILITY_REDIRECT_AUTHENTICATOR:        wire.RedirectAuth,
}

// Interface guards.
var (
	_ goplugin.GRPCPlugin = (*grpcPlugin)(nil)
	_ sdk.Authenticator   = authenticatorClient{}
	_ sdk.OutcomeObserver = observerClient{}
	_ sdk.Admin           = adminClient{}
	_ sdk.SignalReceiver  = signalReceiverClient{}
)
