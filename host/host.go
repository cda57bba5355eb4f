package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/hostsvc"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Options adjust how a host is built.
type Options struct {
	Logger *slog.Logger
	// BuiltinCommand overrides how first-party plugins are run (tests run
	// them from the test binary).
	BuiltinCommand func(name string) (*exec.Cmd, error)
}

// Host is a running host: its database is open and its plugins started.
type Host struct {
	cfg   *config.Config
	log   *slog.Logger
	store *storage.Store
	sup   *supervisor.Supervisor
	api   *httpapi.Server
}

// New opens the database (migrating it), starts every backend's plugin and
// builds the chain. A plugin that fails to start fails New with an error
// naming it.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Host, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	store, err := storage.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		return nil, err
	}
	sup := supervisor.New(supervisor.Options{
		StartTimeout:   cfg.Plugins.StartTimeout.D(),
		BackoffMin:     cfg.Plugins.RestartBackoff.D(),
		BackoffMax:     cfg.Plugins.RestartBackoffMax.D(),
		StopGrace:      cfg.Plugins.StopGrace.D(),
		Logger:         log,
		BuiltinCommand: opts.BuiltinCommand,
	})
	specs := make([]supervisor.Spec, len(cfg.Backends))
	for i, b := range cfg.Backends {
		specs[i] = supervisor.Spec{
			Name:     b.Name,
			Plugin:   b.Plugin,
			External: config.IsExternal(b.Plugin),
			SHA256:   b.SHA256,
			Config:   b.ConfigJSON(),
			Host:     hostsvc.New(store, b.Name),
			Requires: []sdk.Capability{sdk.CapabilityAuthenticator},
		}
	}
	if err := sup.Start(ctx, specs); err != nil {
		_ = store.Close()
		return nil, err
	}
	links := make([]chain.Link, len(cfg.Backends))
	for i, b := range cfg.Backends {
		links[i] = chain.Link{Name: b.Name, Authenticator: sup.Instance(b.Name).Authenticator(), Timeout: b.Timeout.D()}
	}
	h := &Host{cfg: cfg, log: log, store: store, sup: sup}
	h.api = httpapi.New(httpapi.Options{
		Chain:          chain.New(links...),
		Tokens:         tokens.NewIssuer(store, cfg.Tokens.AccessTTL.D(), cfg.Tokens.RefreshTTL.D()),
		Ready:          h.ready,
		TrustedProxies: cfg.TrustedPrefixes(),
		Logger:         log,
	})
	return h, nil
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
}

func (h *Host) ready(ctx context.Context) (bool, any) {
	ok := true
	var plugins []pluginReport
	for _, st := range h.sup.Statuses() {
		plugins = append(plugins, pluginReport{Backend: st.Name, Plugin: st.Plugin, State: string(st.State), Restarts: st.Restarts})
		ok = ok && st.State == supervisor.StateRunning
	}
	dbState := "ok"
	if err := h.store.Ping(ctx); err != nil {
		ok, dbState = false, "unreachable"
	}
	return ok, map[string]any{"plugins": plugins, "database": dbState}
}

// Serve answers HTTP on ln until ctx ends, then drains in-flight requests
// (up to drain) and stops.
func (h *Host) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	srv := &http.Server{
		Handler:           h.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	h.log.Info("portcullis is serving", "listen", ln.Addr().String(), "backends", len(h.cfg.Backends), "storage", h.cfg.Storage.Driver)
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

// Close stops the plugins and closes the database.
func (h *Host) Close() error {
	h.sup.Stop()
	return h.store.Close()
}
