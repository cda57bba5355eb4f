package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path"
	"slices"
	"sync"
	"syscall"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// State is an instance's life-cycle state.
type State string

// The states.
const (
	StateRunning  State = "running"
	StateDown     State = "down"
	StateStopped  State = "stopped"
	StateStarting State = "starting"
)

// Status is a snapshot of one instance.
type Status struct {
	Name      string
	Plugin    string
	State     State
	PID       int
	Restarts  int
	Info      hostside.Info
	LastError string
}

// stableAfter is how long a plugin must run before its back-off resets
// (Supervisor.stableAfter, which tests shorten).
const stableAfter = time.Minute

// exitPollInterval is how often the supervisor checks that a plugin lives.
const exitPollInterval = 50 * time.Millisecond

// Instance is one supervised plugin process and its restarts.
type Instance struct {
	spec  Spec
	sup   *Supervisor
	nudge chan struct{}

	mu        sync.RWMutex
	state     State
	client    *goplugin.Client
	proc      *processRunner
	remote    *hostside.Remote
	info      hostside.Info
	rule      *attempts.Rule
	pid       int
	starts    int
	startedAt time.Time
	lastErr   error
}

// Status reports the instance's state.
func (i *Instance) Status() Status {
	i.mu.RLock()
	defer i.mu.RUnlock()
	st := Status{Name: i.spec.Name, Plugin: i.spec.Plugin, State: i.state, PID: i.pid, Info: i.info}
	if i.starts > 0 {
		st.Restarts = i.starts - 1
	}
	if i.lastErr != nil {
		st.LastError = i.lastErr.Error()
	}
	return st
}

// current returns the live remote, or nil while the process is down.
func (i *Instance) current() *hostside.Remote {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.state != StateRunning {
		return nil
	}
	return i.remote
}

// Authenticator returns the instance's Authenticator. It stays valid across
// restarts: each call goes to the process running at the time, and fails
// with ErrBackendDown while there is none.
func (i *Instance) Authenticator() sdk.Authenticator { return authenticator{i} }

// SignalReceiver returns the instance's SignalReceiver, valid across
// restarts like Authenticator.
func (i *Instance) SignalReceiver() sdk.SignalReceiver { return receiver{i} }

// OutcomeObserver returns the instance's OutcomeObserver, valid across
// restarts like Authenticator.
func (i *Instance) OutcomeObserver() sdk.OutcomeObserver { return observer{i} }

// Admin returns the instance's Admin capability, valid across restarts
// like Authenticator.
func (i *Instance) Admin() sdk.Admin { return admin{i} }

// AuthorizationRequestBackend returns the instance's
// AuthorizationRequestBackend, valid across restarts like Authenticator.
func (i *Instance) AuthorizationRequestBackend() sdk.AuthorizationRequestBackend {
	return authRequests{i}
}

// AttemptRule returns the rule an AttemptLimiter declared at its first
// start, and false for another plugin.
func (i *Instance) AttemptRule() (attempts.Rule, bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.rule == nil {
		return attempts.Rule{}, false
	}
	return *i.rule, true
}

type observer struct{ i *Instance }

func (o observer) LoginEnded(ctx context.Context, oc *sdk.Outcome) error {
	r := o.i.current()
	if r == nil {
		return ErrBackendDown
	}
	err := r.OutcomeObserver().LoginEnded(ctx, oc)
	o.i.checkAfter(err)
	return err
}

type admin struct{ i *Instance }

func (a admin) Admin(ctx context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	r := a.i.current()
	if r == nil {
		return ErrBackendDown
	}
	err := r.Admin().Admin(ctx, req, resp)
	a.i.checkAfter(err)
	return err
}

type authRequests struct{ i *Instance }

func (a authRequests) PrepareChallenge(ctx context.Context, req *authreq.Request) (authreq.Challenge, error) {
	r := a.i.current()
	if r == nil {
		return authreq.Challenge{}, ErrBackendDown
	}
	ch, err := r.AuthorizationRequestBackend().PrepareChallenge(ctx, req)
	a.i.checkAfter(err)
	return ch, err
}

