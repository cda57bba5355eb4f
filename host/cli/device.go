package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/client/device"
	"github.com/portcullis-auth/portcullis/host/usernames"
)

// Where `portcullis device` finds what it is not told.
const (
	deviceFileEnv     = "PORTCULLIS_DEVICE_FILE"
	deviceFileDefault = "portcullis-device.json"
	appKeyEnv         = "PORTCULLIS_APP_KEY"
)

// deviceCmd is `portcullis device`: this machine acting as a mobile device
// of a host, through the host's device endpoints (package client/device),
// as a phone would. It reads no configuration and opens no database: the
// host is the URL given at registration, and the device is its
// credentials file. It lets an operator or a script register a device
// and decide requests where no phone app is at hand, and exercise a
// host's device endpoints end to end.
func deviceCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Act as a mobile device of a host: register, list and decide the user's authorization requests",
	}
	var file string
	cmd.PersistentFlags().StringVar(&file, "file", "", "the device's credentials file (default: $"+deviceFileEnv+", else ./"+deviceFileDefault+")")
	cmd.AddCommand(deviceRegisterCmd(e, &file), devicePendingCmd(e, &file),
		deviceDecideCmd(e, &file, "approve", "approved"), deviceDecideCmd(e, &file, "deny", "denied"))
	return cmd
}

// credentialsPath is the --file flag's value, or its default.
func credentialsPath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv(deviceFileEnv); p != "" {
		return p
	}
	return deviceFileDefault
}

