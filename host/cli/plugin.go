package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/host"
	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/hostsvc"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// adminCommand starts the plugin of the configured backend name, runs one
// of its admin commands (sdk.Admin) and stops it. The command line never
// reaches into a plugin's code or storage: what only a plugin knows (how it
// hashes a password, say) the plugin does, in its own process.
func adminCommand(ctx context.Context, cfg *config.Config, store *storage.Store, log *slog.Logger, name string, req *sdk.AdminRequest) (sdk.AdminResponse, error) {
	var b *config.Backend
	for i := range cfg.Backends {
		if cfg.Backends[i].Name == name {
			b = &cfg.Backends[i]
		}
	}
	if b == nil {
		return sdk.AdminResponse{}, fmt.Errorf("no backend named %q in the configuration", name)
	}
	sup := supervisor.New(supervisor.Options{
		StartTimeout: cfg.Plugins.StartTimeout.D(),
		BackoffMin:   cfg.Plugins.RestartBackoff.D(),
		BackoffMax:   cfg.Plugins.RestartBackoffMax.D(),
		StopGrace:    cfg.Plugins.StopGrace.D(),
		Logger:       log,
		LogLevel:     "warn",
	})
	dispatcher := commandDispatcher(cfg, store, log) // what the plugin sends reaches the async subscribers
	err := sup.Start(ctx, []supervisor.Spec{{
		Name:     b.Name,
		Plugin:   b.Plugin,
		External: config.IsExternal(b.Plugin),
		SHA256:   b.SHA256,
		Config:   b.ConfigJSON(),
		Host:     hostsvc.New(store, b.Name, dispatcher, b.EffectiveGrants()),
		Requires: []hostside.Capability{hostside.Admin},
		Backend:  true, // it may look users up as it does serving logins
		Sandbox:  host.Sandbox(cfg.Plugins, b.Sandbox),
	}})
	if err != nil {
		return sdk.AdminResponse{}, err
	}
	defer sup.Stop()
	var resp sdk.AdminResponse
	if err := sup.Instance(b.Name).Admin().Admin(ctx, req, &resp); err != nil {
		return sdk.AdminResponse{}, fmt.Errorf("backend %q: %s: %w", b.Name, req.Command, err)
	}
	return resp, nil
}

// quietLogger logs only warnings and errors, for commands that start a
// plugin: its start and stop are not news to the operator.
func quietLogger(e *env, cfg *config.Config) *slog.Logger {
	if cfg.Log.Level == "debug" {
		return newLogger(e.stderr, cfg)
	}
	c := *cfg
	c.Log.Level = "warn"
	return newLogger(e.stderr, &c)
}
