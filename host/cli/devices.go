package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Admin commands of the backend that keeps devices (the mobiledevice
// plugin).
const (
	deviceListCommand   = "device_list"
	deviceRevokeCommand = "device_revoke"
)

// deviceRecord is a device as device_list describes it.
type deviceRecord struct {
	DeviceID   string     `json:"device_id"`
	UserID     string     `json:"user_id"`
	Username   string     `json:"username"`
	Name       string     `json:"name"`
	Primary    bool       `json:"primary"`
	Active     bool       `json:"active"`
	KeyType    string     `json:"key_type"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// devicesCmd is `portcullis devices`: the operator's view of the devices
// the configured device backend keeps. Like `users totp reset`, it asks
// the backend's own process (its admin commands), never its storage.
func devicesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "List and revoke users' mobile devices"}
	var backend string
	cmd.PersistentFlags().StringVar(&backend, "backend", "", "the backend that keeps the devices (default: devices.backend)")

	var user string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--user USERNAME]",
		Short: "List the registered devices, revoked ones included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			name, err := deviceBackend(cfg, backend)
			if err != nil {
				return err
			}
			args := map[string]string{}
			if user != "" {
				u, err := findUser(cmd.Context(), store, user)
				if err != nil {
					return err
				}
				args["user_id"] = u.ID
			}
			a, _ := json.Marshal(args)
			resp, err := adminCommand(cmd.Context(), cfg, store, quietLogger(e, cfg), name, &sdk.AdminRequest{Command: deviceListCommand, Args: a})
			if err != nil {
				return err
			}
			var out struct {
				Devices []deviceRecord `json:"devices"`
			}
			if err := json.Unmarshal(resp.Result, &out); err != nil {
				return fmt.Errorf("backend %q answered %s with %w", name, deviceListCommand, err)
			}
			if out.Devices == nil {
				out.Devices = []deviceRecord{}
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return printDevices(e, out.Devices)
		},
	}
	list.Flags().StringVar(&user, "user", "", "only this user's devices")
	list.Flags().BoolVar(&asJSON, "json", false, `print {"devices": [...]} as the backend answers it`)

	revoke := &cobra.Command{
		Use:   "revoke DEVICE_ID",
		Short: "Revoke a device: it can no longer see or decide authorization requests",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			name, err := deviceBackend(cfg, backend)
			if err != nil {
				return err
			}
			a, _ := json.Marshal(map[string]string{"device_id": args[0]})
			resp, err := adminCommand(cmd.Context(), cfg, store, quietLogger(e, cfg), name, &sdk.AdminRequest{Command: deviceRevokeCommand, Args: a})
			if errors.Is(err, sdk.ErrNotFound) {
				return fmt.Errorf("no device %s (see portcullis devices list)", escapeText(args[0]))
			}
			if err != nil {
				return err
			}
			var out struct {
				Revoked bool   `json:"revoked"`
				UserID  string `json:"user_id"`
			}
			if err := json.Unmarshal(resp.Result, &out); err != nil {
				return fmt.Errorf("backend %q answered %s with %w", name, deviceRevokeCommand, err)
			}
			if out.Revoked {
				fmt.Fprintf(e.stdout, "Device %s (of user id %s) revoked; it can no longer see or decide authorization requests.\n", escapeText(args[0]), escapeText(out.UserID))
			} else {
				fmt.Fprintf(e.stdout, "Device %s (of user id %s) was already revoked.\n", escapeText(args[0]), escapeText(out.UserID))
			}
			return nil
		},
	}
	cmd.AddCommand(list, revoke)
	return cmd
}

// deviceBackend is the backend named by --backend, else by
// devices.backend.
func deviceBackend(cfg *config.Config, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if cfg.Devices.Backend != "" {
		return cfg.Devices.Backend, nil
	}
	return "", errors.New("the configuration names no devices.backend; name the backend that keeps the devices with --backend")
}

// printDevices prints devices as a table, and how many there are.
func printDevices(e *env, devices []deviceRecord) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE ID\tUSER\tNAME\tKEY\tPRIMARY\tSTATE\tCREATED\tLAST USED")
	revoked := 0
	for _, d := range devices {
		state, primary, lastUsed := "active", "no", "-"
		if !d.Active {
			state = "revoked"
			revoked++
		}
		if d.Primary {
			primary = "yes"
		}
		if d.LastUsedAt != nil {
			lastUsed = d.LastUsedAt.Format(tableTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", escapeText(d.DeviceID), usernames.Display(d.Username), escapeText(d.Name),
			escapeText(d.KeyType), primary, state, d.CreatedAt.Format(tableTime), lastUsed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d device%s, %d revoked.\n", len(devices), plural(len(devices), "", "s"), revoked)
	return nil
}

// tableTime is how a table shows a time.
const tableTime = "2006-01-02 15:04:05Z07:00"
