package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// runDirPrefix starts the name of every supervisor's private directory in
// the system temporary directory. Only directories with this prefix are
// ever considered stale, so the name must stay unlike anything else.
const runDirPrefix = "portcullis-plugins-"

// maxSocketPath is the longest Unix socket path the system accepts: the
// size of sun_path (108 bytes on Linux, 104 on the BSDs and macOS) less its
// terminating NUL.
var maxSocketPath = map[bool]int{true: 107, false: 103}[runtime.GOOS == "linux"]

// socketPathTail is how long go-plugin's part of a socket path can get
// inside a run directory: "/plugin-dir" and "/plugin", each with up to 10
// random digits.
const socketPathTail = len("/plugin-dir0123456789/plugin0123456789")

// runDir is a supervisor's private directory: 0700, created fresh in the
// system temporary directory, holding the Unix sockets of its plugins (each
// plugin start gets a sub-directory from go-plugin, removed when the plugin
// is killed) and, where needed, private copies of external plugins.
//
// The supervisor holds an exclusive flock on the directory for as long as it
// runs. The kernel releases it when the process dies, however it dies, so a
// directory nobody holds a lock on belongs to a host that is gone: the next
// supervisor to start removes it (removeStaleRunDirs). Two hosts on one
// machine each have their own directory and never remove each other's.
type runDir struct {
	path string
	lock *os.File // the directory itself, flocked
}

// runDirBase returns the directory that holds run directories: the system
// temporary directory (TMPDIR), or /tmp when TMPDIR's path is too long for
// socket paths inside it (as it can be on macOS).
func runDirBase() (string, error) {
	longest := maxSocketPath - socketPathTail - len("/"+runDirPrefix+"0123456789")
	for _, base := range []string{os.TempDir(), "/tmp"} {
		if len(base) <= longest {
			return base, nil
		}
	}
	return "", fmt.Errorf("the temporary directory %s has too long a path for the plugins' Unix sockets: set TMPDIR to a directory whose path has at most %d bytes", os.TempDir(), longest)
}

// openRunDir creates and locks a new run directory in base.
func openRunDir(base string) (*runDir, error) {
	for attempt := 0; ; attempt++ {
		path, err := os.MkdirTemp(base, runDirPrefix)
		if err != nil {
			return nil, fmt.Errorf("creating the plugins' socket directory in %s: %w", base, err)
		}
		d, err := lockRunDir(path)
		if err == nil {
			return d, nil
		}
		// Another host's sweep removed the directory between its creation
		// and the lock (it looked like one left by a dead host): make
		// another. Anything else is a real error.
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			os.Remove(path)
			return nil, fmt.Errorf("locking the plugins' socket directory %s: %w", path, err)
		}
	}
}

// lockRunDir takes the lock on the new directory at path, and checks that
// the path still names the directory locked: a sweep that saw it unlocked
// may have removed it in between.
func lockRunDir(path string) (*runDir, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	locked, err1 := f.Stat()
	now, err2 := os.Lstat(path)
	if err := errors.Join(err1, err2); err != nil {
		f.Close()
		return nil, err
	}
	if !os.SameFile(locked, now) {
		f.Close()
		return nil, fs.ErrNotExist
	}
	return &runDir{path: path, lock: f}, nil
}

// Close removes the directory and everything left in it, then releases the
// lock. It is safe to call more than once.
func (d *runDir) Close() error {
	if d == nil || d.lock == nil {
		return nil
	}
	err := os.RemoveAll(d.path)
	d.lock.Close()
	d.lock = nil
	return err
}

// removeStaleRunDirs removes the run directories in base that belong to
// hosts that are gone: directories named with runDirPrefix, owned by this
// process's user, on which no process holds the lock. It never follows a
// symbolic link and never touches another user's entry. Failures are
// logged, not returned: a stale directory only wastes space.
func removeStaleRunDirs(base string, log *slog.Logger) {
	entries, err := os.ReadDir(base)
	if err != nil {
		log.Warn("cannot look for stale plugin socket directories", "dir", base, "error", err)
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), runDirPrefix) || e.Type() != fs.ModeDir {
			continue
		}
		path := filepath.Join(base, e.Name())
		removed, err := removeIfStale(path)
		switch {
		case err != nil:
			log.Warn("cannot remove a stale plugin socket directory", "dir", path, "error", err)
		case removed:
			log.Info("removed the plugin socket directory of a host that is gone", "dir", path)
		}
	}
}

// removeIfStale removes the run directory at path if it is this user's and
// unlocked.
func removeIfStale(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() || !ownedByMe(fi) {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, nil // gone meanwhile, or not ours to read
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // its host runs
		}
		return false, err
	}
	// The lock is on what was opened: make sure it is still what the path
	// names before removing the path.
	if locked, err := f.Stat(); err != nil || !os.SameFile(locked, fi) {
		return false, nil
	}
	return true, os.RemoveAll(path)
}

// ownedByMe reports whether fi belongs to this process's user.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}

// flock applies how to f, retrying when a signal interrupts the wait.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
