package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
)

// userTOTPCmd manages a user's authenticator app (TOTP), which the
// two-factor backend (the otp plugin) keeps.
func userTOTPCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "totp", Short: "Manage a user's authenticator app (TOTP)"}
	var backend string
	reset := &cobra.Command{
		Use:   "reset USERNAME",
		Short: "Remove a user's authenticator app and recovery codes; the user may enroll again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			u, err := findUser(cmd.Context(), store, args[0])
			if err != nil {
				return err
			}
			name := backend
			if name == "" {
				name = cfg.TwoFactor.Backend
			}
			if name == "" {
				return errors.New("the configuration names no two_factor.backend; name the otp backend with --backend")
			}
			a, _ := json.Marshal(map[string]string{"user_id": u.ID})
			resp, err := adminCommand(cmd.Context(), cfg, store, quietLogger(e, cfg), name, &sdk.AdminRequest{Command: "totp_reset", Args: a})
			if err != nil {
				return err
			}
			var out struct {
				Removed bool `json:"removed"`
			}
			_ = json.Unmarshal(resp.Result, &out)
			if out.Removed {
				fmt.Fprintf(e.stdout, "Authenticator app of %s removed; the user may enroll again.\n", usernames.Quote(u.Username))
			} else {
				fmt.Fprintf(e.stdout, "User %s has no authenticator app.\n", usernames.Quote(u.Username))
			}
			return nil
		},
	}
	reset.Flags().StringVar(&backend, "backend", "", "the otp backend (default: two_factor.backend)")
	cmd.AddCommand(reset)
	return cmd
}