func (a authRequests) CheckAnswer(ctx context.Context, req *authreq.Request, state []byte, answer authreq.Answer) (authreq.Verdict, error) {
	r := a.i.current()
	if r == nil {
		return authreq.Verdict{}, ErrBackendDown
	}
	v, err := r.AuthorizationRequestBackend().CheckAnswer(ctx, req, state, answer)
	a.i.checkAfter(err)
	return v, err
}

type authenticator struct{ i *Instance }

func (a authenticator) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	r := a.i.current()
	if r == nil {
		return ErrBackendDown
	}
	err := r.Authenticator().Authenticate(ctx, req, resp)
	a.i.checkAfter(err)
	return err
}

type receiver struct{ i *Instance }

func (rc receiver) Receive(ctx context.Context, sig *sdk.Signal) error {
	r := rc.i.current()
	if r == nil {
		return ErrBackendDown
	}
	err := r.SignalReceiver().Receive(ctx, sig)
	rc.i.checkAfter(err)
	return err
}

// checkAfter wakes the watcher when a call failed as if the process died,
// so that the instance is marked down at once rather than at the next poll.
func (i *Instance) checkAfter(err error) {
	if errors.Is(err, sdk.ErrUnavailable) {
		select {
		case i.nudge <- struct{}{}:
		default:
		}
	}
}

// start runs the plugin process once and hands it its configuration.
func (i *Instance) start(ctx context.Context) error {
	opts := i.sup.opts
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	i.mu.Lock()
	i.state = StateStarting
	i.mu.Unlock()

	cmd, exe, err := i.command()
	if err != nil {
		return err
	}
	if exe != nil {
		defer exe.Close()
	}
	log := opts.Logger.With("backend", i.spec.Name, "plugin", i.spec.Plugin)
	sandbox, confined, err := i.confinement(log)
	if err != nil {
		return err
	}
	proc := newProcessRunner(cmd, i.sup.spawn, i.spec.Plugin, exe, sandbox)
	serverOpts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(i.countCalls(FromPlugin))}
	dialOpts := append(hostside.DialOptions(), grpc.WithChainUnaryInterceptor(i.countCallsOut()))
	if tp := opts.TracerProvider; tp != nil {
		serverOpts = append(serverOpts, grpc.StatsHandler(hostside.TraceServerHandler(tp)))
		dialOpts = append(dialOpts, grpc.WithStatsHandler(hostside.TraceClientHandler(tp)))
	}
	c := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  hostside.Handshake,
		Plugins:          hostside.PluginSet(i.spec.Host, serverOpts...),
		GRPCDialOptions:  dialOpts,
		RunnerFunc:       proc.attach,
		UnixSocketConfig: &goplugin.UnixSocketConfig{TempDir: i.sup.dir.path},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     opts.StartTimeout,
		SkipHostEnv:      true,
		Logger:           newHCLogAdapter(log, cmd.Path),
		SyncStdout:       io.Discard,
		SyncStderr:       io.Discard,
	})
	fail := func(err error) error {
		c.Kill()
		proc.removeSocketDir()
		return err
	}
	if _, err := c.Start(); err != nil {
		c.Kill()
		return fail(proc.startError(err))
	}
	proc.handshakeDone()
	rpc, err := c.Client()
	if err != nil {
		return fail(fmt.Errorf("connecting: %w", err))
	}
	raw, err := rpc.Dispense(hostside.PluginName)
	if err != nil {
		return fail(fmt.Errorf("dispensing: %w", err))
	}
	remote, ok := raw.(*hostside.Remote)
	if !ok {
		return fail(fmt.Errorf("plugin dispensed %T", raw))
	}
	info, err := remote.Info(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading metadata: %w", err))
	}
	if err := i.checkCapabilities(info); err != nil {
		return fail(err)
	}
	// A plugin is an authenticator, and may look users up, only as a
	// backend: a signal subscriber that also implements Authenticate is
	// still only a subscriber.
	i.spec.Host.Declare(info.Has(hostside.Authenticator) && i.spec.Backend, info.Emits)
	if err := remote.Configure(ctx, i.spec.Name, i.spec.Config); err != nil {
		return fail(fmt.Errorf("configuring: %w", err))
	}
	// Subscriptions may depend on the configuration: read them again.
	first := info
	if info, err = remote.Info(ctx); err != nil {
		return fail(fmt.Errorf("reading metadata after configuring: %w", err))
	}
	// What the plugin is and may send was settled before Configure, and
	// checked then: a plugin that says something else now is refused
	// rather than run as what it was not checked to be.
	if !sameCapabilities(first.Capabilities, info.Capabilities) {
		return fail(fmt.Errorf("plugin %q changed its capabilities after Configure, from %v to %v", first.Name, first.Capabilities, info.Capabilities))
	}
	info.Emits = first.Emits
	var rule *attempts.Rule
	if info.Has(hostside.AttemptLimiter) && i.spec.Backend {
		r, err := remote.AttemptRule(ctx)
		if err != nil {
			return fail(fmt.Errorf("reading the attempt rule: %w", err))
		}
		rule = &r
	}

	i.mu.Lock()
	i.state, i.client, i.proc, i.remote, i.info = StateRunning, c, proc, remote, info
	if i.rule == nil {
		i.rule = rule // the host enforces the rule of the first start
	}
	i.pid = proc.pid
	i.startedAt = time.Now()
	i.starts++
	i.lastErr = nil
	ev := Event{Instance: i.spec.Name, Plugin: i.spec.Plugin, Started: true, PID: i.pid, Restart: i.starts - 1}
	i.mu.Unlock()
	log.Info("plugin started", "pid", ev.PID, "restart", ev.Restart, "sandbox", confined)
	opts.OnEvent(ev)
	return nil
}

