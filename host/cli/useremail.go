package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
)

// userEmailCmd sets or clears a user's email address, by which a first
// sign-in with an external provider links to the user (provisioning:
// link, docs/oauth2.md).
func userEmailCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "email USERNAME [ADDRESS]",
		Short: "Set a user's email address (none: clear it); an external sign-in with that verified address links to the user",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				u, err := findUser(cmd.Context(), store, args[0])
				if err != nil {
					return err
				}
				addr := ""
				if len(args) == 2 {
					addr = args[1]
				}
				if err := store.SetUserEmail(cmd.Context(), u.Username, addr); err != nil {
					return err
				}
				if addr == "" {
					fmt.Fprintf(e.stdout, "User %s has no email address now.\n", usernames.Quote(u.Username))
				} else {
					fmt.Fprintf(e.stdout, "User %s's email address is %s.\n", usernames.Quote(u.Username), addr)
				}
				return nil
			})
		},
	}
}
