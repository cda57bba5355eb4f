package supervisor

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// processRunner runs one plugin process for go-plugin (its
// ClientConfig.RunnerFunc). The supervisor provides its own runner rather
// than go-plugin's default so that go-plugin puts the sockets of the
// plugin, and of the host's side of the broker, in a directory of the
// supervisor's choosing (see runDir), and so that the process is forked
// from the spawner's thread.
type processRunner struct {
	cmd    *exec.Cmd
	spawn  *spawner
	stdout io.ReadCloser
	stderr io.ReadCloser
	pid    int
	// socketDir is the directory go-plugin made for this start's sockets.
	// go-plugin removes it when it kills a process it started, but not
	// when the process could not be started at all.
	socketDir string
}

func newProcessRunner(cmd *exec.Cmd, spawn *spawner) *processRunner {
	return &processRunner{cmd: cmd, spawn: spawn}
}

// attach is the ClientConfig.RunnerFunc. go-plugin passes a blank command
// that carries what it set up for the plugin: its environment (handshake
// cookie, protocol versions, the host's certificate, the socket directory)
// and its standard input. The plugin's command gets them on top of the
// environment the supervisor chose.
func (r *processRunner) attach(_ hclog.Logger, blank *exec.Cmd, socketDir string) (runner.Runner, error) {
	r.socketDir = socketDir
	r.cmd.Env = append(r.cmd.Env, blank.Env...)
	r.cmd.Stdin = blank.Stdin
	var err error
	if r.stdout, err = r.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if r.stderr, err = r.cmd.StderrPipe(); err != nil {
		return nil, err
	}
	return r, nil
}

// removeSocketDir removes this start's socket directory, once go-plugin's
// Client has been killed.
func (r *processRunner) removeSocketDir() {
	if r.socketDir != "" {
		_ = os.RemoveAll(r.socketDir)
	}
}

// Start forks the plugin from the spawner's thread.
func (r *processRunner) Start(context.Context) error {
	if err := r.spawn.run(r.cmd.Start); err != nil {
		return err
	}
	r.pid = r.cmd.Process.Pid
	return nil
}

// Wait waits for the process to exit. go-plugin calls it once, after it has
// read standard output and standard error to their end.
func (r *processRunner) Wait(context.Context) error { return r.cmd.Wait() }

// Kill kills the process; killing one that has exited is not an error.
func (r *processRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *processRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *processRunner) Stderr() io.ReadCloser { return r.stderr }

// Name is the path executed, which go-plugin puts in its log lines (and
// hclogAdapter takes out again).
func (r *processRunner) Name() string { return r.cmd.Path }

// ID is the pid, or "" before the process started.
func (r *processRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

// Diagnose adds nothing: the supervisor explains a failed start itself.
func (r *processRunner) Diagnose(context.Context) string { return "" }

// The plugin runs on this machine: addresses are the same on both sides.
func (r *processRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *processRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// Interface guard.
var _ runner.Runner = (*processRunner)(nil)
