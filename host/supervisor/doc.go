// Package supervisor starts, watches, restarts and stops the host's plugin
// processes.
//
// Each configured backend is one plugin process, started with go-plugin
// over gRPC with AutoMTLS. A first-party plugin is the portcullis binary
// itself run with a hidden sub-command. An external plugin is refused if a
// user other than the host's and root could change it; before every start
// it is copied where nobody can change it (a sealed memory file on Linux, a
// private file elsewhere), the copy is verified against its SHA-256, and
// the copy is executed, so the file cannot be swapped between check and
// exec.
//
// A start that fails says why: a plugin that exits before its handshake
// (ErrExitedBeforeHandshake) is reported with its exit status and the last
// lines of its standard error and standard output, bounded in size; a
// program the system cannot execute, with the system's reason and what it
// means (another architecture, a dynamic loader missing).
//
// A plugin that exits is restarted with exponential back-off. While it is
// down its Instance answers every call with an error that wraps
// sdk.ErrUnavailable, which the host turns into 503: a login that needs it
// fails closed. Plugins are asked by the kernel to die with the host (Linux
// parent-death signal, from a thread that lives as long as the process), and
// the SDK also exits when its parent changes, so a host killed with SIGKILL
// leaves no plugin behind. Stop asks each plugin to stop with SIGTERM, waits
// for a grace period, then kills it.
//
// The plugins' Unix sockets, and the host's ends of their connections, are
// in a directory private to the Supervisor (0700, in the system temporary
// directory), which Stop removes. The Supervisor holds a lock on it while it
// runs; Start removes the directories of this user that nobody holds a
// lock on, left by hosts killed with SIGKILL.
package supervisor
