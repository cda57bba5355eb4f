package cli

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host"
)

// drainTimeout bounds how long serve waits for in-flight requests on stop.
const drainTimeout = 15 * time.Second

func serveCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the host",
		Long: "Run the host: open the database, start every backend's plugin and answer HTTP.\n" +
			"SIGTERM or SIGINT stops it gracefully: in-flight requests finish, then plugins stop.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			log := newLogger(e.stderr, cfg)
			if e.slackErr != nil {
				log.Warn("running with the timer slack the host was given", "slack", e.slack.Slack.String(), "error", e.slackErr)
			}
			if e.slack.NameErr != nil {
				log.Warn(`executed again for its timer slack, the host's threads keep the name "exe"`, "error", e.slack.NameErr)
			}
			ctx := cmd.Context()
			h, err := host.New(ctx, cfg, host.Options{Logger: log, TimerSlack: e.slack})
			if err != nil {
				return err
			}
			defer func() {
				if err := h.Close(); err != nil {
					log.Error("closing", "error", err)
				}
				log.Info("stopped")
			}()
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
			}
			return h.Serve(ctx, ln, drainTimeout)
		},
	}
}
