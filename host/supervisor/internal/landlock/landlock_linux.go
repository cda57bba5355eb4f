//go:build linux

package landlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ABI returns the version of the kernel's Landlock interface, or 0 where
// the kernel has none (older than 5.13, or Landlock not enabled).
var ABI = sync.OnceValue(func() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
})

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
func (a Access) rights(handled uint64) uint64 {
	switch a {
	case Read:
		return handled & (unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR)
	case Device:
		return handled & (unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE)
	default:
		return handled
	}
}

// The trampoline runs here, in every program that links this package (the
// host, and the test programs that start plugins).
func init() {
	if len(os.Args) == 1 && os.Args[0] == Arg0 {
		if payload, ok := os.LookupEnv(Env); ok {
			trampoline(payload) // returns only if it could not run the plugin
			os.Exit(Failed)
		}
	}
}

// trampoline confines this process as payload (a Payload) says, and
// replaces it with the plugin's program. It reports why it could not on
// its report pipe.
func trampoline(payload string) {
	report := os.NewFile(ReportFD, "report")
	say := func(kind, msg string) {
		_, _ = report.WriteString(kind + msg)
		fmt.Fprintf(os.Stderr, "portcullis sandbox: %s%s\n", kind, msg)
	}
	var p Payload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		say(ReportFail, "reading what to run: "+err.Error())
		return
	}
	if err := os.Unsetenv(Env); err != nil {
		say(ReportFail, err.Error())
		return
	}
	// Landlock confines the thread that asks, and exec keeps only the
	// thread that calls it: both on this one.
	runtime.LockOSThread()
	abi := ABI()
	if abi == 0 {
		say(ReportConfine, ErrUnsupported.Error())
		return
	}
	if err := dropCapabilities(); err != nil {
		say(ReportConfine, err.Error())
		return
	}
	if err := confineThread(abi, p.Rules); err != nil {
		say(ReportConfine, err.Error())
		return
	}
	if err := forbidMetadataChanges(); err != nil {
		say(ReportConfine, err.Error())
		return
	}
	// Descriptors the host inherited without close-on-exec, from whatever
	// started it, are not the plugin's to have; the report closes on exec.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		say(ReportFail, "closing inherited descriptors: "+err.Error())
		return
	}
	err := syscall.Exec(p.Path, p.Args, os.Environ())
	var errno syscall.Errno
	if errors.As(err, &errno) {
		_, _ = report.WriteString(ReportExec + strconv.Itoa(int(errno)))
		return
	}
	say(ReportFail, err.Error())
}

// confineThread confines the calling thread, and whatever it starts, to
// rules.
func confineThread(abi int, rules []Rule) error {
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
		if err := addRule(int(fd), r, r.Access.rights(handled)); err != nil {
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
func addRule(rulesetFD int, r Rule, rights uint64) error {
	fd, err := unix.Open(r.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if r.Optional && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) {
			return nil
		}
		return fmt.Errorf("sandbox path %s: %w", r.Path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("sandbox path %s: %w", r.Path, err)
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
		return fmt.Errorf("sandbox path %s: %w", r.Path, errno)
	}
}
