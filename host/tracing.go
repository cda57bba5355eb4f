package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/telemetry"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// startTracing sets up tracing as the telemetry section says: off (nil)
// without an endpoint.
func startTracing(ctx context.Context, cfg *config.Config, log *slog.Logger) (*telemetry.Tracing, error) {
	t := cfg.Telemetry
	protocol := hostside.TraceProtocolGRPC
	if t.Protocol == config.TelemetryHTTP {
		protocol = hostside.TraceProtocolHTTP
	}
	tracing, err := telemetry.Start(ctx, telemetry.Options{
		Endpoint: t.OTLPEndpoint, Protocol: protocol, SampleRatio: t.Ratio(),
		Attributes: telemetry.Attributes{Usernames: t.Attributes.Usernames, ClientIPs: t.Attributes.ClientIPs},
		Logger:     log,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return tracing, nil
}

// tracerProvider is what the supervisor and the signal deliverer trace
// with: nil when tracing is off, so that they add nothing at all.
func (h *Host) tracerProvider() trace.TracerProvider {
	if !h.tracing.On() {
		return nil
	}
	return h.tracing.Provider()
}

// pluginEnv tells each plugin process how to export its spans; nil when
// tracing is off.
func (h *Host) pluginEnv() func(instance string) []string {
	if !h.tracing.On() {
		return nil
	}
	return h.tracing.PluginEnv
}

// tracingFlushTimeout bounds the export of the last spans at Close.
const tracingFlushTimeout = 5 * time.Second

// shutdownTracing exports the spans still buffered, once the plugins (and
// their last calls) have stopped. A collector that cannot be reached
// loses them: that is logged, not an error of Close.
func (h *Host) shutdownTracing() {
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
	defer cancel()
	if err := h.tracing.Shutdown(ctx); err != nil {
		h.log.Warn("tracing: the last spans could not be exported", "error", err)
	}
}
