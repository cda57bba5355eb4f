package hostside

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/stats"

	"github.com/portcullis-auth/portcullis/sdk/internal/telemetry"
)

// TraceSettings say where the host and its plugins export their spans. The
// host passes them to each plugin process in its environment
// (TraceSettings.Env), from which the SDK sets up the plugin's own
// exporter: the host and its plugins speak to the collector alike.
type TraceSettings = telemetry.Settings

// The OTLP protocols of TraceSettings.Protocol.
const (
	TraceProtocolGRPC = telemetry.ProtocolGRPC
	TraceProtocolHTTP = telemetry.ProtocolHTTP
)

// NewTracerProvider returns the tracer provider a process exports with as
// s says, its resource being s.ServiceName and attrs; the plugins' is made
// the same way. Shut it down to flush it.
func NewTracerProvider(ctx context.Context, s TraceSettings, attrs ...attribute.KeyValue) (*sdktrace.TracerProvider, error) {
	return telemetry.NewProvider(ctx, s, attrs...)
}

// TraceErrorHandler is OpenTelemetry's error handler for a process that
// logs to log, as the SDK sets it for its plugins: one warning a minute at
// most while the collector cannot be reached.
func TraceErrorHandler(log *slog.Logger) otel.ErrorHandler { return telemetry.ErrorHandler(log) }

// TraceClientHandler is the stats handler of the host's connections to a
// plugin: a call made within a trace carries it to the plugin, whose server
// span is then a child of the caller's.
func TraceClientHandler(tp trace.TracerProvider) stats.Handler { return telemetry.ClientHandler(tp) }

// TraceServerHandler is the stats handler of the host's services served to
// a plugin: a call the plugin makes within the host's trace stays in it.
func TraceServerHandler(tp trace.TracerProvider) stats.Handler { return telemetry.ServerHandler(tp) }
