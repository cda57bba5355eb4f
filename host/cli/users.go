package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/sdk"
)

func usersCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage the password backend's users"}
	var fromStdin bool
	var hasher string
	add := &cobra.Command{
		Use:   "add USERNAME --password-stdin",
		Short: "Add a user; the password is read from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUsername(args[0]); err != nil {
				return err
			}
			hash, err := e.readAndHash(cmd.Context(), fromStdin, hasher)
			if err != nil {
				return err
			}
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			u, err := store.CreateUser(cmd.Context(), args[0], hash)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "User %q added (id %s).\n", u.Username, u.ID)
			return nil
		},
	}
	add.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	add.Flags().StringVar(&hasher, "backend", "", "the backend that hashes the password (default: the first password backend)")

	passwd := &cobra.Command{
		Use:   "passwd USERNAME --password-stdin",
		Short: "Set a user's password; it is read from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hash, err := e.readAndHash(cmd.Context(), fromStdin, hasher)
			if err != nil {
				return err
			}
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.SetPassword(cmd.Context(), args[0], hash); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Password of %q changed.\n", args[0])
			return nil
		},
	}
	passwd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	passwd.Flags().StringVar(&hasher, "backend", "", "the backend that hashes the password (default: the first password backend)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			users, err := store.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tID\tDISABLED\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", u.Username, u.ID, u.Disabled, u.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d user(s).\n", len(users))
			return nil
		},
	}

	remove := &cobra.Command{
		Use:   "remove USERNAME",
		Short: "Remove a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.RemoveUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "User %q removed.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, passwd, list, remove)
	return cmd
}

// readAndHash reads the password from stdin and has the password backend
// (the one named, or the first whose plugin is the first-party password
// plugin) hash it, with its configured parameters, in its own process.
func (e *env) readAndHash(ctx context.Context, fromStdin bool, backend string) (string, error) {
	if !fromStdin {
		return "", errors.New("the password is read only from stdin: pass --password-stdin (e.g. printf '%s\\n' \"$PW\" | portcullis users add alice --password-stdin)")
	}
	cfg, store, err := e.openStore(ctx)
	if err != nil {
		return "", err
	}
	defer store.Close()
	pw, err := readSecretLine(e.stdin)
	if err != nil {
		return "", err
	}
	if backend == "" {
		for _, b := range cfg.Backends {
			if b.Plugin == "password" {
				backend = b.Name
				break
			}
		}
		if backend == "" {
			return "", errors.New("the configuration has no password backend; name the backend that hashes passwords with --backend")
		}
	}
	resp, err := adminCommand(ctx, cfg, store, quietLogger(e, cfg), backend, &sdk.AdminRequest{Command: "hash_password", Secret: pw})
	if err != nil {
		return "", err
	}
	var out struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(resp.Result, &out); err != nil || out.Hash == "" {
		return "", fmt.Errorf("backend %q answered hash_password without a hash", backend)
	}
	return out.Hash, nil
}

// readSecretLine reads the first line of r without its line ending.
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(r, 8192).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
		return "", errors.New("no password on stdin")
	case len(line) > 4096:
		return "", errors.New("the password is longer than 4096 bytes")
	case strings.IndexByte(line, 0) >= 0:
		return "", errors.New("the password must not contain NUL characters")
	}
	return line, nil
}

// checkUsername applies the same rules as the login API, so that every user
// added can log in.
func checkUsername(name string) error {
	switch {
	case name == "":
		return errors.New("the username must not be empty")
	case len(name) > 255:
		return errors.New("the username is longer than 255 bytes")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("the username must not contain control characters")
	}
	return nil
}
