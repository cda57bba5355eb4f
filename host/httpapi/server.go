package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/telemetry"
	"github.com/portcullis-auth/portcullis/host/tokens"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// Options are the parts of the host the API serves.
type Options struct {
	Chain  *chain.Chain
	Tokens *tokens.Issuer
	// Issuer and Algorithm are the tokens' iss and signing algorithm, for
	// /.well-known/openid-configuration.
	Issuer, Algorithm string
	// Cookie configures browser sessions' cookie.
	Cookie Cookie
	// LoginURL is where forward-auth sends a browser without a session
	// (optional).
	LoginURL string
	// Ready reports whether the host can serve logins, and the details to
	// show on /readyz.
	Ready func(ctx context.Context) (bool, any)
	// TrustedProxies may speak for the end user's address.
	TrustedProxies []netip.Prefix
	// AllowedHosts are the names the API answers to (a request's Host
	// without its port); Loopback adds localhost, 127.0.0.1 and ::1 and
	// refuses every other name even when AllowedHosts is empty (a web page
	// must not reach a host on loopback under a DNS name of its own).
	AllowedHosts []string
	Loopback     bool
	Logger       *slog.Logger
	// Signals receives the login and session signals (optional).
	Signals Emitter
	// Metrics is served on GET /metrics (optional).
	Metrics *metrics.Registry
	// OnLogout, if set, is told of each session that ends (the access
	// log stamps its logout time).
	OnLogout func(ctx context.Context, sessionID string)
	// LoginLimits bound the logins taken on at once (zero: no limits).
	LoginLimits LoginLimits
	// Apps checks the app keys that endpoints for apps require
	// (requireApp); without it those endpoints answer 503.
	Apps *appkeys.Checker
	// Admin serves the admin API (/v1/admin/); without it those
	// endpoints answer 503.
	Admin *admin.Service
	// AuthRequests runs authorization requests; without it their
	// endpoints answer 503.
	AuthRequests *authreq.Service
	// TwoFactor, if set, makes logins prove a second factor.
	TwoFactor *TwoFactor
	// TOTP, if set, lets users enroll an authenticator app.
	TOTP *TOTP
	// AdminPage, if set, serves the admin web page under /admin/.
	AdminPage http.Handler
	// Devices, if set, serves mobile devices.
	Devices *Devices
	// OAuth2, if set, serves sign-ins with external providers.
	OAuth2 *OAuth2
	// Tracing, if on, gives each request a span (serveMux); nil is off.
	Tracing *telemetry.Tracing
}

// Emitter sends the host's signals (typed arguments from package
// sdk/signals); the host's signals.Dispatcher is one.
type Emitter interface {
	Emit(ctx context.Context, sender string, args any) string
}

type noSignals struct{}

func (noSignals) Emit(context.Context, string, any) string { return "" }

// Server is the HTTP API. It implements http.Handler.
type Server struct {
	opts    Options
	trusted trustedProxies
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *apiMetrics
	admit   *admission
	// closing ends with EndLongPolls.
	closing      context.Context
	endLongPolls context.CancelFunc
}

// EndLongPolls answers every long poll at once (with what it has): the
// server is shutting down and would otherwise wait for them.
func (s *Server) EndLongPolls() { s.endLongPolls() }

// New returns the API handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Signals == nil {
		opts.Signals = noSignals{}
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	if opts.Cookie.Name == "" {
		opts.Cookie.Name = "portcullis_session"
	}
	s := &Server{opts: opts, trusted: opts.TrustedProxies, log: opts.Logger, mux: http.NewServeMux()}
	s.closing, s.endLongPolls = context.WithCancel(context.Background())
	s.metrics = newAPIMetrics(opts.Metrics)
	s.admit = newAdmission(opts.LoginLimits, opts.Metrics, &throttledLog{log: opts.Logger, interval: time.Minute})
	s.mux.HandleFunc("POST /v1/login", s.timedLogin(s.handleLogin))
	s.mux.HandleFunc("POST /v1/login/2fa", s.timedLogin(s.handleSecondFactor))
	s.mux.HandleFunc("POST /v1/totp/enroll", s.handleTOTPEnroll)
	s.mux.HandleFunc("POST /v1/totp/confirm", s.handleTOTPConfirm)
	s.mux.HandleFunc("POST /v1/token/refresh", s.handleRefresh)
	s.mux.HandleFunc("POST /v1/token/revoke", s.handleRevoke)
	s.mux.HandleFunc("POST /v1/token/introspect", s.requireApp(s.handleIntrospect))
	s.mux.HandleFunc("POST /v1/permissions/check", s.requireApp(s.handlePermissionCheck))
	s.mux.HandleFunc("POST /v1/session", s.timedLogin(s.handleSessionLogin))
	s.mux.HandleFunc("GET /v1/session", s.handleSessionStatus)
	s.mux.HandleFunc("DELETE /v1/session", s.handleSessionLogout)
	s.mux.HandleFunc("GET /v1/forward-auth", s.handleForwardAuth)
	s.mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	s.mux.HandleFunc("GET /.well-known/openid-configuration", s.handleOpenIDConfiguration)
	s.authRequestRoutes()
	s.deviceRoutes()
	s.oauth2Routes()
	s.adminRoutes()
	s.mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.HandleFunc("/", s.handleNotFound)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w, done := s.measure(w)
	defer func() { done(r) }()
	w.Header().Set("X-Request-Id", newRequestID())
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !s.hostAllowed(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, codeInvalidHost, "this host does not answer to the name "+strconv.Quote(hostName(r.Host)), nil)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	s.serveMux(w, r)
}

// hostName is a Host header's name without its port and brackets.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// hostAllowed reports whether the API answers to the request's Host.
func (s *Server) hostAllowed(host string) bool {
	if !s.opts.Loopback && len(s.opts.AllowedHosts) == 0 {
		return true
	}
	name := strings.ToLower(hostName(host))
	if s.opts.Loopback {
		switch name {
		case "localhost", "127.0.0.1", "::1":
			return true
		}
	}
	for _, h := range s.opts.AllowedHosts {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	ok, details := s.opts.Ready(ctx)
	status, word := http.StatusOK, "ready"
	if !ok {
		status, word = http.StatusServiceUnavailable, "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": word, "details": details})
}

// handleNotFound answers unknown paths, and known paths with the wrong
// method, in JSON.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path, nil)
			return
		}
	}
	writeError(w, http.StatusNotFound, codeNotFound, "no such endpoint: "+r.URL.Path, nil)
}

// handleMetrics serves the metrics in the Prometheus text format (or
// another the scraper asks for), docs/metrics.md.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.opts.Metrics.Handler(s.log).ServeHTTP(w, r)
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
