package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/sdk"
)

// scope is the instrumentation scope of the API's spans.
const scope = "github.com/portcullis-auth/portcullis/host/httpapi"

// loginSpanName names the span of a login request (docs/tracing.md).
const loginSpanName = "portcullis.login"

// loginRoutes are the patterns whose requests are logins.
var loginRoutes = map[string]bool{"POST /v1/login": true, "POST /v1/session": true, "POST /v1/login/2fa": true}

// untracedPaths are the probes and the scrape: a trace each would bury the
// requests worth tracing.
var untracedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// traceContext reads a W3C traceparent (and tracestate); it writes nothing.
var traceContext = propagation.TraceContext{}

// serveMux serves r through the mux, inside a span of its own when tracing
// is on: "portcullis.login" for a login, else the route ("GET
// /v1/session"). The trace a trusted proxy sends (traceparent) is
// continued; anyone else's is ignored and a new one starts, so that a
// client cannot join its requests to a trace of its choosing, nor force
// them to be sampled.
func (s *Server) serveMux(w http.ResponseWriter, r *http.Request) {
	t := s.opts.Tracing
	if !t.On() || untracedPaths[r.URL.Path] {
		s.mux.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	if peer := peerAddr(r); peer.IsValid() && s.trusted.contains(peer) {
		ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	_, pattern := s.mux.Handler(r)
	_, route, _ := strings.Cut(pattern, " ") // "POST /v1/login": the route is /v1/login
	name := pattern
	switch {
	case loginRoutes[pattern]:
		name = loginSpanName
	case pattern == "" || pattern == "/":
		name, route = "unmatched", ""
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", methodName(r.Method)),
		attribute.String("portcullis.request_id", w.Header().Get("X-Request-Id")),
	}
	if route != "" {
		attrs = append(attrs, attribute.String("http.route", route))
	}
	ctx, span := t.Tracer(scope).Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	defer span.End()
	tw := &tracedWriter{ResponseWriter: w}
	traced := r.WithContext(ctx)
	s.mux.ServeHTTP(tw, traced)
	// The mux records the pattern it matched on the request it was given;
	// the caller reads it from its own (the request metrics).
	r.Pattern = traced.Pattern
	status := tw.status
	if status == 0 {
		status = http.StatusOK
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// methodName bounds a span's method: a client may send any token.
func methodName(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "_OTHER"
}

// tracedWriter remembers the status a handler answered with.
type tracedWriter struct {
	http.ResponseWriter
	status int
}

func (w *tracedWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tracedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (long polls
// extend their write deadline through it).
func (w *tracedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// traceLogin adds to the login's span how the chain decided it, and the
// username and the end user's address when the configuration allows them
// (telemetry.attributes); never the password or other credentials.
func (s *Server) traceLogin(ctx context.Context, req *sdk.AuthenticateRequest, res chain.Result) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, attribute.String("portcullis.login.outcome", res.Outcome.String()))
	if res.Backend != "" {
		attrs = append(attrs, attribute.String("portcullis.login.backend", res.Backend))
	}
	if res.Reason != "" {
		attrs = append(attrs, attribute.String("portcullis.login.reason", res.Reason))
	}
	allow := s.opts.Tracing.Attributes()
	if allow.Usernames {
		attrs = append(attrs, attribute.String("user.name", req.Username))
	}
	if allow.ClientIPs && req.Client.IP != "" {
		attrs = append(attrs, attribute.String("client.address", req.Client.IP))
	}
	span.SetAttributes(attrs...)
}

// loggerFor returns log with the request's trace and span ids, when it is
// traced, for a logger made for one request whose lines are written
// without their context.
func loggerFor(ctx context.Context, log *slog.Logger) *slog.Logger {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return log.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
	}
	return log
}
