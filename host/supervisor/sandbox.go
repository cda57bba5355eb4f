package supervisor

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
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
var ErrNoSandbox = errors.New("this system cannot confine plugins: it needs Linux 5.13 or later with Landlock among its security modules (lsm=)")

// confineError is a failure to confine a plugin, before its program ran.
type confineError struct{ err error }

func (e *confineError) Error() string { return e.err.Error() }
func (e *confineError) Unwrap() error { return e.err }

// The access a path is given.
type access int

const (
	readAccess  access = iota // read files, list directories, run programs
	writeAccess               // everything readAccess gives, and changes
	devAccess                 // read and write the file, not run it
)

// pathRule gives a path, and for a directory everything beneath it, an
// access. A rule whose path does not exist is dropped when optional, and
// fails the start otherwise.
type pathRule struct {
	path     string
	access   access
	optional bool
}

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

// rules returns what the plugin of cmd may reach: the system's paths, its
// own program, /dev/null, the directory of its socket (socketDir), the
// coverage directory a coverage build writes to, and the sandbox's own
// Read and Write, made absolute against the working directory.
func (s Sandbox) rules(cmd *exec.Cmd, socketDir string) ([]pathRule, error) {
	var rs []pathRule
	for _, p := range systemPaths {
		rs = append(rs, pathRule{path: p, access: readAccess, optional: true})
	}
	rs = append(rs,
		pathRule{path: cmd.Path, access: readAccess},
		pathRule{path: "/dev/null", access: devAccess},
		pathRule{path: socketDir, access: writeAccess},
	)
	if dir := envValue(cmd.Env, "GOCOVERDIR"); dir != "" {
		rs = append(rs, pathRule{path: dir, access: writeAccess, optional: true})
	}
	for _, list := range []struct {
		paths  []string
		access access
	}{{s.Read, readAccess}, {s.Write, writeAccess}} {
		for _, p := range list.paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, fmt.Errorf("sandbox path %s: %w", p, err)
			}
			rs = append(rs, pathRule{path: abs, access: list.access})
		}
	}
	return rs, nil
}

// envValue returns the last value of key in env, as exec.Cmd would pass it.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
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
