package telemetry

import (
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
)

// errorInterval is the least time between two lines about the exporter's
// errors: a collector that is down fails every export, many a second
// under load.
const errorInterval = time.Minute

// ErrorHandler is OpenTelemetry's error handler for a process that logs to
// log: a warning at most once a minute, saying how many errors it did not
// write. Spans lost to such errors never fail what was traced.
func ErrorHandler(log *slog.Logger) otel.ErrorHandler {
	h := &throttled{log: log}
	return otel.ErrorHandlerFunc(h.handle)
}

type throttled struct {
	log        *slog.Logger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (h *throttled) handle(err error) {
	h.mu.Lock()
	if time.Since(h.last) < errorInterval {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	suppressed := h.suppressed
	h.last, h.suppressed = time.Now(), 0
	h.mu.Unlock()
	h.log.Warn("tracing: spans could not be exported", "error", err, "errors_not_logged", suppressed)
}