// countCalls counts the calls a plugin makes to the host's services.
func (i *Instance) countCalls(direction string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if on := i.sup.opts.OnCall; on != nil {
			on(i.spec.Name, direction, path.Base(info.FullMethod))
		}
		return handler(ctx, req)
	}
}

// countCallsOut counts the calls the host makes to the plugin.
func (i *Instance) countCallsOut() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if on := i.sup.opts.OnCall; on != nil {
			on(i.spec.Name, ToPlugin, path.Base(method))
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// sameCapabilities reports whether a and b list the same capabilities, in
// any order.
func sameCapabilities(a, b []hostside.Capability) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// checkCapabilities refuses a plugin that does not implement what its
// place in the configuration needs.
func (i *Instance) checkCapabilities(info hostside.Info) error {
	for _, want := range i.spec.Requires {
		if !info.Has(want) {
			return fmt.Errorf("plugin %q does not implement the %s capability", info.Name, want)
		}
	}
	if len(i.spec.AnyOf) == 0 {
		return nil
	}
	for _, c := range i.spec.AnyOf {
		if info.Has(c) {
			return nil
		}
	}
	names := make([]string, len(i.spec.AnyOf))
	for k, c := range i.spec.AnyOf {
		names[k] = string(c)
	}
	return fmt.Errorf("plugin %q implements none of the capabilities %v (it implements %v)", info.Name, names, info.Capabilities)
}

// confinement returns the sandbox the plugin is started in (nil for none),
// and what the "plugin started" line says of it: "landlock", "off" or
// "unavailable". A required sandbox the system cannot make fails the
// start; one in the auto mode is logged as a warning, and the plugin runs
// unconfined.
func (i *Instance) confinement(log *slog.Logger) (*Sandbox, string, error) {
	s := i.spec.Sandbox
	switch {
	case s.Mode == SandboxOff:
		return nil, "off", nil
	case SandboxSupported():
		return &s, "landlock", nil
	case s.Mode == SandboxRequired:
		return nil, "", fmt.Errorf("plugins.sandbox is required: %w", ErrNoSandbox)
	default:
		log.Warn("plugin runs without a sandbox", "reason", ErrNoSandbox.Error())
		return nil, "unavailable", nil
	}
}

// command builds the command for the plugin; for an external plugin it
// also returns the verified copy it executes, to be closed after start.
func (i *Instance) command() (*exec.Cmd, *execCopy, error) {
	var (
		cmd *exec.Cmd
		exe *execCopy
		err error
	)
	if i.spec.External {
		if exe, err = verifiedCopy(i.spec.Plugin, i.spec.SHA256, i.sup.dir.path); err != nil {
			return nil, nil, err
		}
		cmd = exec.Command(exe.path)
		cmd.Args[0] = i.spec.Plugin
	} else if cmd, err = i.sup.opts.BuiltinCommand(i.spec.Plugin); err != nil {
		return nil, nil, err
	}
	cmd.Env = pluginEnv(i.sup.opts.LogLevel)
	if env := i.sup.opts.PluginEnv; env != nil {
		cmd.Env = append(cmd.Env, env(i.spec.Name)...)
	}
	configureProcess(cmd)
	return cmd, exe, nil
}

// watch restarts the plugin whenever its process exits, until ctx ends.
//
// The wait before a restart starts at BackoffMin and doubles, up to
// BackoffMax, with every restart that follows a failed start or a run
// shorter than stableAfter, so that a plugin that crashes as soon as it
// is up is not restarted in a tight loop. A run of stableAfter or longer
// resets it to BackoffMin.
func (i *Instance) watch(ctx context.Context) {
	opts := i.sup.opts
	ticker := time.NewTicker(exitPollInterval)
	defer ticker.Stop()
	wait := opts.BackoffMin // before the next restart
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-i.nudge:
		}
		i.mu.RLock()
		c, state, startedAt := i.client, i.state, i.startedAt
		i.mu.RUnlock()
		if state == StateRunning && !c.Exited() {
			continue
		}
		if state == StateRunning {
			if time.Since(startedAt) >= i.sup.stableAfter {
				wait = opts.BackoffMin
			}
			i.markDown(c, wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := i.start(ctx)
		// If this start fails, or the process it started exits before
		// stableAfter, the next restart waits longer.
		wait = min(wait*2, opts.BackoffMax)
		if err != nil {
			i.mu.Lock()
			i.state, i.lastErr = StateDown, err
			i.mu.Unlock()
			opts.Logger.Error("plugin restart failed", "backend", i.spec.Name, "plugin", i.spec.Plugin, "error", err, "retry_in", wait)
		}
	}
}

// markDown records that the process c has exited; it is restarted after
// retryIn.
func (i *Instance) markDown(c *goplugin.Client, retryIn time.Duration) {
	i.mu.Lock()
	pid := i.pid
	i.state, i.lastErr = StateDown, errors.New("plugin process exited")
	if status := i.proc.exitStatus(); status != "" {
		i.lastErr = fmt.Errorf("plugin process exited (%s)", status)
	}
	i.mu.Unlock()
	c.Kill() // reaps the process and frees the client's resources
	i.sup.opts.Logger.Error("plugin exited; calls to it fail until it is restarted", "backend", i.spec.Name, "plugin", i.spec.Plugin, "pid", pid, "retry_in", retryIn)
	i.sup.opts.OnEvent(Event{Instance: i.spec.Name, Plugin: i.spec.Plugin, PID: pid})
}

// stop ends the process: SIGTERM, up to StopGrace to finish in-flight calls,
// then go-plugin's Kill (which force-kills a plugin that did not exit).
func (i *Instance) stop() {
	i.mu.Lock()
	c, pid, state := i.client, i.pid, i.state
	i.state = StateStopped
	i.mu.Unlock()
	if c == nil {
		return
	}
	if state == StateRunning && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(i.sup.opts.StopGrace)
		for !c.Exited() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	c.Kill()
	if state == StateRunning {
		i.sup.opts.OnEvent(Event{Instance: i.spec.Name, Plugin: i.spec.Plugin, PID: pid})
	}
}
