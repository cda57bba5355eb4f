package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/adminui"
	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/hostsvc"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/internal/timerslack"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/signals"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/host/telemetry"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	sigs "github.com/portcullis-auth/portcullis/sdk/signals"
)

// Options adjust how a host is built.
type Options struct {
	Logger *slog.Logger
	// BuiltinCommand overrides how first-party plugins are run (tests run
	// them from the test binary).
	BuiltinCommand func(name string) (*exec.Cmd, error)
	// TimerSlack is what serve did to its timer slack: plugins are started
	// with the slack the host was given (TimerSlack.Before), when it
	// raised its own.
	TimerSlack timerslack.Result
}

// Host is a running host: its database is open and its plugins started.
type Host struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *storage.Store
	sup     *supervisor.Supervisor
	api     *httpapi.Server
	metrics *metrics.Registry
	signals *signals.Dispatcher
	// health records each backend's calls, for /readyz.
	health  map[string]*chain.Health
	closers []func() error
	// stop ends the background work (signal delivery, purges).
	stop func()
	bg   sync.WaitGroup
	// events tracks plugin start/exit signals still being emitted, so
	// that Close waits for them before closing the database.
	events sync.WaitGroup
	// tracing is off (nil) unless telemetry.otlp_endpoint is set.
	tracing *telemetry.Tracing
	// sealer holds the key-encryption key (signing keys, providers'
	// refresh tokens, derived keys).
	sealer *tokens.Sealer
	// timerSlack is the host's timer slack, for the log (0: not known).
	timerSlack time.Duration
}

// New opens the database (migrating it), starts every backend's and
// signal subscriber's plugin, and builds the chain and the signal stream. A
// plugin that fails to start fails New with an error naming it.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Host, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	tracing, err := startTracing(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	log = tracing.Logger(log)
	store, err := storage.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		_ = tracing.Shutdown(ctx)
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: " + w)
	}
	for _, w := range store.Warnings() {
		log.Warn(w)
	}
	h := &Host{cfg: cfg, log: log, store: store, metrics: metrics.New(), tracing: tracing, timerSlack: opts.TimerSlack.Slack}
	h.signals = signals.NewDispatcher(store, log, h.metrics)
	if err := h.start(ctx, opts); err != nil {
		_ = h.Close()
		return nil, err
	}
	return h, nil
}

