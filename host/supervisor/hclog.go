package supervisor

import (
	"context"
	"io"
	"log"
	"log/slog"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter lets go-plugin, which logs through hclog, write into the
// host's slog logger. Plugin log lines arrive here too, re-emitted by
// go-plugin with the plugin's own level and fields.
//
// The slog logger already names the backend and the plugin. go-plugin adds
// its own "plugin" attribute (the executable's path) to some lines, and
// names the logger for the plugin's stderr after the executable's base
// name. Both only repeat which executable runs, and badly: an external
// plugin runs as /proc/self/fd/N, a first-party one as the host's own
// executable. The adapter drops them; other names (go-plugin's "stdio"
// sub-logger) are kept as a "logger" attribute.
//
// A line the plugin wrote is the plugin's word, not the host's: a field of
// it named as one the host's line has of its own ("backend", "plugin",
// "level", ...) is renamed "plugin." + its name, so that a plugin's line
// carries no second backend, plugin, level or message for a reader to
// take instead of the host's.
type hclogAdapter struct {
	log        *slog.Logger
	exec       string // the plugin's executable path as go-plugin knows it
	name       string
	implied    []any
	fromPlugin bool // the logger of the plugin's standard error
}

// hostKeys are the names of the attributes a host's log line about a
// plugin has of its own, and go-plugin's "timestamp", which it adds last
// to each line of the plugin's.
var hostKeys = map[string]bool{
	"backend": true, "plugin": true, "logger": true, "timestamp": true,
	slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true, slog.SourceKey: true,
}

// renameHostKeys renames the fields of a plugin's line that are named as
// the host's own, all but the "timestamp" go-plugin appends.
func renameHostKeys(args []any) []any {
	var out []any
	for i := 0; i+1 < len(args); i += 2 {
		k, _ := args[i].(string)
		if !hostKeys[k] || (k == "timestamp" && i+2 == len(args)) {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = "plugin." + k
	}
	if out == nil {
		return args
	}
	return out
}

// newHCLogAdapter returns an hclog.Logger writing to l for the plugin run
// from the executable at execPath (the exec.Cmd's Path).
func newHCLogAdapter(l *slog.Logger, execPath string) hclog.Logger {
	return &hclogAdapter{log: l, exec: execPath}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	var lv slog.Level
	switch level {
	case hclog.Trace, hclog.Debug:
		lv = slog.LevelDebug
	case hclog.Warn:
		lv = slog.LevelWarn
	case hclog.Error:
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	if !a.log.Enabled(context.Background(), lv) {
		return
	}
	args = a.dropExecPath(args)
	if a.fromPlugin {
		args = renameHostKeys(args)
	}
	if a.name != "" {
		args = append(args, "logger", a.name)
	}
	a.log.Log(context.Background(), lv, msg, append(a.implied, args...)...)
}

// dropExecPath removes the "plugin" attributes go-plugin adds with the
// executable's path as their value; a plugin's own "plugin" attribute, with
// any other value, stays.
func (a *hclogAdapter) dropExecPath(args []any) []any {
	if a.exec == "" {
		return args
	}
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "plugin" && args[i+1] == a.exec {
			out := append(make([]any, 0, len(args)-2), args[:i]...)
			return append(out, a.dropExecPath(args[i+2:])...)
		}
	}
	return args
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l slog.Level) bool { return a.log.Enabled(context.Background(), l) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(slog.LevelInfo) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(slog.LevelWarn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(slog.LevelError) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any{}, a.implied...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if a.exec != "" && name == filepath.Base(a.exec) {
		c.fromPlugin = true // the stderr logger, named after the executable
		return &c
	}
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel is ignored: the host's handler decides.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

func (a *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case a.IsDebug():
		return hclog.Debug
	case a.IsInfo():
		return hclog.Info
	case a.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	l := a.log.With(a.implied...)
	if a.name != "" {
		l = l.With("logger", a.name)
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelInfo)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(nil).Writer()
}

// Interface guard.
var _ hclog.Logger = (*hclogAdapter)(nil)
