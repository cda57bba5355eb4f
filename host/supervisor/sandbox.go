package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/portcullis-auth/portcullis/host/supervisor/internal/landlock"
)

// The modes of a Sandbox.
const (
	// SandboxAuto confines the plugin where the system can (Linux with
	// Landlock), and runs it unconfined, with a warning, where it cannot.
	SandboxAuto = "auto"
	// SandboxRequired confines the plugin, and fails its start where the
	// system cannot.
	SandboxRequired = "required"
	// SandboxOff never confines the plugin.
	SandboxOff = "off"
)

// Sandbox says what of the file system a plugin's process may reach.
//
// A confined plugin may read, and run programs from, the system's
// directories (systemPaths): programs, libraries, and the files in /etc
// that name resolution, TLS and time zones read. It may read and write in
// the directory the supervisor makes for its socket, which is also its
// TMPDIR and is removed when the process stops. Everything else it may
// reach only if listed in Read or Write: the host's database, its keys, its
// configuration, its working directory, /proc (and so the host's open
// files), other plugins' sockets. The confinement is made by the kernel
// before the plugin's program starts, so the plugin cannot lift it, and
// every process the plugin starts inherits it.
type Sandbox struct {
	// Mode is SandboxAuto (the default, also for ""), SandboxRequired or
	// SandboxOff.
	Mode string
	// Read lists files and directories the plugin may read, and run
	// programs from, beneath; Write those it may also change, create files
	// in and remove files from.
	Read, Write []string
}

// ErrNoSandbox means the system cannot confine a plugin (Sandbox).
var ErrNoSandbox = landlock.ErrUnsupported

// landlockABI is the kernel's Landlock version, 0 for none (tests replace
// it).
var landlockABI = landlock.ABI

// SandboxSupported reports whether this system can confine a plugin
// (Sandbox).
func SandboxSupported() bool { return landlockABI() > 0 }

// confineError is a failure to confine a plugin, found before it started.
type confineError struct{ err error }

func (e *confineError) Error() string { return e.err.Error() }
func (e *confineError) Unwrap() error { return e.err }

// systemPaths are what every confined plugin may read: the system's
// programs and libraries, and the files in /etc that a program reads to
// resolve names, check TLS certificates, load libraries and tell the time.
// All of /etc is not among them: the host's own configuration may live
// there. Paths a system does not have are skipped.
var systemPaths = []string{
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/crypto-policies",
	"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf",
	"/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/mime.types",
	"/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/dev/zero", "/dev/random", "/dev/urandom",
}

// rules returns what a plugin, once it runs the program at target, may
// reach: the system's paths, that program, /dev/null, the
// directory of its socket (socketDir), and the sandbox's own Read and
// Write, made absolute against the working directory. (Not GOCOVERDIR,
// which the host passes on: a variable in the host's environment must not
// open a directory to every plugin; a coverage build lists it in Write.)
func (s Sandbox) rules(target, socketDir string) ([]landlock.Rule, error) {
	var rs []landlock.Rule
	for _, p := range systemPaths {
		rs = append(rs, landlock.Rule{Path: p, Access: landlock.Read, Optional: true})
	}
	rs = append(rs,
		landlock.Rule{Path: target, Access: landlock.Read},
		landlock.Rule{Path: "/dev/null", Access: landlock.Device},
		landlock.Rule{Path: socketDir, Access: landlock.Write},
	)
	for _, list := range []struct {
		paths  []string
		access landlock.Access
	}{{s.Read, landlock.Read}, {s.Write, landlock.Write}} {
		for _, p := range list.paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, fmt.Errorf("sandbox path %s: %w", p, err)
			}
			if _, err := os.Stat(abs); err != nil {
				return nil, fmt.Errorf("sandbox path %s: %w", abs, unwrapPathError(err))
			}
			rs = append(rs, landlock.Rule{Path: abs, Access: list.access})
		}
	}
	return rs, nil
}

// unwrapPathError returns the cause of a *fs.PathError, whose own text
// would repeat the path.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// confine turns cmd, which would run the plugin, into the trampoline
// (package landlock) that runs it confined to the sandbox, and returns the
// read end of the trampoline's report; cmd.ExtraFiles[0] is the write end,
// for the caller to close once the trampoline started. execFile, if not
// nil, is the sealed copy cmd would execute through /proc/self/fd: it is
// passed on to the trampoline, which executes it in turn.
func (s Sandbox) confine(cmd *exec.Cmd, socketDir string, execFile *os.File) (*os.File, error) {
	report, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	target := cmd.Path
	files := []*os.File{w}
	if execFile != nil && strings.HasPrefix(target, "/proc/self/fd/") {
		files = append(files, execFile)
		target = fmt.Sprintf("/proc/self/fd/%d", landlock.ReportFD+1)
	}
	rules, err := s.rules(target, socketDir)
	if err == nil {
		var payload []byte
		payload, err = json.Marshal(landlock.Payload{Rules: rules, Path: target, Args: cmd.Args})
		cmd.Env = append(cmd.Env, landlock.Env+"="+string(payload))
	}
	if err != nil {
		report.Close()
		w.Close()
		return nil, err
	}
	cmd.Path, cmd.Args = "/proc/self/exe", []string{landlock.Arg0}
	cmd.ExtraFiles = append(files, cmd.ExtraFiles...)
	return report, nil
}

// readTrampolineReport reads the trampoline's report to its end: nil if
// there was none (the plugin runs), else the error it reports.
func readTrampolineReport(r io.Reader) error {
	msg, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return fmt.Errorf("reading the sandbox's report: %w", err)
	}
	text := string(msg)
	switch {
	case text == "":
		return nil
	case strings.HasPrefix(text, landlock.ReportExec):
		n, err := strconv.Atoi(strings.TrimPrefix(text, landlock.ReportExec))
		if err != nil {
			return fmt.Errorf("the sandbox reports %q", text)
		}
		return syscall.Errno(n)
	case strings.HasPrefix(text, landlock.ReportConfine):
		return &confineError{errors.New(strings.TrimPrefix(text, landlock.ReportConfine))}
	default:
		return errors.New(strings.TrimPrefix(text, landlock.ReportFail))
	}
}

// withTempDir returns env with TMPDIR set to dir, in place of the host's.
func withTempDir(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TMPDIR=") {
			out = append(out, kv)
		}
	}
	return append(out, "TMPDIR="+dir)
}
