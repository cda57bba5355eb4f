package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// sessionsCmd ends sessions by subject, for identities the users commands
// cannot reach: a directory's users, whose backend is asked only at login.
func sessionsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "Work with login sessions"}
	cmd.AddCommand(&cobra.Command{
		Use:   "end SUBJECT",
		Short: "End every session and refresh token of a subject (a user id, or another backend's subject such as ldap:…)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			ended, err := store.EndSessionsOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(ended) == 0 {
				fmt.Fprintf(e.stdout, "Subject %q has no live session.\n", args[0])
				return nil
			}
			said := strings.TrimPrefix(e.sessionsEnded(cmd.Context(), cfg, store, args[0], ended), "; ")
			fmt.Fprintf(e.stdout, "Subject %q: %s.\n", args[0], said)
			return nil
		},
	})
	return cmd
}