func (h *Host) start(ctx context.Context, opts Options) error {
	cfg := h.cfg
	// Built-in subscribers first, so that they see the plugins start.
	builtinSubs, err := h.builtinSubscribers()
	if err != nil {
		return err
	}
	h.signals.Subscribe(builtinSubs...)

	restarts := h.metrics.Counter("portcullis_plugin_restarts_total", "Plugin processes restarted after an exit.", "backend")
	calls := h.metrics.Counter("portcullis_plugin_calls_total", "Calls crossing between the host and a plugin process, by direction and gRPC method.", "backend", "direction", "method")
	h.sup = supervisor.New(supervisor.Options{
		StartTimeout:   cfg.Plugins.StartTimeout.D(),
		BackoffMin:     cfg.Plugins.RestartBackoff.D(),
		BackoffMax:     cfg.Plugins.RestartBackoffMax.D(),
		StopGrace:      cfg.Plugins.StopGrace.D(),
		Logger:         h.log,
		LogLevel:       cfg.Log.Level,
		BuiltinCommand: opts.BuiltinCommand,
		TimerSlack:     opts.TimerSlack.Before,
		OnCall:         func(instance, direction, method string) { calls.Inc(instance, direction, method) },
		TracerProvider: h.tracerProvider(),
		PluginEnv:      h.pluginEnv(),
		OnEvent: func(ev supervisor.Event) {
			if ev.Started && ev.Restart > 0 {
				restarts.Inc(ev.Instance)
			}
			h.events.Add(1)
			go func() { // OnEvent must not block the supervisor
				defer h.events.Done()
				h.emitPluginEvent(ev)
			}()
		},
	})
	var specs []supervisor.Spec
	for _, b := range cfg.Backends {
		specs = append(specs, supervisor.Spec{
			Name:     b.Name,
			Plugin:   b.Plugin,
			External: config.IsExternal(b.Plugin),
			SHA256:   b.SHA256,
			Config:   b.ConfigJSON(),
			Host:     hostsvc.New(h.store, b.Name, h.signals, b.EffectiveGrants()),
			AnyOf:    supervisor.BackendKinds(),
			Backend:  true,
			Sandbox:  Sandbox(cfg.Plugins, b.Sandbox),
		})
	}
	for _, sub := range cfg.Signals.Subscribers {
		if sub.Plugin == "" {
			continue
		}
		specs = append(specs, supervisor.Spec{
			Name:     sub.Name,
			Plugin:   sub.Plugin,
			External: config.IsExternal(sub.Plugin),
			SHA256:   sub.SHA256,
			Config:   config.Backend{Config: sub.Config}.ConfigJSON(),
			Host:     hostsvc.New(h.store, sub.Name, h.signals, nil),
			Requires: []hostside.Capability{hostside.SignalReceiver},
			Sandbox:  Sandbox(cfg.Plugins, sub.Sandbox),
		})
	}
	if err := h.sup.Start(ctx, specs); err != nil {
		return err
	}
	h.signals.Subscribe(h.pluginSubscribers()...)

	links, adminLinks, err := h.links()
	if err != nil {
		return err
	}
	h.registerGauges(limiterNames(links, adminLinks))
	if err := h.loadKEK(); err != nil {
		return err
	}
	// The OAuth2 sign-ins refresh the providers' tokens of the sessions
	// they started when those are refreshed: the issuer asks the service.
	oauth2 := h.oauth2(links)
	var upstream tokens.Upstream
	if oauth2 != nil {
		upstream = oauth2.Service
	}
	issuer, err := h.issuer(ctx, upstream)
	if err != nil {
		return err
	}
	authRequests, err := h.authRequests()
	if err != nil {
		return err
	}
	totp := h.totp()
	devices, err := h.devices()
	if err != nil {
		return err
	}
	twoFactor, err := h.twoFactor(links, authRequests, totp)
	if err != nil {
		return err
	}
	adminSvc := h.adminService(adminLinks, authRequests)
	adminPage := adminui.New(adminSvc, adminui.Options{Logger: h.log})
	h.api = httpapi.New(httpapi.Options{
		Admin:        adminSvc,
		AdminPage:    adminPage,
		AuthRequests: authRequests,
		TwoFactor:    twoFactor,
		TOTP:         totp,
		Devices:      devices,
		OAuth2:       oauth2,
		Chain:        chain.New(h.log, links...).ObserveCalls(h.backendCalls()),
		Tokens:       issuer,
		Issuer:       cfg.Tokens.Issuer,
		Algorithm:    cfg.Tokens.Algorithm,
		Apps:         appkeys.NewChecker(h.store, appkeys.Options{}),
		Cookie: httpapi.Cookie{
			Name: cfg.Sessions.CookieName, Domain: cfg.Sessions.CookieDomain, SameSite: sameSite(cfg.Sessions.SameSite),
			Secure: *cfg.Sessions.Secure, TrustedOrigins: cfg.Sessions.TrustedOrigins,
		},
		LoginURL:       cfg.ForwardAuth.LoginURL,
		Ready:          h.ready,
		TrustedProxies: cfg.TrustedPrefixes(),
		AllowedHosts:   cfg.AllowedHosts,
		Loopback:       listensOnLoopback(cfg.Listen),
		Logger:         h.log,
		Signals:        h.signals,
		Metrics:        h.metrics,
		Tracing:        h.tracing,
		OnLogout: func(ctx context.Context, sessionID string) {
			if _, err := h.store.RecordLogout(ctx, sessionID, time.Now()); err != nil {
				h.log.Warn("stamping a logout in the access log", "error", err)
			}
		},
		LoginLimits: httpapi.LoginLimits{
			PerAddress: cfg.Limits.MaxConcurrentLoginsPerAddress,
			Running:    cfg.Limits.MaxConcurrentLogins,
			Queued:     cfg.Limits.MaxQueuedLogins,
			QueueWait:  cfg.Limits.LoginQueueWait.D(),
		},
	})

	adminPage.Attach(h.api)

	bgCtx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	d := cfg.Signals.Delivery
	deliverer := signals.NewDeliverer(h.store, h.signals, signals.DeliveryOptions{
		MaxAttempts: d.MaxAttempts, Backoff: d.Backoff.D(), BackoffMax: d.BackoffMax.D(), Lease: d.Lease.D(),
		Poll: d.Poll.D(), BatchSize: d.BatchSize, RetainDelivered: d.RetainDelivered.D(),
		TracerProvider: h.tracerProvider(),
	}, h.log, h.metrics)
	h.bg.Add(3)
	go func() { defer h.bg.Done(); deliverer.Run(bgCtx) }()
	go func() { defer h.bg.Done(); h.purgeExpired(bgCtx) }()
	go func() { defer h.bg.Done(); h.expireAuthRequests(bgCtx, authRequests) }()
	return nil
}

