package cli

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/tokens"
)

func keysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List and rotate the keys that sign access tokens"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys that verify tokens, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			keys, err := store.SigningKeys(cmd.Context(), time.Now())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALGORITHM\tSTATE\tCREATED")
			for _, k := range keys {
				state := "signing"
				if !k.SignsUntil.IsZero() {
					state = "verifying until " + k.VerifiesUntil.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, state, k.CreatedAt.UTC().Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d key%s.\n", len(keys), plural(len(keys), "", "s"))
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new signing key; the previous one verifies until its tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			sealer, err := tokens.LoadKEK(cfg.Tokens.KeyEncryptionKeyFile, cfg.DataDir)
			if err != nil {
				return err
			}
			if err := tokens.CheckKEK(cmd.Context(), store, sealer); err != nil {
				if sealer.Created {
					_ = os.Remove(sealer.Source) // made for nothing
				}
				return fmt.Errorf("not rotating: %w", err)
			}
			if sealer.Created {
				fmt.Fprintf(e.stderr, "Made the key-encryption key file %s: keep it with the database.\n", sealer.Source)
			}
			start := time.Now()
			k, err := tokens.Rotate(cmd.Context(), store, sealer, cfg.Tokens.Algorithm, cfg.Tokens.AccessTTL.D())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Signing key %s (%s) made; running hosts sign with it within %s.\n", k.ID, k.Algorithm, tokens.ReloadEvery)
			keys, err := store.SigningKeys(cmd.Context(), time.Now())
			if err != nil {
				return err
			}
			for _, old := range keys {
				if !old.SignsUntil.Before(start) { // this rotation stopped it
					fmt.Fprintf(e.stdout, "Key %s stopped signing; it verifies until %s.\n", old.ID, old.VerifiesUntil.UTC().Format(time.RFC3339))
				}
			}
			return nil
		},
	}
	cmd.AddCommand(list, rotate)
	return cmd
}
