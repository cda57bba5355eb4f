package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/internal/redact"
)

func signalsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "signals", Short: "Inspect and retry async signal deliveries"}
	var dead bool
	var limit int
	list := &cobra.Command{
		Use:   "list [--dead]",
		Short: "List async deliveries, newest first (--dead: only dead letters)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			state := ""
			if dead {
				state = storage.DeliveryDead
			}
			ds, err := store.ListDeliveries(cmd.Context(), state, limit)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSIGNAL\tSENDER\tSUBSCRIBER\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
			for _, d := range ds {
				next := "-"
				if d.State == storage.DeliveryPending {
					next = d.NextAttemptAt.Format(time.RFC3339)
				}
				// A URL in the error may carry credentials; rows stored
				// by an older host may still hold one unredacted.
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Name, d.Sender, d.Subscriber, d.State, d.Attempts, next, redact.URLs(d.LastError))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d deliver%s.\n", len(ds), plural(len(ds), "y", "ies"))
			return nil
		},
	}
	list.Flags().BoolVar(&dead, "dead", false, "only dead letters (deliveries that ran out of attempts)")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Queue a dead (or pending) delivery again with a fresh set of attempts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("ID must be a delivery id from `portcullis signals list`, not %q", args[0])
			}
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.RetryDelivery(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Delivery %d queued for retry.\n", id)
			return nil
		},
	}
	cmd.AddCommand(list, retry)
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
