//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// landlockABI returns the version of the kernel's Landlock interface, or 0
// where the kernel has none (older than 5.13, or Landlock not enabled).
var landlockABI = sync.OnceValue(func() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
})

// SandboxSupported reports whether this system can confine a plugin
// (Sandbox).
func SandboxSupported() bool { return landlockABI() > 0 }

// The file access rights a confined plugin is denied except where a rule
// allows them, by the Landlock version that introduced them. Rights of
// versions after the newest one listed here are not handled: the kernel
// allows them everywhere.
var handledByABI = []struct {
	abi    int
	rights uint64
}{
	{1, unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM},
	{2, unix.LANDLOCK_ACCESS_FS_REFER},
	{3, unix.LANDLOCK_ACCESS_FS_TRUNCATE},
	{5, unix.LANDLOCK_ACCESS_FS_IOCTL_DEV},
	{9, unix.LANDLOCK_ACCESS_FS_RESOLVE_UNIX},
}

// handledRights returns the rights a kernel with Landlock version abi lets
// a ruleset restrict, of those this package knows.
func handledRights(abi int) uint64 {
	var r uint64
	for _, v := range handledByABI {
		if v.abi <= abi {
			r |= v.rights
		}
	}
	return r
}

// fileRights are the rights that apply to a file rather than a directory;
// a rule on a file may give only these.
const fileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
	unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

// rights returns the Landlock rights of an access, within handled.
func (a access) rights(handled uint64) uint64 {
	switch a {
	case readAccess:
		return handled & (unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR)
	case devAccess:
		return handled & (unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE)
	default:
		return handled
	}
}

// spawnConfined starts cmd from a new OS thread that it first confines to
// rules, and keeps that thread until exited is closed.
//
// Landlock confines a thread and what it starts; a confinement cannot be
// lifted. So the host's own threads stay free: the thread is made for this
// one process and is never given back to the Go runtime (its goroutine
// ends locked to it, and the runtime then ends the thread). It lives as
// long as the process because the kernel sends a child its parent-death
// signal when the thread that forked it ends.
func spawnConfined(cmd *exec.Cmd, rules []pathRule, exited <-chan struct{}) error {
	abi := landlockABI()
	if abi == 0 {
		return &confineError{ErrNoSandbox}
	}
	started := make(chan error, 1)
	go startConfined(abi, cmd, rules, exited, started)
	return <-started
}

// startConfined is spawnConfined's goroutine: it confines its thread,
// starts cmd and sends the outcome on started, then holds the thread until
// exited is closed.
func startConfined(abi int, cmd *exec.Cmd, rules []pathRule, exited <-chan struct{}, started chan<- error) {
	runtime.LockOSThread() // never unlocked once confined: see spawnConfined
	if unix.Gettid() == unix.Getpid() {
		// The process's main thread, which the kernel checks, for the
		// whole process, when another process signals or traces it: a
		// plugin confined from it would share its confinement, and so
		// could signal and trace the host. Start again on a goroutine that
		// cannot land here, since this one holds the thread until that one
		// has a thread of its own.
		own := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(own)
			startConfined(abi, cmd, rules, exited, started)
		}()
		<-own
		runtime.UnlockOSThread()
		return
	}
	if err := confineThread(abi, rules); err != nil {
		started <- &confineError{err}
		return
	}
	if err := cmd.Start(); err != nil {
		started <- err
		return
	}
	started <- nil
	<-exited
}

// confineThread confines the calling thread, and whatever it starts, to
// rules.
func confineThread(abi int, rules []pathRule) error {
	handled := handledRights(abi)
	attr := unix.LandlockRulesetAttr{Handled_access_fs: handled}
	// The size of the fields up to Scoped, which every Landlock version
	// reads; later fields are left out for kernels that do not know them.
	size := unsafe.Offsetof(attr.Scoped)
	if abi >= 6 {
		attr.Scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
		size += unsafe.Sizeof(attr.Scoped)
	}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return fmt.Errorf("creating the sandbox: %w", errno)
	}
	defer unix.Close(int(fd))
	for _, r := range rules {
		if err := addRule(int(fd), r, r.access.rights(handled)); err != nil {
			return err
		}
	}
	// Required of a thread that confines itself without privileges: no
	// program it runs gains privileges (set-user-ID bits are ignored).
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("confining the plugin: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return fmt.Errorf("confining the plugin: %w", errno)
	}
	return nil
}

// addRule adds r to the ruleset rulesetFD.
func addRule(rulesetFD int, r pathRule, rights uint64) error {
	fd, err := unix.Open(r.path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if r.optional && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) {
			return nil
		}
		return fmt.Errorf("sandbox path %s: %w", r.path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("sandbox path %s: %w", r.path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		rights &= fileRights
	}
	attr := unix.LandlockPathBeneathAttr{Allowed_access: rights, Parent_fd: int32(fd)}
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(rulesetFD), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&attr)), 0, 0, 0)
	switch errno {
	case 0:
		return nil
	case unix.EBADFD:
		// A file on none of the mounted file systems, such as the sealed
		// memory copy an external plugin is executed from: Landlock does
		// not restrict such files, so there is nothing to allow.
		return nil
	default:
		return fmt.Errorf("sandbox path %s: %w", r.path, errno)
	}
}