// loadKEK finds (or, on first start, makes) the key-encryption key.
func (h *Host) loadKEK() error {
	sealer, err := tokens.LoadKEK(h.cfg.Tokens.KeyEncryptionKeyFile, h.cfg.DataDir)
	if err != nil {
		return err
	}
	h.sealer = sealer
	if sealer.Created {
		h.log.Warn("made a key-encryption key for the signing keys; keep it with the database, or set "+tokens.KEKEnv+" or tokens.key_encryption_key_file", "file", sealer.Source)
	}
	return nil
}

// issuer opens the signing keys (making the first on first start) under
// the key-encryption key (loadKEK), and returns the token issuer; upstream
// refreshes the providers' tokens of OAuth2 sign-ins (nil when there is no
// OAuth2 backend).
func (h *Host) issuer(ctx context.Context, upstream tokens.Upstream) (*tokens.Issuer, error) {
	t := h.cfg.Tokens
	sealer := h.sealer
	keys, err := tokens.OpenKeyRing(ctx, h.store, sealer, t.Algorithm, t.AccessTTL.D(), h.log)
	if err != nil {
		if sealer.Created && errors.Is(err, tokens.ErrWrongKEK) {
			_ = os.Remove(sealer.Source) // made for nothing: the next start says the same
		}
		return nil, err
	}
	return tokens.NewIssuer(h.store, keys, tokens.Options{
		Issuer: t.Issuer, Audience: t.Audience, AccessTTL: t.AccessTTL.D(), RefreshTTL: t.RefreshTTL.D(),
		MaxLifetime: t.RefreshMaxLifetime.D(), Signals: h.signals, Logger: h.log, Metrics: h.metrics, Upstream: upstream,
		Cookies: tokens.CookieOptions{IdleTimeout: h.cfg.Sessions.IdleTimeout.D(), MaxLifetime: h.cfg.Sessions.MaxLifetime.D()},
	}), nil
}

// sameSite maps sessions.same_site to the cookie attribute.
// Sandbox is the supervisor's sandbox for a plugin with an entry's sandbox
// settings, under the plugins section's mode.
func Sandbox(p config.Plugins, s config.PluginSandbox) supervisor.Sandbox {
	return supervisor.Sandbox{Mode: p.Sandbox, Read: s.Read, Write: s.Write}
}

