package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis-auth/portcullis/host/metrics"
)

// The API's metrics (docs/metrics.md). Their labels are routes, methods,
// statuses, outcomes and backend names: never a path, which carries ids,
// nor anything about the user.

// routeUnmatched is the route of a request no pattern of the API matched
// (answered 404 or 405, or 421 for a host name the API does not answer to).
const routeUnmatched = "unmatched"

// noBackend is the backend label of a login no backend decided.
const noBackend = "none"

// The outcomes of portcullis_login_duration_seconds beyond those of
// portcullis_logins_total: login requests that never reached the chain's
// decision.
const (
	// outcomeRefused: refused by a capacity limit (portcullis_logins_refused_total).
	outcomeRefused = "refused"
	// outcomeRejected: a malformed or unacceptable request (4xx).
	outcomeRejected = "rejected"
	// outcomeWaiting: a two-factor login still waiting for a device.
	outcomeWaiting = "waiting"
)

// apiMetrics are the API's own metrics.
type apiMetrics struct {
	logins      *metrics.Counter
	loginTime   *metrics.Histogram
	requests    *metrics.Counter
	requestTime *metrics.Histogram
}

func newAPIMetrics(m *metrics.Registry) *apiMetrics {
	return &apiMetrics{
		logins: m.Counter("portcullis_logins_total", "Logins by outcome and the backend that decided them.", "outcome", "backend"),
		loginTime: m.Histogram("portcullis_login_duration_seconds", "Time to answer a login (POST /v1/login, /v1/session, /v1/login/2fa), by outcome.",
			metrics.LoginBuckets, "outcome"),
		requests: m.Counter("portcullis_http_requests_total", "HTTP requests answered, by route pattern, method and status.", "route", "method", "status"),
		requestTime: m.Histogram("portcullis_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern and method.",
			metrics.LoginBuckets, "route", "method"),
	}
}

// statusWriter remembers the status a handler answered with, and for a
// login the outcome it was counted with (setLoginOutcome).
type statusWriter struct {
	http.ResponseWriter
	status       int
	loginOutcome string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (long polls
// extend their write deadline through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) answered() int {
	if w.status == 0 {
		return http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	return w.status
}

// measure wraps w to count and time the request; done must be called
// with the request once it is answered.
func (s *Server) measure(w http.ResponseWriter) (_ http.ResponseWriter, done func(r *http.Request)) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	return sw, func(r *http.Request) {
		route := s.route(r)
		if route == "" || route == "/" { // "/" is the catch-all that answers 404 and 405
			route = routeUnmatched
		}
		method := methodLabel(r.Method)
		s.metrics.requests.Inc(route, method, strconv.Itoa(sw.answered()))
		s.metrics.requestTime.Since(start, route, method)
	}
}

// route is the pattern of the API's endpoint that took r, "" for none.
// The ServeMux sets it on the request it serves; when that was a copy of
// r (one given a context of its own), the pattern is looked up again.
func (s *Server) route(r *http.Request) string {
	if r.Pattern != "" || !s.hostAllowed(r.Host) {
		return r.Pattern
	}
	_, pattern := s.mux.Handler(r)
	return pattern
}

// methodLabel bounds the method label: a client may send any token as a
// method, and each would be a series of its own.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// timedLogin times a login endpoint from the handler's start to its
// answer.
func (s *Server) timedLogin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		h(sw, r)
		outcome := sw.loginOutcome
		if outcome == "" {
			switch status := sw.answered(); {
			case status < 300:
				outcome = outcomeWaiting
			case status >= 500:
				outcome = "unavailable"
			default:
				outcome = outcomeRejected
			}
		}
		s.metrics.loginTime.Since(start, outcome)
	}
}

// setLoginOutcome records the outcome of the login answered through w
// (the writer timedLogin gave its handler) for its timing.
func setLoginOutcome(w http.ResponseWriter, outcome string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.loginOutcome = outcome
	}
}

// countLogin counts a login in portcullis_logins_total with the backend
// that decided it, and records its outcome for its timing.
func (s *Server) countLogin(w http.ResponseWriter, outcome, backend string) {
	if backend == "" {
		backend = noBackend
	}
	s.metrics.logins.Inc(outcome, backend)
	setLoginOutcome(w, outcome)
}
