package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// Options configure a Supervisor.
type Options struct {
	// StartTimeout bounds one start: spawn, handshake, Metadata, Configure.
	StartTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait before a restart; it doubles
	// after each failed start and each exit of a plugin that ran for less
	// than a minute, and resets once a plugin has run for a minute.
	BackoffMin, BackoffMax time.Duration
	// StopGrace is how long a plugin may take to stop after SIGTERM.
	StopGrace time.Duration
	// Logger receives the supervisor's and the plugins' logs.
	Logger *slog.Logger
	// LogLevel ("debug", "info", ...) is passed to plugins so that they do
	// not write lines the host would drop (default: the SDK's, info).
	LogLevel string
	// BuiltinCommand returns the command that runs a first-party plugin
	// (default: BuiltinCommand).
	BuiltinCommand func(name string) (*exec.Cmd, error)
	// OnEvent, if set, is told of every start and exit. It must not block.
	OnEvent func(Event)
	// OnCall, if set, is told of every call that crosses to or from a
	// plugin process: the instance, the direction (ToPlugin or
	// FromPlugin) and the gRPC method's short name. It must not block.
	OnCall func(instance, direction, method string)
	// TracerProvider, if set, traces the calls crossing between the host
	// and its plugins that are made within a trace, so that a plugin's
	// spans join the host's (hostside.TraceClientHandler).
	TracerProvider trace.TracerProvider
	// PluginEnv, if set, returns variables added to the environment of an
	// instance's process: the tracing settings its SDK exports with.
	PluginEnv func(instance string) []string
	// TimerSlack, if set, is the timer slack plugin processes start with
	// (Linux), when the host runs with another: a host that raised its own
	// (host/internal/timerslack) starts them with the one it was given.
	TimerSlack time.Duration
}

// The directions of a call, for Options.OnCall.
const (
	ToPlugin   = "host_to_plugin"
	FromPlugin = "plugin_to_host"
)

// Event reports a plugin process starting or exiting.
type Event struct {
	Instance string
	Plugin   string
	// Started is true for a start, false for an exit.
	Started bool
	PID     int
	// Restart counts the starts before this one.
	Restart int
}

// Spec describes one plugin instance to run.
type Spec struct {
	// Name is the instance (backend) name.
	Name string
	// Plugin is a first-party plugin name, or an executable's path when
	// External is set.
	Plugin   string
	External bool
	// SHA256 is the hex checksum an external plugin must match.
	SHA256 string
	// Config is the instance's configuration, as JSON.
	Config json.RawMessage
	// Host is served to the plugin.
	Host HostServices
	// Requires lists the capabilities the plugin must implement; it must
	// implement at least one of AnyOf, when set.
	Requires []hostside.Capability
	AnyOf    []hostside.Capability
	// Backend says the instance is a backends entry, serving logins or
	// started for one of its admin commands: only there is a plugin that
	// implements Authenticator an authenticator, which may look users up,
	// and an AttemptLimiter's rule read. A signal subscriber is not one,
	// whatever else its plugin implements.
	Backend bool
	// Sandbox is what of the file system the plugin's process may reach.
	Sandbox Sandbox
}

// BackendKinds returns the capabilities of which the plugin of a backends
// entry must implement at least one (its Spec.AnyOf when the host serves
// logins; started for an admin command, it need only implement Admin).
func BackendKinds() []hostside.Capability {
	return []hostside.Capability{hostside.Authenticator, hostside.AttemptLimiter, hostside.AuthorizationRequest, hostside.Redirect}
}

// HostServices are the services served to a plugin: an sdk.Host told what
// the plugin is before Configure (package hostsvc).
type HostServices interface {
	sdk.Host
	// Declare is called with what the plugin's metadata says, before
	// Configure.
	Declare(authenticator bool, emits []string)
}

// Supervisor owns the plugin processes.
type Supervisor struct {
	opts        Options
	stableAfter time.Duration
	spawn       *spawner
	dir         *runDir // the plugins' sockets; nil until Start
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	mu          sync.Mutex
	instances   []*Instance
}

// New returns a Supervisor with no plugins.
func New(opts Options) *Supervisor {
	if opts.BuiltinCommand == nil {
		opts.BuiltinCommand = BuiltinCommand
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OnEvent == nil {
		opts.OnEvent = func(Event) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{opts: opts, stableAfter: stableAfter, spawn: newSpawner(opts.TimerSlack), ctx: ctx, cancel: cancel}
}

// Start starts one instance per spec, in order, and then watches them. If
// any fails to start (a bad checksum, a configuration the plugin rejects, a
// missing capability) Start stops those already started and returns an
// error naming the instance; the host then refuses to run.
//
// Start first makes the supervisor's private directory for its plugins'
// sockets, and removes those left by hosts that are gone (see runDir).
func (s *Supervisor) Start(ctx context.Context, specs []Spec) error {
	if s.dir == nil {
		base, err := runDirBase()
		if err != nil {
			return err
		}
		if s.dir, err = openRunDir(base); err != nil {
			return err
		}
		removeStaleRunDirs(base, s.opts.Logger)
	}
	for _, spec := range specs {
		inst := &Instance{spec: spec, sup: s, nudge: make(chan struct{}, 1)}
		if err := inst.start(ctx); err != nil {
			s.Stop()
			return fmt.Errorf("backend %q (plugin %s): %w", spec.Name, spec.Plugin, err)
		}
		s.mu.Lock()
		s.instances = append(s.instances, inst)
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range s.instances {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			inst.watch(s.ctx)
		}()
	}
	return nil
}

// Instance returns the running instance with this name, or nil.
func (s *Supervisor) Instance(name string) *Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range s.instances {
		if inst.spec.Name == name {
			return inst
		}
	}
	return nil
}

// Statuses reports every instance's state, in start order.
func (s *Supervisor) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, len(s.instances))
	for i, inst := range s.instances {
		out[i] = inst.Status()
	}
	return out
}

// Ready reports whether every instance is running.
func (s *Supervisor) Ready() bool {
	for _, st := range s.Statuses() {
		if st.State != StateRunning {
			return false
		}
	}
	return true
}

// Stop stops watching and stops every plugin, each with its grace period,
// in parallel, then removes the sockets' directory. It is safe to call more
// than once.
func (s *Supervisor) Stop() {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	instances := s.instances
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, inst := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst.stop()
		}()
	}
	wg.Wait()
	if err := s.dir.Close(); err != nil {
		s.opts.Logger.Warn("cannot remove the plugins' socket directory", "dir", s.dir.path, "error", err)
	}
}

// ErrBackendDown is returned by an Instance's capabilities while its
// process is not running. It wraps sdk.ErrUnavailable.
var ErrBackendDown = fmt.Errorf("%w: plugin is not running", sdk.ErrUnavailable)
