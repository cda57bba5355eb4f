package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/internal/timerslack"
	"github.com/portcullis-auth/portcullis/host/storage"
)

// env is what every command needs: where to read and write, and the
// --config flag's value.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configPath     string
	// cfg is the configuration loadConfig read, for redacting what the
	// command prints (redactErrors).
	cfg *config.Config
	// slack is what Main did to serve's timer slack, and slackErr why it
	// could not (timerslack.Ensure). A test that runs serve in its own
	// process leaves both zero: it must not execute the test binary again.
	slack    timerslack.Result
	slackErr error
}

// loadConfig resolves the configuration the way every command does.
func (e *env) loadConfig() (*config.Config, error) {
	cfg, err := config.Resolve(e.configPath)
	if err == nil {
		e.cfg = cfg
	}
	return cfg, err
}

// openStore opens the configured database.
func (e *env) openStore(ctx context.Context) (*config.Config, *storage.Store, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	s, err := storage.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		return nil, nil, err
	}
	return cfg, s, nil
}

// Main runs the command line with args (without the program name) and
// returns the process exit status. started, if set, is called once the
// program will not execute itself again (serve may, to raise its timer
// slack), before any command runs.
func Main(args []string, started func()) int {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	root := newRoot(e)
	root.SetArgs(args)
	// serve raises its timer slack first of all: by executing the
	// program again, which must happen before anything has been read (the
	// configuration may be a pipe) and before a signal can be caught.
	if cmd, _, err := root.Find(args); err == nil && cmd.Name() == "serve" {
		want, on, err := timerslack.Setting()
		if err != nil {
			fmt.Fprintln(os.Stderr, "portcullis:", err)
			return 2
		}
		if on {
			e.slack, e.slackErr = timerslack.Ensure(want)
		}
	}
	if started != nil {
		started()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	code := exitStatus(err)
	switch code {
	case 2:
		fmt.Fprintln(os.Stderr, "portcullis: invalid configuration:", err)
	case 1:
		fmt.Fprintln(os.Stderr, "portcullis:", err)
	}
	return code
}

// exitStatus is the process exit status for a command's error: 0 for none,
// 2 for an invalid configuration (*config.Error), 1 for any other.
func exitStatus(err error) int {
	var cfgErr *config.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &cfgErr):
		return 2
	default:
		return 1
	}
}

// NewRoot returns the root command.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newRoot(&env{stdin: stdin, stdout: stdout, stderr: stderr})
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "portcullis",
		Short:         "Portcullis is an authentication host with plugin backends.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.PersistentFlags().StringVar(&e.configPath, "config", "", "configuration file (default: "+config.DefaultFile+" if present, else built-in defaults)")
	root.AddCommand(
		serveCmd(e),
		usersCmd(e),
		appsCmd(e),
		rolesCmd(e),
		adminCmd(e),
		authreqCmd(e),
		deviceCmd(e),
		devicesCmd(e),
		sessionsCmd(e),
		pluginsCmd(e),
		signalsCmd(e),
		lockoutCmd(e),
		keysCmd(e),
		configCmd(e),
		versionCmd(e),
		pluginServeCmd(),
	)
	refuseUnknown(root)
	redactErrors(root, e)
	return root
}

// newLogger builds the host's logger from the configuration.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr(cfg)}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redactErrors makes every command's error show the ${NAME} of a value
// the configuration took from the environment, not the value
// (config.Config.Redact).
func redactErrors(root *cobra.Command, e *env) {
	eachCommand(root, func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(c *cobra.Command, args []string) error {
				err := run(c, args)
				if e.cfg != nil {
					err = e.cfg.RedactError(err)
				}
				return err
			}
		}
	})
}

// redactAttr is the logger's ReplaceAttr: the message and every text or
// error it logs show the ${NAME} of a value from the environment.
func redactAttr(cfg *config.Config) func([]string, slog.Attr) slog.Attr {
	return func(_ []string, a slog.Attr) slog.Attr {
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			if r := cfg.Redact(v.String()); r != v.String() {
				a.Value = slog.StringValue(r)
			}
		case slog.KindAny:
			if err, ok := v.Any().(error); ok {
				if r := cfg.Redact(err.Error()); r != err.Error() {
					a.Value = slog.StringValue(r)
				}
			}
		}
		return a
	}
}
