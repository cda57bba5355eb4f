package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
)

// authRequests opens the database and returns the authorization-request
// service over it, for commands that read and decide requests (no backend
// is started: a command never prepares or checks a challenge).
func (e *env) authRequests(ctx context.Context) (*authreq.Service, *storage.Store, error) {
	cfg, store, err := e.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(e.stderr, cfg)
	a := cfg.AuthorizationRequests
	return authreq.New(authreq.Options{Store: store, Order: a.Backends, DefaultExpiration: a.DefaultExpiration.D(),
		MaxExpiration: a.MaxExpiration.D(), MaxWrongAnswers: a.MaxWrongAnswers, Signals: queued{cfg, store, log}, Logger: log}), store, nil
}

func authreqCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "authreq", Short: "List, show and decide authorization requests"}
	var state string
	var limit int
	list := &cobra.Command{
		Use:   "list [--state STATE]",
		Short: "List authorization requests, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, store, err := e.authRequests(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			// Requests whose time is up read as expired here too.
			if _, err := svc.ExpireDue(cmd.Context()); err != nil {
				return err
			}
			reqs, total, err := svc.List(cmd.Context(), storage.AuthRequestQuery{State: state, Page: storage.Page{Limit: limit}})
			if err != nil {
				return errors.New(admin.Message(err))
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSLUG\tUSER\tSTATE\tBACKEND\tEXPIRES\tTITLE")
			for _, r := range reqs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Slug, usernames.Display(r.Username), r.State, r.Backend,
					r.ExpiresAt.Format(time.RFC3339), escapeText(r.Title))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d of %d authorization request%s.\n", len(reqs), total, plural(int(total), "", "s"))
			return nil
		},
	}
	list.Flags().StringVar(&state, "state", "", "only requests in this state: waiting, granted, denied, cancelled or expired")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one authorization request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, store, err := e.authRequests(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			r, err := svc.Get(cmd.Context(), args[0])
			if err != nil {
				return errors.New(admin.Message(err))
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			for _, kv := range [][2]string{
				{"id", r.ID}, {"slug", r.Slug}, {"user", usernames.Display(r.Username) + " (" + r.UserID + ")"},
				{"title", escapeText(r.Title)}, {"description", orDash(escapeText(r.Description))}, {"data", orDash(escapeText(string(r.Data)))},
				{"backend", r.Backend}, {"delivery", orDash(r.Delivery)}, {"state", r.State}, {"reason", orDash(r.Reason)},
				{"wrong answers", fmt.Sprint(r.WrongAnswers)}, {"resets", fmt.Sprint(r.Generation)}, {"app", orDash(r.App)},
				{"created", r.CreatedAt.Format(time.RFC3339)}, {"expires", r.ExpiresAt.Format(time.RFC3339)},
				{"decided", orDash(formatTime(r.DecidedAt))},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
			}
			return tw.Flush()
		},
	}

	decide := func(verb, to, past string) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " ID",
			Short: "Set a waiting authorization request " + past,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				svc, store, err := e.authRequests(cmd.Context())
				if err != nil {
					return err
				}
				defer store.Close()
				r, err := svc.Decide(cmd.Context(), args[0], to, "cli")
				if errors.Is(err, authreq.ErrNotWaiting) {
					return fmt.Errorf("authorization request %s is %s, not waiting: nothing changed", args[0], r.State)
				}
				if err != nil {
					return errors.New(admin.Message(err))
				}
				fmt.Fprintf(e.stdout, "Authorization request %s %s.\n", r.ID, past)
				return nil
			},
		}
	}
	cmd.AddCommand(list, show, decide("grant", storage.AuthRequestGranted, "granted"),
		decide("deny", storage.AuthRequestDenied, "denied"), decide("cancel", storage.AuthRequestCancelled, "cancelled"))
	return cmd
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}
