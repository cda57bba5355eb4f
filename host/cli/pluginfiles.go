package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/supervisor"
)

// pluginFile is an external plugin the configuration names.
type pluginFile struct {
	at     string // where in the configuration: "backends[1]"
	who    string // what it is, for messages: `backend "files"`
	plugin string // the file's path
	sha256 string
}

// externalPlugins lists the external plugins of cfg: backends first, then
// signal subscribers, in the configuration's order.
func externalPlugins(cfg *config.Config) []pluginFile {
	var out []pluginFile
	for i, b := range cfg.Backends {
		if config.IsExternal(b.Plugin) {
			out = append(out, pluginFile{fmt.Sprintf("backends[%d]", i), fmt.Sprintf("backend %q", b.Name), b.Plugin, b.SHA256})
		}
	}
	for i, s := range cfg.Signals.Subscribers {
		if s.Plugin != "" && config.IsExternal(s.Plugin) {
			out = append(out, pluginFile{fmt.Sprintf("signals.subscribers[%d]", i), fmt.Sprintf("subscriber %q", s.Name), s.Plugin, s.SHA256})
		}
	}
	return out
}

// check makes the checks the host makes before it starts the plugin
// (supervisor.CheckExternal). It returns a short status for a table ("ok",
// "MISMATCH (file has …)", "MISSING", "UNPROTECTED", "UNUSABLE") and, unless
// ok, the problem, at the configuration path to fix, naming the backend
// or subscriber.
func (p pluginFile) check() (string, *config.Problem) {
	err := supervisor.CheckExternal(p.plugin, p.sha256)
	if err != nil {
		err = fmt.Errorf("%w (%s)", err, p.who)
	}
	switch {
	case err == nil:
		return "ok", nil
	case errors.Is(err, supervisor.ErrChecksumMismatch):
		status := "MISMATCH"
		if got, err := supervisor.Checksum(p.plugin); err == nil {
			status += " (file has " + got + ")"
		}
		return status, &config.Problem{Path: p.at + ".sha256", Message: err.Error()}
	case errors.Is(err, fs.ErrNotExist):
		return "MISSING", &config.Problem{Path: p.at + ".plugin", Message: err.Error()}
	case errors.Is(err, supervisor.ErrUnprotected):
		return "UNPROTECTED", &config.Problem{Path: p.at + ".plugin", Message: err.Error()}
	default:
		return "UNUSABLE", &config.Problem{Path: p.at + ".plugin", Message: err.Error()}
	}
}

// pluginFileError checks every external plugin of cfg, and the files the
// plugins' sandboxes name, and returns their problems as one configuration
// error (exit status 2), or nil.
func (e *env) pluginFileError(cfg *config.Config) error {
	var ps []config.Problem
	for _, p := range externalPlugins(cfg) {
		if _, problem := p.check(); problem != nil {
			ps = append(ps, *problem)
		}
	}
	ps = append(ps, sandboxProblems(cfg)...)
	if len(ps) == 0 {
		return nil
	}
	return &config.Error{Source: e.configSource(), Problems: ps}
}

// sandboxProblems reports what would keep the host from confining a
// plugin as cfg says: a required sandbox on a system that cannot make one,
// and a path a sandbox lists that does not exist (made absolute against
// the working directory, as the host does).
func sandboxProblems(cfg *config.Config) []config.Problem {
	if cfg.Plugins.Sandbox == supervisor.SandboxOff {
		return nil
	}
	var ps []config.Problem
	if cfg.Plugins.Sandbox == supervisor.SandboxRequired && !supervisor.SandboxSupported() {
		ps = append(ps, config.Problem{Path: "plugins.sandbox", Message: "is required, but " + supervisor.ErrNoSandbox.Error()})
	}
	check := func(at string, s config.PluginSandbox) {
		for _, p := range s.Paths() {
			if _, err := os.Stat(p.Path); err != nil {
				ps = append(ps, config.Problem{Path: at + "." + p.At, Message: fmt.Sprintf("%v: the plugin would not start", err)})
			}
		}
	}
	for i, b := range cfg.Backends {
		check(fmt.Sprintf("backends[%d]", i), b.Sandbox)
	}
	for i, s := range cfg.Signals.Subscribers {
		if s.Plugin != "" {
			check(fmt.Sprintf("signals.subscribers[%d]", i), s.Sandbox)
		}
	}
	return ps
}

// configSource names the configuration the commands read, as config.Resolve
// finds it.
func (e *env) configSource() string {
	switch {
	case e.configPath != "":
		return e.configPath
	case fileExists(config.DefaultFile):
		return config.DefaultFile
	default:
		return "built-in defaults"
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
