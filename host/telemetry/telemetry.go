// Package telemetry is the host's OpenTelemetry tracing (docs/tracing.md):
// the tracer provider its spans go to, the settings it hands its plugin
// processes so that they export to the same collector, which attributes a
// span may carry, and the trace ids in the log.
//
// Tracing is off unless the configuration names a collector. Off, the
// provider is OpenTelemetry's no-op one, no plugin is told anything, and
// the instrumented code skips its spans altogether: it starts one only
// inside a span that records (see Recording).
package telemetry

import (
	"context"
	"log/slog"
	"os"
	"sync"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// ServiceName is the host's service.name; a plugin's is PluginServicePrefix
// followed by its backend's (or subscriber's) name.
const (
	ServiceName         = "portcullis"
	PluginServicePrefix = "portcullis-plugin-"
)

// Options configure tracing (config.Telemetry).
type Options struct {
	// Endpoint is the collector's base URL; empty turns tracing off.
	Endpoint string
	// Protocol is hostside.TraceProtocolGRPC or TraceProtocolHTTP.
	Protocol string
	// SampleRatio is the share of new traces kept, from 0 to 1.
	SampleRatio float64
	Attributes  Attributes
	// Logger receives the exporter's errors (a collector that cannot be
	// reached), at most one line a minute.
	Logger *slog.Logger
}

// Attributes say which facts about a user a span may carry. Both are off
// by default: a trace store is rarely held to the care an auth log is.
type Attributes struct {
	// Usernames adds the login's username (user.name).
	Usernames bool
	// ClientIPs adds the end user's address (client.address).
	ClientIPs bool
}

// Tracing is the host's tracing, on or off. A nil *Tracing is off.
type Tracing struct {
	sdk      *sdktrace.TracerProvider // nil when off
	settings hostside.TraceSettings
	attrs    Attributes
}

// Start sets tracing up as opts say; with no endpoint it is off and costs
// nothing.
func Start(ctx context.Context, opts Options) (*Tracing, error) {
	if opts.Endpoint == "" {
		return nil, nil
	}
	s := hostside.TraceSettings{Endpoint: opts.Endpoint, Protocol: opts.Protocol, SampleRatio: opts.SampleRatio, ServiceName: ServiceName}
	tp, err := hostside.NewTracerProvider(ctx, s)
	if err != nil {
		return nil, err
	}
	if opts.Logger != nil {
		// OpenTelemetry reports through one handler per process; its
		// default writes plain lines to standard error, outside the log.
		otel.SetErrorHandler(hostside.TraceErrorHandler(opts.Logger))
	}
	return &Tracing{sdk: tp, settings: s, attrs: opts.Attributes}, nil
}

// WithProvider is tracing on with a tracer provider made elsewhere (a
// test's, which records spans in memory): spans go wherever tp sends them,
// and plugins are told nothing.
func WithProvider(tp *sdktrace.TracerProvider, attrs Attributes) *Tracing {
	return &Tracing{sdk: tp, attrs: attrs}
}

// On reports whether spans are made and exported.
func (t *Tracing) On() bool { return t != nil && t.sdk != nil }

// Provider returns the tracer provider: a no-op one when tracing is off.
func (t *Tracing) Provider() trace.TracerProvider {
	if !t.On() {
		return noop.NewTracerProvider()
	}
	return t.sdk
}

// Attributes says which user facts spans may carry.
func (t *Tracing) Attributes() Attributes {
	if t == nil {
		return Attributes{}
	}
	return t.attrs
}

// PluginEnv is the environment that tells the plugin process of instance
// (a backend's or signal subscriber's name) to export as the host does,
// under its own service.name; nil when tracing is off.
func (t *Tracing) PluginEnv(instance string) []string {
	if !t.On() || t.settings.Endpoint == "" {
		return nil
	}
	s := t.settings
	s.ServiceName = PluginServicePrefix + instance
	return s.Env(os.LookupEnv)
}

// Shutdown exports the spans still buffered and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.On() {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// Tracer returns the tracer of the instrumentation scope (a package's
// import path).
func (t *Tracing) Tracer(scope string) trace.Tracer { return tracerOf(t.Provider(), scope) }

// Recording returns the tracer of the span in ctx when that span records,
// for code that adds a child span to a trace someone else started (a
// storage statement, a backend's call): outside one, or in a trace not
// sampled, ok is false and the caller makes no span at all.
func Recording(ctx context.Context, scope string) (tr trace.Tracer, ok bool) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return nil, false
	}
	return tracerOf(parent.TracerProvider(), scope), true
}

// tracers keeps the tracer of each provider and scope: a provider's
// Tracer takes a lock and builds its scope each time, and a login starts
// some twenty spans.
var tracers sync.Map // tracerKey → trace.Tracer

type tracerKey struct {
	tp    *sdktrace.TracerProvider
	scope string
}

func tracerOf(tp trace.TracerProvider, scope string) trace.Tracer {
	sdk, ok := tp.(*sdktrace.TracerProvider)
	if !ok {
		return tp.Tracer(scope) // the no-op provider's costs nothing
	}
	k := tracerKey{sdk, scope}
	if t, ok := tracers.Load(k); ok {
		return t.(trace.Tracer)
	}
	t, _ := tracers.LoadOrStore(k, tp.Tracer(scope))
	return t.(trace.Tracer)
}