func deviceRegisterCmd(e *env, file *string) *cobra.Command {
	var hostURL, user, name, appKey, token, deviceID string
	var ed, noPrimary, force bool
	cmd := &cobra.Command{
		Use:   "register --url URL --user NAME --name NAME",
		Short: "Register this machine as a device of a user, and save its credentials",
		Long: "Register this machine as a mobile device of a user (POST /v1/devices), with an app key and the user's\n" +
			"name, or with the user's access token, and save the device's credentials in a file only you can read\n" +
			"(mode 0600). The device's token or private key is never printed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := credentialsPath(*file)
			appKeyGiven := cmd.Flags().Changed("app-key")
			if !appKeyGiven {
				appKey = os.Getenv(appKeyEnv)
			}
			var bearer string
			switch {
			case appKeyGiven && token != "":
				return errors.New("give either --app-key or --token, not both")
			case token != "":
				// An access token given outright wins over an app key
				// in the environment.
				if strings.HasPrefix(token, device.AppKeyPrefix) {
					return errors.New("--token takes the user's access token, and this is an app key: pass it with --app-key")
				}
				bearer = token
			case appKey != "":
				if !strings.HasPrefix(appKey, device.AppKeyPrefix) {
					return fmt.Errorf("the app key (--app-key or $%s) does not start with %s: it is not an app key", appKeyEnv, device.AppKeyPrefix)
				}
				if user == "" {
					return errors.New("--user is required with an app key: it names the device's user")
				}
				bearer = appKey
			default:
				return fmt.Errorf("authenticate the registration with an app key (--app-key, or $%s) or the user's access token (--token)", appKeyEnv)
			}
			// Before registering: a device registered whose credentials
			// cannot be kept is one to revoke.
			if !force {
				if _, err := os.Lstat(path); err == nil {
					return fmt.Errorf("%s exists and may hold another device's credentials; pass --force to replace it, or --file to save elsewhere", path)
				}
			}
			if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
				return fmt.Errorf("cannot save the credentials as %s: %s is not a directory", path, filepath.Dir(path))
			}
			in := device.Registration{User: user, Name: name, DeviceID: deviceID, Ed25519: ed}
			if noPrimary {
				no := false
				in.Primary = &no
			}
			c, err := device.Register(cmd.Context(), nil, hostURL, bearer, in)
			if err != nil {
				return registerError(err, deviceID)
			}
			if err := c.Save(path, force); err != nil {
				return fmt.Errorf("device %s is registered, but its credentials could not be saved (%w); revoke it (portcullis devices revoke %s) and register again",
					escapeText(c.DeviceID), err, escapeText(c.DeviceID))
			}
			whose := "the access token's user"
			if user != "" {
				whose = "user " + usernames.Quote(user)
			}
			kind := "a token"
			if ed {
				kind = "an Ed25519 key"
			}
			primary := "its primary device"
			if noPrimary {
				primary = "not its primary device"
			}
			fmt.Fprintf(e.stdout, "Device %s registered for %s (%s, with %s).\n", escapeText(c.DeviceID), whose, primary, kind)
			fmt.Fprintf(e.stdout, "Its credentials are in %s, readable by you alone; keep them secret.\n", path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&hostURL, "url", "", "the host's base URL, such as https://auth.example.com")
	f.StringVar(&user, "user", "", "the device's user (required with an app key)")
	f.StringVar(&name, "name", "", "what the user calls the device, such as \"Alice's phone\"")
	f.StringVar(&appKey, "app-key", "", "an app key to register with (default: $"+appKeyEnv+"; the environment keeps it out of the process list)")
	f.StringVar(&token, "token", "", "register with the user's access token instead of an app key")
	f.StringVar(&deviceID, "device-id", "", "the id to register the device under (default: the host chooses; a revoked device's id reactivates it)")
	f.BoolVar(&ed, "ed25519", false, "make an Ed25519 key pair and sign every request, instead of holding a token from the host")
	f.BoolVar(&noPrimary, "no-primary", false, "do not make this the user's primary device")
	f.BoolVar(&force, "force", false, "replace an existing credentials file")
	_ = cmd.MarkFlagRequired("url")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func devicePendingCmd(e *env, file *string) *cobra.Command {
	var wait int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pending",
		Short: "List the waiting authorization requests of the device's user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if wait < 0 || wait > int(device.MaxWait/time.Second) {
				return fmt.Errorf("--wait is a number of seconds from 0 to %d", int(device.MaxWait/time.Second))
			}
			path := credentialsPath(*file)
			d, err := openDevice(path)
			if err != nil {
				return err
			}
			reqs, err := d.Pending(cmd.Context(), time.Duration(wait)*time.Second)
			if err != nil {
				return deviceError(err, path, "")
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string][]device.Request{"authorization_requests": reqs})
			}
			if len(reqs) == 0 {
				fmt.Fprintln(e.stdout, "No waiting authorization requests.")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSLUG\tUSER\tTITLE\tEXPIRES")
			for _, r := range reqs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", escapeText(r.ID), escapeText(r.Slug), usernames.Display(r.User.Username),
					escapeText(r.Title), r.ExpiresAt.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d waiting authorization request%s.\n", len(reqs), plural(len(reqs), "", "s"))
			return nil
		},
	}
	cmd.Flags().IntVar(&wait, "wait", 0, "wait up to this many seconds (at most 60) for a request when none is waiting")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"authorization_requests": [...]} as the host answers it`)
	return cmd
}

func deviceDecideCmd(e *env, file *string, verb, past string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: "Set a waiting authorization request of the device's user " + past,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := credentialsPath(*file)
			d, err := openDevice(path)
			if err != nil {
				return err
			}
			decide := d.Approve
			if verb == "deny" {
				decide = d.Deny
			}
			r, err := decide(cmd.Context(), args[0])
			if err != nil {
				return deviceError(err, path, args[0])
			}
			fmt.Fprintf(e.stdout, "Authorization request %s %s.\n", escapeText(r.ID), past)
			return nil
		},
	}
}

// openDevice loads the credentials at path.
func openDevice(path string) (*device.Device, error) {
	c, err := device.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no device credentials at %s: register the device first (portcullis device register), or name its file with --file or $%s", path, deviceFileEnv)
	}
	if err != nil {
		return nil, err
	}
	return device.New(c, nil)
}

// hostSaid is the host's code and description, for a message.
func hostSaid(he *device.Error) string {
	switch {
	case he.Code != "" && he.Description != "":
		return " (" + escapeText(he.Code) + ": " + escapeText(he.Description) + ")"
	case he.Code != "":
		return " (" + escapeText(he.Code) + ")"
	case he.Description != "":
		return " (" + escapeText(he.Description) + ")"
	}
	return ""
}

// registerError says what a refused registration means.
func registerError(err error, deviceID string) error {
	var he *device.Error
	if !errors.As(err, &he) {
		return err
	}
	switch he.Status {
	case http.StatusUnauthorized:
		return fmt.Errorf("the host refused the app key or access token%s", hostSaid(he))
	case http.StatusNotFound:
		return fmt.Errorf("the host does not serve devices at that URL%s", hostSaid(he))
	case http.StatusConflict:
		return fmt.Errorf("the host has a device %s already%s; register under another --device-id, or revoke that one first", escapeText(deviceID), hostSaid(he))
	}
	return fmt.Errorf("the host refused the registration: %d %s%s", he.Status, http.StatusText(he.Status), hostSaid(he))
}

// deviceError says what the host's refusal of a device's request about
// the authorization request id (none for a listing) means.
func deviceError(err error, path, id string) error {
	var he *device.Error
	if !errors.As(err, &he) {
		return err
	}
	switch {
	case he.Status == http.StatusUnauthorized:
		return fmt.Errorf("the host does not accept the device of %s: it is unknown to the host or revoked, or its credentials are wrong%s; register it again", path, hostSaid(he))
	case he.Status == http.StatusForbidden && id != "":
		return fmt.Errorf("authorization request %s is another user's: nothing changed%s", escapeText(id), hostSaid(he))
	case he.Status == http.StatusNotFound && id != "":
		return fmt.Errorf("the host has no authorization request %s%s", escapeText(id), hostSaid(he))
	case he.Status == http.StatusConflict && he.Code == device.CodeNotWaiting:
		state := he.State
		if state == "" {
			state = "decided or expired"
		}
		return fmt.Errorf("authorization request %s is %s, not waiting: nothing changed", escapeText(id), escapeText(state))
	}
	return err
}