func sameSite(v string) http.SameSite {
	switch v {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// listensOnLoopback reports whether listen (host:port) is a loopback
// address or localhost.
func listensOnLoopback(listen string) bool {
	h, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// links builds the chain: a backend that declares an attempt rule is
// enforced by the host (package limiter), any other is called. It also
// returns the admin login's links: a twin of each limiter, with the same
// rule and counters of its own (admin.TwinSuffix).
func (h *Host) links() (links, adminLinks []chain.Link, err error) {
	// An attempt stays reserved at most as long as a login can last: every
	// backend's timeout, and a margin for the host's own work.
	lease := 30 * time.Second
	for _, b := range h.cfg.Backends {
		lease += b.Timeout.D()
	}
	h.health = map[string]*chain.Health{}
	for _, b := range h.cfg.Backends {
		inst := h.sup.Instance(b.Name)
		info := inst.Status().Info
		health := chain.NewHealth()
		h.health[b.Name] = health
		if !info.Has(hostside.Authenticator) && !info.Has(hostside.AttemptLimiter) {
			continue // an authorization-request or redirect backend only: not in the login chain
		}
		link := chain.Link{Name: b.Name, Timeout: b.Timeout.D(), SkipErrors: b.OnError == config.OnErrorSkip, Health: health}
		if rule, ok := inst.AttemptRule(); ok {
			// One link is one thing: the host would never call the
			// Authenticate of a limiter, nor could it skip a rule it
			// enforces itself.
			if info.Has(hostside.Authenticator) {
				return nil, nil, fmt.Errorf("backend %q: plugin %q is both an attempt limiter and an authenticator; a backend is one or the other", b.Name, info.Name)
			}
			if b.OnError == config.OnErrorSkip {
				return nil, nil, fmt.Errorf("backend %q: on_error: skip does not apply to an attempt rule, which the host enforces itself", b.Name)
			}
			lim, err := limiter.New(b.Name, rule, h.store, limiter.Options{Lease: lease, Emit: h.signals, Logger: h.log, Metrics: h.metrics})
			if err != nil {
				return nil, nil, fmt.Errorf("backend %q: %w", b.Name, err)
			}
			link.Limiter = lim
			twin, err := limiter.New(b.Name+admin.TwinSuffix, rule, h.store, limiter.Options{Lease: lease, Emit: h.signals, Logger: h.log, Metrics: h.metrics})
			if err != nil {
				return nil, nil, fmt.Errorf("backend %q: %w", b.Name, err)
			}
			adminLinks = append(adminLinks, chain.Link{Name: twin.Name(), Limiter: twin, Timeout: b.Timeout.D()})
		} else {
			link.Authenticator = inst.Authenticator()
		}
		if info.Has(hostside.OutcomeObserver) {
			link.Observer = inst.OutcomeObserver()
		}
		links = append(links, link)
	}
	return links, adminLinks, nil
}

// builtinSubscribers builds the webhook and audit-file subscribers.
func (h *Host) builtinSubscribers() ([]*signals.Subscription, error) {
	var subs []*signals.Subscription
	for _, sc := range h.cfg.Signals.Subscribers {
		var recv sdk.SignalReceiver
		switch {
		case sc.Webhook != "":
			recv = signals.NewWebhook(sc.Webhook, sc.Secret)
		case sc.AuditFile != "":
			f, err := signals.OpenAuditFile(sc.AuditFile)
			if err != nil {
				return nil, fmt.Errorf("signal subscriber %q: %w", sc.Name, err)
			}
			h.closers = append(h.closers, f.Close)
			recv = f
		default:
			continue
		}
		subs = append(subs, &signals.Subscription{
			Name: sc.Name, Mode: signals.Mode(sc.Mode), Signals: sc.Signals, Sender: sc.Sender,
			Timeout: sc.Timeout.D(), Receiver: recv,
		})
	}
	return subs, nil
}

// pluginSubscribers subscribes the plugins that declared subscriptions in
// their metadata: backends asynchronously (durably, through the outbox;
// a backend learns how its logins ended from the chain, not from signals),
// subscriber plugins in their configured mode, narrowed to their
// configured signals.
func (h *Host) pluginSubscribers() []*signals.Subscription {
	configured := map[string]config.Subscriber{}
	for _, sc := range h.cfg.Signals.Subscribers {
		if sc.Plugin != "" {
			configured[sc.Name] = sc
		}
	}
	var subs []*signals.Subscription
	for _, st := range h.sup.Statuses() {
		if !st.Info.Has(hostside.SignalReceiver) {
			continue
		}
		recv := h.sup.Instance(st.Name).SignalReceiver()
		sc, isSubscriber := configured[st.Name]
		for _, want := range st.Info.Subscriptions {
			sub := &signals.Subscription{
				Name: fmt.Sprintf("%s/%s", st.Name, want.Signal), Mode: signals.Async, Signals: []string{want.Signal}, Sender: want.Sender,
				Timeout: h.cfg.Signals.PluginTimeout.D(), Receiver: recv,
			}
			if isSubscriber {
				if len(sc.Signals) > 0 && !contains(sc.Signals, want.Signal) && !contains(sc.Signals, "*") {
					continue
				}
				if sc.Sender != "" {
					sub.Sender = sc.Sender
				}
				sub.Mode, sub.Timeout = signals.Mode(sc.Mode), sc.Timeout.D()
			}
			subs = append(subs, sub)
		}
	}
	return subs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (h *Host) emitPluginEvent(ev supervisor.Event) {
	ctx := context.Background()
	if ev.Started {
		h.signals.Emit(ctx, ev.Instance, &sigs.PluginStarted{Backend: ev.Instance, Plugin: ev.Plugin, PID: ev.PID, Restart: ev.Restart})
	} else {
		h.signals.Emit(ctx, ev.Instance, &sigs.PluginExited{Backend: ev.Instance, Plugin: ev.Plugin, PID: ev.PID})
	}
}

// purgeExpired removes, every minute, expired plugin storage entries and
// tokens and sessions kept past their retention (storage.PurgeTokens),
// and retired signing keys.
func (h *Host) purgeExpired(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := h.store.PurgeExpired(ctx, 10000); err != nil && ctx.Err() == nil {
				h.log.Warn("purging expired plugin storage", "error", err)
			}
			if _, err := h.store.PurgeAttempts(ctx, 10000); err != nil && ctx.Err() == nil {
				h.log.Warn("purging expired attempt counters", "error", err)
			}
			cutoff := time.Now().Add(-h.cfg.Tokens.RetainEnded.D())
			if _, err := h.store.PurgeTokens(ctx, cutoff, 10000); err != nil && ctx.Err() == nil {
				h.log.Warn("purging expired and revoked tokens", "error", err)
			}
			if _, err := h.store.PurgeSessions(ctx, cutoff, 10000); err != nil && ctx.Err() == nil {
				h.log.Warn("purging ended sessions", "error", err)
			}
			if _, err := h.store.PurgeSigningKeys(ctx, time.Now()); err != nil && ctx.Err() == nil {
				h.log.Warn("purging retired signing keys", "error", err)
			}
			if _, err := h.store.PurgeOAuth2Flows(ctx, time.Now().Add(-time.Hour)); err != nil && ctx.Err() == nil {
				h.log.Warn("purging expired OAuth2 sign-ins", "error", err)
			}
		}
	}
}

// Handler returns the HTTP API.
func (h *Host) Handler() http.Handler { return h.api }

// Store returns the host's database.
func (h *Host) Store() *storage.Store { return h.store }

// pluginReport is one plugin on /readyz.
type pluginReport struct {
	Backend  string `json:"backend"`
	Plugin   string `json:"plugin"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	// Failing is set while the backend's calls fail (its last call, less
	// than a minute ago); OnError says what logins do meanwhile.
	Failing      bool   `json:"failing,omitempty"`
	FailingCalls int    `json:"failing_calls,omitempty"`
	LastError    string `json:"last_error,omitempty"`
	OnError      string `json:"on_error,omitempty"`
}

// ready reports whether the host can serve logins: every plugin running,
// no fail-closed backend failing, and the database answering.
func (h *Host) ready(ctx context.Context) (bool, any) {
	ok := true
	onError := map[string]string{}
	for _, b := range h.cfg.Backends {
		onError[b.Name] = b.OnError
	}
	var plugins []pluginReport
	for _, st := range h.sup.Statuses() {
		r := pluginReport{Backend: st.Name, Plugin: st.Plugin, State: string(st.State), Restarts: st.Restarts, OnError: onError[st.Name]}
		r.Failing, r.FailingCalls, r.LastError = h.health[st.Name].Failing()
		plugins = append(plugins, r)
		ok = ok && st.State == supervisor.StateRunning && !(r.Failing && r.OnError == config.OnErrorFail)
	}
	dbState := "ok"
	if err := h.store.Ping(ctx); err != nil {
		ok, dbState = false, "unreachable"
	}
	return ok, map[string]any{"plugins": plugins, "database": dbState}
}

// Serve answers HTTP on ln until ctx ends, then drains in-flight requests
// (up to drain) and stops. At most limits.max_connections connections are
// open at once (httpapi.ConnLimiter).
func (h *Host) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	limited := httpapi.LimitConnections(ln, httpapi.ConnLimitOptions{
		Max: h.cfg.Limits.MaxConnections, Logger: h.log, Metrics: h.metrics,
	})
	srv := &http.Server{
		ConnState:         limited.ConnState,
		Handler:           h.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(h.api.EndLongPolls)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limited) }()
	attrs := []any{"listen", ln.Addr().String(), "backends", len(h.cfg.Backends), "storage", h.cfg.Storage.Driver,
		"max_connections", h.cfg.Limits.MaxConnections, "max_concurrent_logins", h.cfg.Limits.MaxConcurrentLogins}
	if h.timerSlack > 0 {
		attrs = append(attrs, "timer_slack", h.timerSlack.String())
	}
	h.log.Info("portcullis is serving", attrs...)
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	h.log.Info("shutting down: draining requests")
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// Close stops background work and the plugins, then closes the
// subscribers and the database.
func (h *Host) Close() error {
	if h.stop != nil {
		h.stop()
		h.bg.Wait()
	}
	if h.sup != nil {
		h.sup.Stop()
	}
	h.events.Wait() // plugin_exited of the plugins just stopped
	var errs []error
	for _, c := range h.closers {
		errs = append(errs, c())
	}
	errs = append(errs, h.store.Close())
	h.shutdownTracing()
	return errors.Join(errs...)
}
