package cli

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func appsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "apps", Short: "Manage the keys that apps running beside the host authenticate with"}

	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make an app key; it is printed once, on the last line",
		Long: "Make an app key named NAME and print it, alone on the last line of the output. It is shown this once:\n" +
			"the host stores only its SHA-256. A name is 1 to 64 of the characters A-Z, a-z, 0-9, '.', '_' and '-', and\n" +
			"is never reused, even after its key is revoked.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := storage.ValidateAppKeyName(name); err != nil {
				return err
			}
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			key, hash := appkeys.New()
			k, err := store.CreateAppKey(cmd.Context(), name, hash)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "App key %s created (id %s). It is shown only this once, on the next line; the host keeps only its hash.\n",
				strconv.Quote(k.Name), k.ID)
			fmt.Fprintln(e.stdout, key)
			return nil
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the app keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			keys, err := store.ListAppKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tSTATE\tCREATED\tREVOKED")
			revoked := 0
			for _, k := range keys {
				state, when := "active", "-"
				if k.Revoked() {
					state, when = "revoked", appKeyTime(k.RevokedAt)
					revoked++
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.ID, state, appKeyTime(k.CreatedAt), when)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d app key(s), %d revoked.\n", len(keys), revoked)
			return nil
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an app key",
		Long: "Revoke the app key named NAME. Every host refuses it within " + appkeys.DefaultCacheTTL.String() + ": a host remembers a key it\n" +
			"checked successfully for that long. The name stays taken.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			revoked, err := store.RevokeAppKey(cmd.Context(), args[0])
			if errors.Is(err, sdk.ErrNotFound) {
				return fmt.Errorf("no app key %s (see portcullis apps list)", strconv.QuoteToASCII(args[0]))
			}
			if err != nil {
				return err
			}
			if revoked {
				fmt.Fprintf(e.stdout, "App key %s revoked.\n", strconv.Quote(args[0]))
			} else {
				fmt.Fprintf(e.stdout, "App key %s was already revoked.\n", strconv.Quote(args[0]))
			}
			return nil
		},
	}

	cmd.AddCommand(create, list, revoke)
	return cmd
}

// appKeyTime is how a list prints a time.
func appKeyTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z07:00") }
