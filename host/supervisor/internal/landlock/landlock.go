// Package landlock confines a plugin's process to an allow-list of paths
// with Linux's Landlock, through a trampoline.
//
// Landlock confines the thread that asks and what it starts, and a thread
// of the host confined for a plugin would share the plugin's confinement:
// the plugin could signal it, trace it and take the host's open files
// through it. So the host never confines itself. It starts its own program
// again (the trampoline: /proc/self/exe, with the command line Arg0 and a
// Payload in the environment variable Env), and this package's init, which
// runs before almost every other package's, confines that process and
// replaces it with the plugin's program. The plugin keeps the trampoline's
// process, and so the parent-death signal the host set on it.
//
// The trampoline reports on the descriptor ReportFD, the write end of a
// pipe that closes when its exec succeeds: nothing means the plugin runs;
// otherwise one of the Report kinds and its text.
//
// The package depends on the standard library and x/sys alone, so that its
// init runs early: every package initialised before it is work the
// trampoline does for nothing.
package landlock

import "errors"

// Access is what a Rule gives a path.
type Access int

const (
	// Read is reading files, listing directories and running programs.
	Read Access = iota
	// Write is everything Read gives, and changing, creating and removing.
	Write
	// Device is reading and writing a file, not running it.
	Device
)

// Rule gives a path, and for a directory everything beneath it, an
// access. A rule whose path does not exist is dropped when Optional, and
// fails the confinement otherwise.
type Rule struct {
	Path     string `json:"path"`
	Access   Access `json:"access"`
	Optional bool   `json:"optional,omitempty"`
}

// Payload is what the trampoline is told, as JSON in Env.
type Payload struct {
	Rules []Rule   `json:"rules"`
	Path  string   `json:"path"` // the plugin's program
	Args  []string `json:"args"` // its command line, argv[0] first
}

// The trampoline's command line and environment variable, its descriptor
// for its report, and its exit status when it could not run the plugin
// (it also says why on standard error).
const (
	Arg0     = "portcullis-sandbox"
	Env      = "PORTCULLIS_SANDBOX_PAYLOAD"
	ReportFD = 3
	Failed   = 126
)

// The kinds of report: ReportExec and the decimal errno of the exec of
// the plugin's program; ReportConfine and why the trampoline could not
// confine itself; ReportFail and another reason.
const (
	ReportExec    = "exec "
	ReportConfine = "confine "
	ReportFail    = "fail "
)

// ErrUnsupported means the system cannot confine a process.
var ErrUnsupported = errors.New("this system cannot confine plugins: it needs Linux 5.13 or later with Landlock among its security modules (lsm=)")
