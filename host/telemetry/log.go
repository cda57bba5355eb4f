package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Logger returns log with the trace_id and span_id of the span in each
// record's context added to the line (a line logged with InfoContext and
// the like), so that a request's log lines lead to its trace. Off, it
// returns log as it is.
func (t *Tracing) Logger(log *slog.Logger) *slog.Logger {
	if !t.On() {
		return log
	}
	return slog.New(traceHandler{log.Handler()})
}

// traceHandler adds the ids of the span in a record's context.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
