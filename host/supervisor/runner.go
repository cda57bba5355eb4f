package supervisor

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// processRunner runs one plugin process for go-plugin (its
// ClientConfig.RunnerFunc). The supervisor provides its own runner rather
// than go-plugin's default so that go-plugin puts the sockets of the
// plugin, and of the host's side of the broker, in a directory of the
// supervisor's choosing (see runDir); so that the process is forked from
// the spawner's thread; and so that a start that fails can say why (see
// startError): it keeps the last of the plugin's output, in bounded
// buffers, and how the process ended.
type processRunner struct {
	cmd    *exec.Cmd
	name   string // the program cmd runs, as go-plugin names it
	spawn  *spawner
	plugin string    // the plugin as configured, for messages
	exe    *execCopy // the copy of the program executed, if any
	// sandbox, when set, confines the process (see Sandbox).
	sandbox *Sandbox
	stdout  io.ReadCloser
	stderr  io.ReadCloser
	pid     int
	// socketDir is the directory go-plugin made for this start's sockets.
	// go-plugin removes it when it kills a process it started, but not
	// when the process could not be started at all.
	socketDir string

	outTail, errTail *tail

	mu        sync.Mutex
	startErr  error            // from exec
	handshook bool             // the plugin completed its handshake
	killed    bool             // Kill sent SIGKILL
	state     *os.ProcessState // set once the process has been waited for
	exited    chan struct{}    // closed once the process has been waited for
}

// startExitGrace is how long Kill lets a plugin that has not completed its
// handshake exit on its own. go-plugin kills a plugin as soon as it reads a
// first line on standard output that is not a handshake; a program that
// writes something and exits (a usage message, an error) then gets its own
// exit status reported rather than the kill.
const startExitGrace = time.Second

// newProcessRunner returns the runner for cmd, which runs plugin (its name
// or path as configured); exe, if not nil, is the copy of the program cmd
// executes; sandbox, if not nil, confines the process.
func newProcessRunner(cmd *exec.Cmd, spawn *spawner, plugin string, exe *execCopy, sandbox *Sandbox) *processRunner {
	return &processRunner{
		cmd: cmd, name: cmd.Path, spawn: spawn, plugin: plugin, exe: exe, sandbox: sandbox,
		outTail: newTail(stdoutTailBytes), errTail: newTail(stderrTailBytes),
		exited: make(chan struct{}),
	}
}

// attach is the ClientConfig.RunnerFunc. go-plugin passes a blank command
// that carries what it set up for the plugin: its environment (handshake
// cookie, protocol versions, the host's certificate, the socket directory)
// and its standard input. The plugin's command gets them on top of the
// environment the supervisor chose. A confined plugin's TMPDIR is its
// socket directory, the one directory it may write in.
func (r *processRunner) attach(_ hclog.Logger, blank *exec.Cmd, socketDir string) (runner.Runner, error) {
	r.socketDir = socketDir
	r.cmd.Env = append(r.cmd.Env, blank.Env...)
	if r.sandbox != nil {
		r.cmd.Env = withTempDir(r.cmd.Env, socketDir)
	}
	r.cmd.Stdin = blank.Stdin
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r.stdout = teeReader{stdout, r.outTail}
	r.stderr = teeReader{stderr, r.errTail}
	return r, nil
}

// removeSocketDir removes this start's socket directory, once go-plugin's
// Client has been killed.
func (r *processRunner) removeSocketDir() {
	if r.socketDir != "" {
		_ = os.RemoveAll(r.socketDir)
	}
}

// Start forks the plugin from the spawner's thread; a confined plugin
// through the trampoline (Sandbox.confine).
func (r *processRunner) Start(ctx context.Context) error {
	var err error
	if r.sandbox != nil {
		err = r.startConfined(ctx)
	} else {
		err = r.spawn.run(r.cmd.Start)
	}
	if err != nil {
		r.mu.Lock()
		r.startErr = err
		r.mu.Unlock()
		return err
	}
	r.pid = r.cmd.Process.Pid
	return nil
}

// startConfined starts the plugin through the trampoline (Sandbox.confine)
// and waits for the trampoline's report: the trampoline replaced itself
// with the plugin, or why it could not (an error from executing the
// plugin's program is a syscall.Errno, as from an unconfined start).
func (r *processRunner) startConfined(ctx context.Context) error {
	report, err := r.sandbox.confine(r.cmd, r.socketDir, r.exe.osFile())
	if err != nil {
		return &confineError{err}
	}
	defer report.Close()
	err = r.spawn.run(r.cmd.Start)
	r.cmd.ExtraFiles[0].Close() // the trampoline's end of the report
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = report.SetReadDeadline(d)
	}
	if err := readTrampolineReport(report); err != nil {
		// Stop the process, which may be the trampoline still or, if the
		// report came too late, the plugin, and reap it: go-plugin does
		// not wait for a process whose start failed.
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.mu.Lock()
		r.state = r.cmd.ProcessState
		r.mu.Unlock()
		close(r.exited)
		return err
	}
	return nil
}

// Wait waits for the process to exit. go-plugin calls it once, after it has
// read standard output and standard error to their end.
func (r *processRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.mu.Lock()
	r.state = r.cmd.ProcessState
	r.mu.Unlock()
	close(r.exited)
	return err
}

// handshakeDone records that the plugin completed its handshake.
func (r *processRunner) handshakeDone() {
	r.mu.Lock()
	r.handshook = true
	r.mu.Unlock()
}

// Kill kills the process; killing one that has exited is not an error. A
// plugin that has not completed its handshake gets startExitGrace to exit
// on its own first.
func (r *processRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	r.mu.Lock()
	handshook := r.handshook
	r.mu.Unlock()
	if !handshook {
		select {
		case <-r.exited:
			return nil
		case <-time.After(startExitGrace):
		}
	}
	r.mu.Lock()
	r.killed = true
	r.mu.Unlock()
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// exitStatus describes how the process ended ("exit status 3", "signal:
// segmentation fault"), or "" if it has not been waited for.
func (r *processRunner) exitStatus() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == nil {
		return ""
	}
	return r.state.String()
}

func (r *processRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *processRunner) Stderr() io.ReadCloser { return r.stderr }

// Name is the path executed, which go-plugin puts in its log lines (and
// hclogAdapter takes out again).
func (r *processRunner) Name() string { return r.name }

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
