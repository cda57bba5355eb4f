package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/builtin"
	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/supervisor"
)

func pluginsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "plugins", Short: "Inspect plugins"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the configured plugins and check external ones as the host does before starting them",
		Long: "List the configured backends' plugins, and signal subscriber plugins if any, and check each external\n" +
			"plugin's file as the host does before it starts it: its checksum, and that no other user can change it.\n" +
			"Exits with status 2, listing the problems, if a file is missing or would be refused.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			var problems []config.Problem
			// status checks an external plugin's file, and records its
			// problem.
			status := func(at, who, plugin, sum string) (string, string) {
				if !config.IsExternal(plugin) {
					return "first-party", "-"
				}
				s, p := pluginFile{at, who, plugin, sum}.check()
				if p != nil {
					problems = append(problems, *p)
				}
				return "external", s
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKEND\tPLUGIN\tKIND\tCHECKSUM")
			for i, b := range cfg.Backends {
				kind, sum := status(fmt.Sprintf("backends[%d]", i), fmt.Sprintf("backend %q", b.Name), b.Plugin, b.SHA256)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Name, b.Plugin, kind, sum)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if hasPluginSubscriber(cfg) {
				fmt.Fprintln(e.stdout)
				tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SUBSCRIBER\tPLUGIN\tKIND\tCHECKSUM")
				for i, s := range cfg.Signals.Subscribers {
					if s.Plugin == "" {
						continue
					}
					kind, sum := status(fmt.Sprintf("signals.subscribers[%d]", i), fmt.Sprintf("subscriber %q", s.Name), s.Plugin, s.SHA256)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Plugin, kind, sum)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "First-party plugins in this binary: %v\n", builtin.Names())
			if len(problems) > 0 {
				return &config.Error{Source: e.configSource(), Problems: problems}
			}
			return nil
		},
	}
	checksum := &cobra.Command{
		Use:   "checksum PATH",
		Short: "Print the sha256 to put in the configuration for an external plugin",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			sum, err := supervisor.Checksum(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s  %s\n", sum, args[0])
			return nil
		},
	}
	cmd.AddCommand(list, checksum)
	return cmd
}

func hasPluginSubscriber(cfg *config.Config) bool {
	for _, s := range cfg.Signals.Subscribers {
		if s.Plugin != "" {
			return true
		}
	}
	return false
}
