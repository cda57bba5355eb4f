package sdk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/portcullis-auth/portcullis/sdk/internal/telemetry"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// gracePeriod is how long Serve lets in-flight calls finish after SIGTERM.
// It does not know the host's plugins.stop_grace, and need not: the host
// kills the plugin once its own stop_grace has passed, whichever is
// shorter.
const gracePeriod = 5 * time.Second

// flushDelay is how long Serve leaves the connections open, after the last
// in-flight call has ended, for its answer to be written (see shutdown).
const flushDelay = 100 * time.Millisecond

// parentPollInterval is how often Serve checks that the host still lives.
const parentPollInterval = 250 * time.Millisecond

// Serve runs p as a plugin process and returns only when the host stops it.
// It checks p (a name in its metadata, SignalReceiver for subscriptions) and
// exits with status 1 if it is not a usable plugin. The plugin's
// capabilities are the capability interfaces p implements. The process
// exits by itself when the host process dies (it is re-parented), and
// SIGTERM stops it gracefully.
func Serve(p Plugin) {
	if err := checkPlugin(p); err != nil {
		fmt.Fprintf(os.Stderr, "portcullis plugin: %v\n", err)
		os.Exit(1)
	}
	stderr := os.Stderr // go-plugin replaces os.Stderr once serving
	Logger()            // binds the plugin's logger to the real stderr
	tracing, err := telemetry.StartPlugin(os.LookupEnv, Logger())
	if err != nil {
		Logger().Error("tracing is off: the host's settings cannot be used", "error", err)
	}
	cfg, srv := serveConfig(p, stderr, tracing)

	go watchParent(os.Getppid(), tracing.Flush)
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		srv.shutdown(gracePeriod)
		tracing.Flush()
		os.Exit(0)
	}()

	goplugin.Serve(cfg)
	tracing.Flush()
	os.Exit(0)
}

// The in-process serving sdktest uses (see wire.ServeInProcess).
var _ = func() bool {
	wire.ServeInProcess = serveInProcess
	return true
}()

// serveInProcess serves p inside the calling process until ctx is done,
// without TLS, and returns the config a host reattaches with and a channel
// closed once serving has stopped.
func serveInProcess(ctx context.Context, v any) (*goplugin.ReattachConfig, <-chan struct{}, error) {
	p, ok := v.(Plugin)
	if !ok {
		return nil, nil, fmt.Errorf("%T is not an sdk.Plugin", v)
	}
	if err := checkPlugin(p); err != nil {
		return nil, nil, err
	}
	cfg, srv := serveConfig(p, os.Stderr, telemetry.Plugin{})
	cfg.Logger = hclog.NewNullLogger() // go-plugin reports its own test shutdown as errors
	ch := make(chan *goplugin.ReattachConfig, 1)
	cfg.Test = &goplugin.ServeTestConfig{Context: ctx, ReattachConfigCh: ch}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		goplugin.Serve(cfg)
		// A process ends its connections by exiting; in-process, the host
		// side waits for them to close before it removes its socket.
		srv.closeHostConns()
	}()
	select {
	case rc := <-ch:
		return rc, stopped, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// serveConfig builds the go-plugin configuration that serves p, logging to
// stderr, and the handle that stops the gRPC server it makes. With tracing
// on, the calls the host makes within a trace, and those the plugin then
// makes to the host's services, carry it across.
func serveConfig(p Plugin, stderr io.Writer, tracing telemetry.Plugin) (*goplugin.ServeConfig, *served) {
	log := newHostLogger(stderr)
	srv := &served{drain: newDrainer()}
	var traced []grpc.ServerOption
	if tracing.On() {
		traced = append(traced, grpc.StatsHandler(telemetry.ServerHandler(tracing.Provider)))
		srv.hostDial = append(srv.hostDial, grpc.WithStatsHandler(telemetry.ClientHandler(tracing.Provider)))
	}
	cfg := &goplugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         goplugin.PluginSet{wire.PluginName: &grpcPlugin{impl: p, served: srv}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, traced...)
			opts = append(opts,
				grpc.StatsHandler(srv.drain),
				grpc.ChainUnaryInterceptor(drainInterceptor(srv.drain), recoverInterceptor(log)))
			s := grpc.NewServer(opts...)
			srv.mu.Lock()
			srv.server = s
			srv.mu.Unlock()
			return s
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Output: stderr, JSONFormat: true, Level: hclog.Info,
		}),
	}
	return cfg, srv
}

