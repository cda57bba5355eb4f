package sdk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is the go-plugin handshake every Portcullis plugin and host use.
// The magic cookie is not a security measure: it only stops a plugin binary
// that is run by hand from waiting for a host that is not there.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "PORTCULLIS_PLUGIN",
	MagicCookieValue: "b3c1d6b0-portcullis-plugin-v1",
}

// PluginName is the name under which the host dispenses a plugin.
const PluginName = "portcullis"

// gracePeriod is how long Serve lets in-flight calls finish after SIGTERM.
const gracePeriod = 5 * time.Second

// parentPollInterval is how often Serve checks that the host still lives.
const parentPollInterval = 250 * time.Millisecond

// Serve runs p as a plugin process and returns only when the host stops it.
// It checks that p implements every capability its metadata declares and
// exits with status 1 if not. The process exits by itself when the host
// process dies (it is re-parented), and SIGTERM stops it gracefully.
func Serve(p Plugin) {
	if err := CheckPlugin(p); err != nil {
		fmt.Fprintf(os.Stderr, "portcullis plugin: %v\n", err)
		os.Exit(1)
	}
	stderr := os.Stderr // go-plugin replaces os.Stderr once serving
	Logger()            // binds the plugin's logger to the real stderr
	cfg, server := serveConfig(p, stderr)

	go watchParent(os.Getppid())
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		drain.stop(gracePeriod)
		if s := server(); s != nil {
			s.Stop()
		}
		os.Exit(0)
	}()

	goplugin.Serve(cfg)
	os.Exit(0)
}

// ServeTest serves p inside the calling process until ctx is done, without
// TLS, and returns the config a host reattaches with. It is the in-process
// half of sdktest.Start; plugin authors use that instead.
func ServeTest(ctx context.Context, p Plugin) (*goplugin.ReattachConfig, error) {
	if err := CheckPlugin(p); err != nil {
		return nil, err
	}
	cfg, _ := serveConfig(p, os.Stderr)
	cfg.Logger = hclog.NewNullLogger() // go-plugin reports its own test shutdown as errors
	ch := make(chan *goplugin.ReattachConfig, 1)
	cfg.Test = &goplugin.ServeTestConfig{Context: ctx, ReattachConfigCh: ch}
	go goplugin.Serve(cfg)
	select {
	case rc := <-ch:
		return rc, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serveConfig builds the go-plugin configuration that serves p, logging to
// stderr, and a function that returns the gRPC server once it exists.
func serveConfig(p Plugin, stderr io.Writer) (*goplugin.ServeConfig, func() *grpc.Server) {
	log := newHostLogger(stderr)
	var (
		mu     sync.Mutex
		server *grpc.Server
	)
	cfg := &goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{PluginName: &grpcPlugin{impl: p}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.ChainUnaryInterceptor(drainInterceptor(drain), recoverInterceptor(log)))
			s := grpc.NewServer(opts...)
			mu.Lock()
			server = s
			mu.Unlock()
			return s
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Output: stderr, JSONFormat: true, Level: hclog.Info,
		}),
	}
	return cfg, func() *grpc.Server {
		mu.Lock()
		defer mu.Unlock()
		return server
	}
}

// CheckPlugin reports whether p implements every capability its metadata
// declares and whether the metadata is complete.
func CheckPlugin(p Plugin) error {
	md := p.Metadata()
	var problems []string
	if md.Name == "" {
		problems = append(problems, "metadata has no name")
	}
	for _, c := range md.Capabilities {
		switch c {
		case CapabilityAuthenticator:
			if _, ok := p.(Authenticator); !ok {
				problems = append(problems, "declares authenticator but does not implement sdk.Authenticator")
			}
		case CapabilitySignalReceiver:
			if _, ok := p.(SignalReceiver); !ok {
				problems = append(problems, "declares signal_receiver but does not implement sdk.SignalReceiver")
			}
		default:
			problems = append(problems, fmt.Sprintf("capability %q is not supported by this SDK version", c))
		}
	}
	if len(md.Subscriptions) > 0 && !md.Has(CapabilitySignalReceiver) {
		problems = append(problems, "has subscriptions but does not declare signal_receiver")
	}
	if len(problems) > 0 {
		return fmt.Errorf("plugin %q: %s", md.Name, strings.Join(problems, "; "))
	}
	return nil
}

// drainer tracks in-flight calls so that SIGTERM can let them finish.
// go-plugin keeps long-lived streams open (broker, stdio), so grpc's own
// GracefulStop would wait for the host to hang up; only unary calls (every
// plugin method) are waited for.
type drainer struct {
	mu       sync.Mutex
	inflight sync.WaitGroup
	draining bool
}

var drain = &drainer{}

// begin registers a call; it fails once draining has started.
func (d *drainer) begin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return false
	}
	d.inflight.Add(1)
	return true
}

func (d *drainer) end() { d.inflight.Done() }

// stop refuses new calls and waits up to grace for in-flight ones.
func (d *drainer) stop(grace time.Duration) {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
	}
}

// watchParent exits the process when its parent (the host) goes away. The
// host also asks the kernel to kill its plugins when it dies; this covers
// hosts on systems without that, and plugins started some other way.
func watchParent(ppid int) {
	for {
		time.Sleep(parentPollInterval)
		if os.Getppid() != ppid {
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

// newHostLogger writes JSON lines in the shape go-plugin's host parses
// (@level, @message, @timestamp). The host drops nothing it cannot parse:
// it logs the whole line verbatim at debug level instead, so a line whose
// timestamp or level it does not understand is as good as lost.
func newHostLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
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
	}))
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
