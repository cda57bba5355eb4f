package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/builtin"
	"github.com/portcullis-auth/portcullis/sdk"
)

func configCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Check the configuration and its external plugins' files, and report every problem at once",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			// The checks the host makes before it starts each external
			// plugin: a configuration that names a file the host would
			// refuse is not one it can run.
			if err := e.pluginFileError(cfg); err != nil {
				return err
			}
			src := e.configPath
			if src == "" {
				src = "the configuration"
			}
			fmt.Fprintf(e.stdout, "%s is valid: %d backend(s), storage %s.\n", src, len(cfg.Backends), cfg.Storage.Driver)
			for _, w := range cfg.Warnings() {
				fmt.Fprintf(e.stdout, "warning: %s\n", w) // redacted by config.Parse
			}
			for i, b := range cfg.Backends {
				if p, ok := builtin.Plugins[b.Plugin]; ok && p.Warnings != nil {
					for _, w := range p.Warnings(b.ConfigJSON()) {
						fmt.Fprintf(e.stdout, "warning: backends[%d] (%s): %s\n", i, b.Name, cfg.Redact(w))
					}
				}
			}
			return nil
		},
	})
	return cmd
}

// Version is the portcullis version, set at build time with
// -ldflags "-X github.com/portcullis-auth/portcullis/host/cli.Version=...".
var Version = ""

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			v := Version
			if v == "" {
				v = "(devel)"
				if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
					v = bi.Main.Version
				}
			}
			fmt.Fprintf(e.stdout, "portcullis %s (plugin protocol %d, %s)\n", v, sdk.ProtocolVersion, runtime.Version())
		},
	}
}

// pluginServeCmd is how the host runs a first-party plugin as a
// subprocess of itself. It is hidden: users never call it.
func pluginServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "plugin-serve NAME",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			p, ok := builtin.Plugins[args[0]]
			if !ok {
				return fmt.Errorf("no first-party plugin %q (known: %v)", args[0], builtin.Names())
			}
			sdk.Serve(p.New())
			return nil
		},
	}
}
