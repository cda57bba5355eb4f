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
		Short: "List the configured backends' plugins and check external ones' checksums",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKEND\tPLUGIN\tKIND\tCHECKSUM")
			for _, b := range cfg.Backends {
				kind, sum := "first-party", "-"
				if config.IsExternal(b.Plugin) {
					kind = "external"
					got, err := supervisor.Checksum(b.Plugin)
					switch {
					case err != nil:
						sum = "unreadable: " + err.Error()
					case got == b.SHA256:
						sum = "ok"
					default:
						sum = "MISMATCH (file has " + got + ")"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Name, b.Plugin, kind, sum)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "First-party plugins in this binary: %v\n", builtin.Names())
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