// served is the gRPC server go-plugin has Serve make, once it exists, and
// the drainer that tracks its calls.
type served struct {
	drain *drainer
	// hostDial are the options of the connections to the host's services.
	hostDial []grpc.DialOption
	mu       sync.Mutex
	server   *grpc.Server
	// hostConns are the connections to the host's services (one per
	// Configure): closed when the plugin stops serving in-process, so that
	// the host's side of them can stop and remove its socket.
	hostConns []io.Closer
}

// keepHostConn records a connection to the host's services.
func (s *served) keepHostConn(c io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostConns = append(s.hostConns, c)
}

// closeHostConns closes the connections to the host's services.
func (s *served) closeHostConns() {
	s.mu.Lock()
	conns := s.hostConns
	s.hostConns = nil
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// shutdown stops the server for SIGTERM: it refuses new calls, waits up to
// grace for those in flight to end, then stops the server.
//
// A call's end (see drainer) means its answer is queued on the connection,
// not yet written: grpc writes frames from another goroutine, and Stop
// closes connections at once, dropping what is still queued. So shutdown
// first starts a GracefulStop, which sends the host a GOAWAY behind the
// queued frames, and gives the connections flushDelay before Stop cuts
// them. GracefulStop alone would not do: it waits for go-plugin's
// long-lived streams, which end only when the host hangs up.
func (s *served) shutdown(grace time.Duration) {
	s.drain.stop(grace)
	s.mu.Lock()
	server := s.server
	s.mu.Unlock()
	if server == nil {
		return
	}
	stopped := make(chan struct{})
	go func() {
		server.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(flushDelay):
	}
	server.Stop()
}

// checkPlugin reports whether p is a usable plugin: its metadata names it,
// subscriptions come with SignalReceiver, and declared signal names look
// like signal names.
func checkPlugin(p Plugin) error {
	md := p.Metadata()
	var problems []string
	if md.Name == "" {
		problems = append(problems, "metadata has no name")
	}
	if _, ok := p.(SignalReceiver); len(md.Subscriptions) > 0 && !ok {
		problems = append(problems, "has subscriptions but does not implement sdk.SignalReceiver")
	}
	for _, name := range md.Emits {
		if !signalName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("emits %q, which is not a signal name (lower-case letters, digits, _ and .)", name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("plugin %q: %s", md.Name, strings.Join(problems, "; "))
	}
	return nil
}

// signalName is the form of every signal name.
var signalName = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,62}$`)

// capabilities lists the capabilities p implements.
func capabilities(p Plugin) []wire.Capability {
	var caps []wire.Capability
	if _, ok := p.(Authenticator); ok {
		caps = append(caps, wire.Authenticator)
	}
	if _, ok := p.(OutcomeObserver); ok {
		caps = append(caps, wire.OutcomeObserver)
	}
	if _, ok := p.(AttemptLimiter); ok {
		caps = append(caps, wire.AttemptLimiter)
	}
	if _, ok := p.(Admin); ok {
		caps = append(caps, wire.Admin)
	}
	if _, ok := p.(AuthorizationRequestBackend); ok {
		caps = append(caps, wire.AuthorizationRequest)
	}
	if _, ok := p.(redirect.Authenticator); ok {
		caps = append(caps, wire.RedirectAuth)
	}
	if _, ok := p.(SignalReceiver); ok {
		caps = append(caps, wire.SignalReceiver)
	}
	return caps
}

// drainer tracks in-flight calls so that SIGTERM can let them finish, and
// refuses new ones once it is draining. It counts unary calls (every plugin
// method) as a grpc stats.Handler: a unary call's End event comes only
// after its response and status have been handed to the transport, where
// an interceptor returns before the response is even encoded. Streams are
// not waited for: go-plugin keeps long-lived ones open (broker, stdio)
// until the host hangs up.
//
// Whether a call may run is decided at its Begin event; drainInterceptor
// refuses the calls that began once draining had started.
type drainer struct {
	mu       sync.Mutex
	inflight int
	draining bool
	idle     chan struct{} // closed once draining with no call in flight
}

func newDrainer() *drainer { return &drainer{idle: make(chan struct{})} }

// drainCall is one RPC's record, put in its context by TagRPC.
type drainCall struct {
	admitted bool // a unary call that began before draining
}

type drainCallKey struct{}

// TagRPC implements stats.Handler.
func (d *drainer) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, drainCallKey{}, &drainCall{})
}

// HandleRPC implements stats.Handler. Begin and End of one call come from
// the goroutine that runs it, as does its interceptor, so drainCall needs
// no lock.
func (d *drainer) HandleRPC(ctx context.Context, s stats.RPCStats) {
	c, _ := ctx.Value(drainCallKey{}).(*drainCall)
	if c == nil {
		return
	}
	switch s := s.(type) {
	case *stats.Begin:
		if s.IsClientStream || s.IsServerStream {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.draining {
			d.inflight++
			c.admitted = true
		}
	case *stats.End:
		if !c.admitted {
			return
		}
		c.admitted = false
		d.mu.Lock()
		defer d.mu.Unlock()
		d.inflight--
		if d.draining && d.inflight == 0 {
			close(d.idle)
		}
	}
}

// TagConn implements stats.Handler.
func (d *drainer) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn implements stats.Handler.
func (d *drainer) HandleConn(context.Context, stats.ConnStats) {}

// admitted reports whether the call with this context may run.
func (d *drainer) admitted(ctx context.Context) bool {
	if c, ok := ctx.Value(drainCallKey{}).(*drainCall); ok {
		return c.admitted
	}
	return !d.isDraining() // a server without the stats handler
}

func (d *drainer) isDraining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining
}

// stop refuses new calls and waits up to grace for in-flight ones to end.
// It reports whether they all did.
func (d *drainer) stop(grace time.Duration) bool {
	d.mu.Lock()
	if !d.draining {
		d.draining = true
		if d.inflight == 0 {
			close(d.idle)
		}
	}
	d.mu.Unlock()
	select {
	case <-d.idle:
		return true
	default:
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-d.idle:
		return true
	case <-t.C:
		return false
	}
}

// watchParent exits the process, after flush, when its parent (the host)
// goes away. The host also asks the kernel to kill its plugins when it
// dies; this covers hosts on systems without that, and plugins started
// some other way.
func watchParent(ppid int, flush func()) {
	for {
		time.Sleep(parentPollInterval)
		if os.Getppid() != ppid {
			flush()
			os.Exit(0)
		}
	}
}

var (
	loggerOnce sync.Once
	logger     *slog.Logger
)

// Logger returns the plugin's logger. Its JSON lines are read by the host
// and re-emitted in the host's log under the plugin's name. Never log
// secrets.
func Logger() *slog.Logger {
	loggerOnce.Do(func() { logger = newHostLogger(os.Stderr) })
	return logger
}

// logLevelFromEnv is the level the host asked for (wire.LogLevelEnv);
// lines below it are not written at all.
func logLevelFromEnv() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv(wire.LogLevelEnv))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// newHostLogger writes JSON lines in the shape go-plugin's host parses
// (@level, @message, @timestamp). The host drops nothing it cannot parse:
// it logs the whole line verbatim at debug level instead, so a line whose
// timestamp or level it does not understand is as good as lost.
func newHostLogger(w io.Writer) *slog.Logger {
	return slog.New(ownKeysRenamed{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: logLevelFromEnv(),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// go-plugin parses "@timestamp" with exactly hclog's JSON
				// layout (microseconds); slog's own RFC 3339 with
				// nanoseconds fails to parse.
				a.Key = "@timestamp"
				a.Value = slog.StringValue(a.Value.Time().Format(hclog.TimeFormatJSON))
			case slog.LevelKey:
				a.Key = "@level"
				if l, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(hclogLevel(l))
				}
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	})})
}

// hclogLevel names l as hclog does, so that go-plugin's host recognises
// it; slog levels between the named ones (slog.LevelInfo+2 is "INFO+2")
// round down to the named level below.
func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
