package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// flushTimeout bounds the export of a plugin's last spans as it exits. The
// host kills a plugin that takes longer than its stop grace to exit.
const flushTimeout = 2 * time.Second

// Plugin is a plugin process's tracing.
type Plugin struct {
	// Provider is nil when the host passed no settings.
	Provider *sdktrace.TracerProvider
	flushed  *sync.Once
}

// StartPlugin sets up a plugin process's tracing from the environment the
// host gave it. With settings, the tracer provider becomes the process's
// global one, and W3C trace context its propagator: a plugin that starts a
// span from the context of a call, with otel.Tracer or with the provider
// of the span in it, adds it to the host's trace. Without them it does
// nothing. An error leaves tracing off; the plugin serves all the same.
// Exporter errors go to log.
func StartPlugin(lookup func(string) (string, bool), log *slog.Logger) (Plugin, error) {
	s, ok, err := FromEnv(lookup)
	if !ok || err != nil {
		return Plugin{}, err
	}
	tp, err := NewProvider(context.Background(), s)
	if err != nil {
		return Plugin{}, err
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	otel.SetErrorHandler(ErrorHandler(log))
	return Plugin{Provider: tp, flushed: new(sync.Once)}, nil
}

// On reports whether the plugin traces.
func (p Plugin) On() bool { return p.Provider != nil }

// Flush exports the spans still buffered and stops the provider; the
// process is about to exit. Every caller returns only once the export has
// ended: the process has several ways to stop (SIGTERM, the host hanging
// up, the host gone), and the one that exits first must not cut short
// another's flush.
func (p Plugin) Flush() {
	if p.Provider == nil {
		return
	}
	p.flushed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		_ = p.Provider.Shutdown(ctx)
	})
}
