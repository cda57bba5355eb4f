package cli

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/signals"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
	sigs "github.com/portcullis-auth/portcullis/sdk/signals"
)

// lockoutBackends returns the names of the lockout backends: the
// configured backends with the lockout plugin, and any other configured
// backend whose attempt rule has left counters or access records in the
// database, each followed by its admin-login twin ("lockout@admin") when
// that has left any; only the one named (and its twin), if a name is
// given.
func lockoutBackends(ctx context.Context, cfg *config.Config, store *storage.Store, only string) ([]string, error) {
	inDB, err := store.AttemptNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range cfg.Backends {
		if only != "" && b.Name != only {
			continue
		}
		if b.Plugin == "lockout" || slices.Contains(inDB, b.Name) {
			out = append(out, b.Name)
		}
		// Admins' logins are counted apart, by the backend's twin.
		if twin := b.Name + admin.TwinSuffix; slices.Contains(inDB, twin) {
			out = append(out, twin)
		}
	}
	if len(out) == 0 {
		if only != "" {
			return nil, fmt.Errorf("no lockout backend named %q in the configuration", only)
		}
		return nil, fmt.Errorf("the configuration has no lockout backend")
	}
	return out, nil
}

// openLockout opens the database and finds the lockout backends (only the
// one named, if a name is given).
func (e *env) openLockout(ctx context.Context, only string) (*config.Config, *storage.Store, []string, error) {
	cfg, store, err := e.openStore(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	backends, err := lockoutBackends(ctx, cfg, store, only)
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return cfg, store, backends, nil
}

func lockoutCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "lockout", Short: "Inspect and reset brute-force lockouts"}
	var backend string
	cmd.PersistentFlags().StringVar(&backend, "backend", "", "only this lockout backend (default: every one)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List clients with counted failures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, backends, err := e.openLockout(cmd.Context(), backend)
			if err != nil {
				return err
			}
			defer store.Close()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKEND\tIP\tUSERNAME\tUSER AGENT\tFAILURES\tLOCKED UNTIL")
			total := 0
			for _, b := range backends {
				counters, err := limiter.List(cmd.Context(), store, b)
				if err != nil {
					return err
				}
				for _, a := range counters {
					until := "-"
					switch {
					case a.Locked && a.ExpiresAt.IsZero():
						until = "until reset"
					case a.Locked:
						until = a.ExpiresAt.Local().Format(time.RFC3339)
					}
					// A username or user agent is what a client sent:
					// escaped unless plain, so it cannot rewrite the terminal.
					ip, user, ua := orDash(a.IPAddress), "-", orDash(escapeText(a.UserAgent))
					if a.Username != "" {
						user = usernames.Display(a.Username)
					}
					if a.Hashed {
						ip, user, ua = "(hashed)", "(hashed)", "(hashed)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", b, ip, user, ua, a.Failures, until)
					total++
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d record(s).\n", total)
			return nil
		},
	}

	var f limiter.Filter
	reset := &cobra.Command{
		Use:   "reset [--ip IP] [--username U] [--all]",
		Short: "Remove counted failures: by IP, by username, by both (that pair), or all",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.All && (f.Username != "" || f.IPAddress != "") {
				return fmt.Errorf("--all cannot be combined with --ip or --username")
			}
			// The lockout counts names in the host's canonical form; one
			// that is no username may be a count from before the rules.
			if c, err := usernames.Canonical(f.Username); err == nil {
				f.Username = c
			}
			cfg, store, backends, err := e.openLockout(cmd.Context(), backend)
			if err != nil {
				return err
			}
			defer store.Close()
			removed := 0
			for _, b := range backends {
				n, err := limiter.Reset(cmd.Context(), store, b, f)
				if err != nil {
					return err
				}
				removed += n
				if n > 0 {
					queueSignal(cmd.Context(), cfg, store, newLogger(e.stderr, cfg), b, &sigs.LockoutReset{Backend: b, Username: f.Username, ClientIP: f.IPAddress, All: f.All, Removed: n})
				}
			}
			if removed == 0 {
				fmt.Fprintln(e.stdout, "No attempts found.")
			} else {
				fmt.Fprintf(e.stdout, "%d attempt%s removed.\n", removed, plural(removed, "", "s"))
			}
			return nil
		},
	}
	reset.Flags().StringVar(&f.IPAddress, "ip", "", "the client IP address")
	reset.Flags().StringVar(&f.Username, "username", "", "the username")
	reset.Flags().BoolVar(&f.All, "all", false, "every record")

	var age string
	prune := &cobra.Command{
		Use:   "prune --age 30d",
		Short: "Remove access and access failure log records older than an age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := limiter.ParseAge(age)
			if err != nil {
				return err
			}
			_, store, err := e.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			var only []string
			if backend != "" {
				only = []string{backend}
			}
			removed, err := limiter.Prune(cmd.Context(), store, d, time.Now(), only...)
			if err != nil {
				return err
			}
			if removed == 0 {
				fmt.Fprintln(e.stdout, "No logs found.")
			} else {
				fmt.Fprintf(e.stdout, "%d log%s removed.\n", removed, plural(int(removed), "", "s"))
			}
			return nil
		},
	}
	prune.Flags().StringVar(&age, "age", "", "remove records older than this (e.g. 30d, 12h)")
	_ = prune.MarkFlagRequired("age")

	cmd.AddCommand(list, reset, prune)
	return cmd
}

// queueSignal queues a signal from a command for the configured async
// webhook and audit-file subscribers; a running host delivers it. (Sync
// subscribers and plugins live in the host process and do not see signals
// sent by commands.)
func queueSignal(ctx context.Context, cfg *config.Config, store *storage.Store, log *slog.Logger, sender string, args any) {
	commandDispatcher(cfg, store, log).Emit(ctx, sender, args)
}

// commandDispatcher queues what a command (or a plugin it starts) sends
// for the configured webhook and audit-file subscribers.
func commandDispatcher(cfg *config.Config, store *storage.Store, log *slog.Logger) *signals.Dispatcher {
	d := signals.NewDispatcher(store, log, metrics.New())
	for _, sc := range cfg.Signals.Subscribers {
		if sc.Plugin == "" && sc.Mode == string(signals.Async) {
			d.Subscribe(&signals.Subscription{Name: sc.Name, Mode: signals.Async, Signals: sc.Signals, Sender: sc.Sender})
		}
	}
	return d
}

// escapeText returns s as it is if every character is printable, else
// quoted with Go's escapes, ASCII only.
func escapeText(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.QuoteToASCII(s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
