package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
)

// queued sends a command's signals to the async subscribers (queueSignal).
type queued struct {
	cfg   *config.Config
	store *storage.Store
	log   *slog.Logger
}

func (q queued) Emit(ctx context.Context, sender string, args any) string {
	queueSignal(ctx, q.cfg, q.store, q.log, sender, args)
	return ""
}

// adminService opens the database and returns the admin service over it,
// for the commands that manage admins.
func (e *env) adminService(ctx context.Context) (*admin.Service, *storage.Store, error) {
	cfg, store, err := e.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(e.stderr, cfg)
	return admin.New(admin.Options{Store: store, Signals: queued{cfg, store, log}, Logger: log}), store, nil
}

func adminCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Manage admin accounts (for the admin API and page) and their tokens"}
	var fromStdin bool
	var email string
	create := &cobra.Command{
		Use:   "create NAME --password-stdin",
		Short: "Add an admin account; the password (at least 12 characters) is read from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := adminPassword(e, fromStdin)
			if err != nil {
				return err
			}
			svc, store, err := e.adminService(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			adm, err := svc.Register(cmd.Context(), admin.Caller{}, args[0], email, pw)
			if err != nil {
				return errors.New(admin.Message(err))
			}
			fmt.Fprintf(e.stdout, "Admin %s created (id %s).\n", usernames.Quote(adm.Username), adm.ID)
			return nil
		},
	}
	create.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	create.Flags().StringVar(&email, "email", "", "the admin's email address (optional)")

	passwd := &cobra.Command{
		Use:   "passwd NAME --password-stdin",
		Short: "Set an admin's password (read from stdin); the admin's sessions end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := adminPassword(e, fromStdin)
			if err != nil {
				return err
			}
			hash, err := admin.HashPassword(pw)
			if err != nil {
				return errors.New(admin.Message(err))
			}
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.SetAdminPassword(cmd.Context(), args[0], hash); err != nil {
				return errors.New(admin.Message(err))
			}
			fmt.Fprintf(e.stdout, "Password of admin %s changed; the admin's sessions ended.\n", usernames.Quote(args[0]))
			return nil
		},
	}
	passwd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")

	list := &cobra.Command{
		Use:   "list",
		Short: "List admin accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			admins, err := store.ListAdmins(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tEMAIL\tSTATE\tCREATED BY\tCREATED")
			for _, a := range admins {
				state := "active"
				if a.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", usernames.Display(a.Username), a.ID, orDash(escapeText(a.Email)), state,
					orDash(a.CreatedBy), a.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d admin%s.\n", len(admins), plural(len(admins), "", "s"))
			return nil
		},
	}
	cmd.AddCommand(create, passwd, list, adminTokenCmd(e))
	return cmd
}

func adminTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage admin tokens, the admin API's credentials for automation"}
	var owner string
	create := &cobra.Command{
		Use:   "create NAME [--admin ADMIN]",
		Short: "Make an admin token named NAME; it is printed once, on the last line",
		Long: "Make an admin token named NAME that acts as ADMIN (the only admin, when there is one) and print it, alone\n" +
			"on the last line. It is shown this once: the host stores only its SHA-256. Send it as\n" +
			"Authorization: Bearer <token> to /v1/admin/ endpoints. A name is 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, store, err := e.adminService(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if owner == "" {
				admins, err := store.ListAdmins(cmd.Context())
				if err != nil {
					return err
				}
				if len(admins) != 1 {
					return fmt.Errorf("there are %d admins: name the one the token acts as with --admin", len(admins))
				}
				owner = admins[0].Username
			}
			token, t, err := svc.CreateToken(cmd.Context(), admin.Caller{}, owner, args[0])
			if err != nil {
				return errors.New(admin.Message(err))
			}
			fmt.Fprintf(e.stdout, "Admin token %s created for admin %s. It is shown only this once, on the next line; the host keeps only its hash.\n",
				strconv.Quote(t.Name), usernames.Quote(owner))
			fmt.Fprintln(e.stdout, token)
			return nil
		},
	}
	create.Flags().StringVar(&owner, "admin", "", "the admin the token acts as")

	list := &cobra.Command{
		Use:   "list",
		Short: "List admin tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			ts, err := store.ListAdminTokens(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADMIN\tSTATE\tCREATED")
			for _, t := range ts {
				state := "live"
				if t.Revoked() {
					state = "revoked " + t.RevokedAt.Format("2006-01-02 15:04:05Z07:00")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, orDash(usernames.Display(t.Admin.Username)), state, t.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d admin token%s.\n", len(ts), plural(len(ts), "", "s"))
			return nil
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an admin token; the admin API refuses it from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, store, err := e.adminService(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			revoked, err := svc.RevokeToken(cmd.Context(), admin.Caller{}, args[0])
			if err != nil {
				return errors.New(admin.Message(err))
			}
			if revoked {
				fmt.Fprintf(e.stdout, "Admin token %s revoked.\n", strconv.Quote(args[0]))
			} else {
				fmt.Fprintf(e.stdout, "Admin token %s was already revoked.\n", strconv.Quote(args[0]))
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// adminPassword reads an admin's password from stdin.
func adminPassword(e *env, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", errors.New("the password is read only from stdin: pass --password-stdin (e.g. printf '%s\\n' \"$PW\" | portcullis admin create root --password-stdin)")
	}
	return readSecretLine(e.stdin)
}
