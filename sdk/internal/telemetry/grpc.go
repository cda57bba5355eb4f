package telemetry

import (
	"context"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// methodPrefix starts the full name of every method of the plugin
// protocol (package portcullis.plugin.vN); go-plugin's own services (its
// broker, controller and standard streams) are never traced.
const methodPrefix = "/portcullis.plugin."

// traceparent is the W3C header that carries a trace across the hop, in
// gRPC metadata.
const traceparent = "traceparent"

// ClientHandler is the stats handler of a connection that calls the other
// process. It traces a call only when the caller is inside a trace (its
// context carries a span): a process's own calls outside any trace (a
// plugin's start, its metadata) start none, and cost nothing.
func ClientHandler(tp trace.TracerProvider) stats.Handler {
	return &within{
		inner: otelgrpc.NewClientHandler(options(tp)...),
		traced: func(ctx context.Context) bool {
			return trace.SpanContextFromContext(ctx).IsValid()
		},
	}
}

// ServerHandler is the stats handler of a server the other process calls.
// It traces a call only when it carries a traceparent: the server span is
// then the child of the caller's, in the caller's trace.
func ServerHandler(tp trace.TracerProvider) stats.Handler {
	return &within{
		inner: otelgrpc.NewServerHandler(options(tp)...),
		traced: func(ctx context.Context) bool {
			return len(metadata.ValueFromIncomingContext(ctx, traceparent)) > 0
		},
	}
}

func options(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
		// The host's metrics are its own (/metrics), not OpenTelemetry's.
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
	}
}

// within hands inner only the calls traced says to trace, of the plugin
// protocol's methods.
type within struct {
	inner  stats.Handler
	traced func(context.Context) bool
}

type tracedKey struct{}

func (w *within) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if !strings.HasPrefix(info.FullMethodName, methodPrefix) || !w.traced(ctx) {
		return ctx
	}
	return w.inner.TagRPC(context.WithValue(ctx, tracedKey{}, true), info)
}

// HandleRPC passes on the events of traced calls only: given another
// call's, the inner handler would end whatever span its context holds.
// The error of a call that failed reaches the span as its gRPC code alone:
// its message may quote what a user typed.
func (w *within) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if ctx.Value(tracedKey{}) == nil {
		return
	}
	if end, ok := s.(*stats.End); ok && end.Error != nil {
		scrubbed := *end
		code := status.Code(end.Error)
		scrubbed.Error = status.Error(code, code.String())
		s = &scrubbed
	}
	w.inner.HandleRPC(ctx, s)
}

func (w *within) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (w *within) HandleConn(context.Context, stats.ConnStats) {}
