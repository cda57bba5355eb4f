package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
	sigs "github.com/portcullis-auth/portcullis/sdk/signals"
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
			name, err := usernames.Canonical(args[0])
			if err != nil {
				return fmt.Errorf("%s: %w", usernames.Quote(args[0]), err)
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
			u, err := store.CreateUser(cmd.Context(), name, hash)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "User %s added (id %s).\n", usernames.Quote(u.Username), u.ID)
			if u.Username != args[0] {
				fmt.Fprintf(e.stdout, "The name was given as %s; it is stored, and logs in, in its canonical form.\n", strconv.QuoteToASCII(args[0]))
			}
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
			cfg, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			u, err := findUser(cmd.Context(), store, args[0])
			if err != nil {
				return err
			}
			hash, err := e.readAndHash(cmd.Context(), fromStdin, hasher)
			if err != nil {
				return err
			}
			sessions, err := store.SetPassword(cmd.Context(), u.Username, hash)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Password of %s changed%s.\n", usernames.Quote(u.Username), e.sessionsEnded(cmd.Context(), cfg, store, u.ID, sessions))
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
			fmt.Fprintln(tw, "USERNAME\tID\tSTATE\tCREATED")
			unusable := 0
			for _, u := range users {
				name := usernames.Display(u.Username)
				if c, err := usernames.Canonical(u.Username); err != nil || c != u.Username {
					name += " (!)"
					unusable++
				}
				state := "active"
				if u.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, u.ID, state, u.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d user(s).\n", len(users))
			if unusable > 0 {
				fmt.Fprintf(e.stdout, "(!) %d name%s stored before today's username rules and cannot log in: remove the user, or add it again under a valid name.\n",
					unusable, plural(unusable, " was", "s were"))
			}
			return nil
		},
	}

	remove := &cobra.Command{
		Use:   "remove USERNAME",
		Short: "Remove a user",
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
			sessions, err := store.RemoveUser(cmd.Context(), u.Username)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "User %s removed%s.\n", usernames.Quote(u.Username), e.sessionsEnded(cmd.Context(), cfg, store, u.ID, sessions))
			return nil
		},
	}
	disable := &cobra.Command{
		Use:   "disable USERNAME",
		Short: "Disable a user: its logins fail as a wrong password does, and its sessions end",
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
			wasEnabled, sessions, err := store.DisableUser(cmd.Context(), u.ID)
			if err != nil {
				return err
			}
			what := "disabled"
			if !wasEnabled {
				what = "was already disabled"
			}
			fmt.Fprintf(e.stdout, "User %s %s%s.\n", usernames.Quote(u.Username), what, e.sessionsEnded(cmd.Context(), cfg, store, u.ID, sessions))
			return nil
		},
	}

	enable := &cobra.Command{
		Use:   "enable USERNAME",
		Short: "Enable a disabled user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			u, err := findUser(cmd.Context(), store, args[0])
			if err != nil {
				return err
			}
			wasDisabled, err := store.EnableUser(cmd.Context(), u.ID)
			if err != nil {
				return err
			}
			what := "enabled"
			if !wasDisabled {
				what = "was not disabled"
			}
			fmt.Fprintf(e.stdout, "User %s %s.\n", usernames.Quote(u.Username), what)
			return nil
		},
	}
	var reportBackend string
	report := &cobra.Command{
		Use:   "rehash-report",
		Short: "Count the stored password hashes by format and cost, and name the users whose hash is to be replaced",
		Long: "Count the stored password hashes by format and cost, and name the users whose hash is to be replaced:\n" +
			"a legacy hash (bcrypt, Django's) is replaced by argon2id at its user's next successful login. The password\n" +
			"backend's process reads the hashes; no hash is printed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			backend, err := passwordBackend(cfg, reportBackend)
			if err != nil {
				return err
			}
			resp, err := adminCommand(cmd.Context(), cfg, store, quietLogger(e, cfg), backend, &sdk.AdminRequest{Command: "rehash_report", Args: json.RawMessage("{}")})
			if err != nil {
				return err
			}
			var r rehashReport
			if err := json.Unmarshal(resp.Result, &r); err != nil {
				return fmt.Errorf("backend %q answered rehash_report with %w", backend, err)
			}
			return r.print(e.stdout, resp.Message)
		},
	}
	report.Flags().StringVar(&reportBackend, "backend", "", "the password backend whose hashes to report (default: the first password backend)")

	cmd.AddCommand(add, passwd, list, remove, disable, enable, report, userRolesCmd(e), superuserCmd(e), userTOTPCmd(e), userEmailCmd(e))
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
	backend, err = passwordBackend(cfg, backend)
	if err != nil {
		return "", err
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

// passwordBackend returns name, or if it is empty the name of the first
// backend whose plugin is the first-party password plugin.
func passwordBackend(cfg *config.Config, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	for _, b := range cfg.Backends {
		if b.Plugin == "password" {
			return b.Name, nil
		}
	}
	return "", errors.New("the configuration has no password backend; name the backend with --backend")
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

// findUser finds the user an operator names: the user stored under
// exactly that name (so that a name stored before today's rules can still
// be managed), else the one stored under its canonical form.
func findUser(ctx context.Context, store *storage.Store, name string) (storage.User, error) {
	if !utf8.ValidString(name) {
		return storage.User{}, fmt.Errorf("no user %s: a username is UTF-8", usernames.Quote(name))
	}
	u, err := store.UserByUsername(ctx, name)
	if !errors.Is(err, sdk.ErrNotFound) {
		return u, err
	}
	if c, cerr := usernames.Canonical(name); cerr == nil && c != name {
		u, err = store.UserByUsername(ctx, c)
		if !errors.Is(err, sdk.ErrNotFound) {
			return u, err
		}
	}
	return storage.User{}, fmt.Errorf("no user %s (see portcullis users list)", usernames.Quote(name))
}

// sessionsEnded queues user_logged_out for each session a change to user
// userID ended, and returns the words that say so ("; 2 sessions ended"),
// or "" when none did.
func (e *env) sessionsEnded(ctx context.Context, cfg *config.Config, store *storage.Store, userID string, sessions []string) string {
	if len(sessions) == 0 {
		return ""
	}
	log := newLogger(e.stderr, cfg)
	for _, id := range sessions {
		queueSignal(ctx, cfg, store, log, "tokens", &sigs.UserLoggedOut{UserID: userID, SessionID: id})
	}
	return fmt.Sprintf("; %d session%s ended", len(sessions), plural(len(sessions), "", "s"))
}
