package landlock

import "golang.org/x/sys/unix"

// auditArch is this architecture's, as seccomp sees it; foreignSyscallBit
// marks the x32 system calls, which share it.
const (
	auditArch         = unix.AUDIT_ARCH_X86_64
	foreignSyscallBit = 0x40000000
)

// metadataSyscalls change a file's mode, owner, times or extended
// attributes (forbidMetadataChanges).
var metadataSyscalls = []int{
	unix.SYS_CHMOD, unix.SYS_FCHMOD, unix.SYS_FCHMODAT, unix.SYS_FCHMODAT2,
	unix.SYS_CHOWN, unix.SYS_FCHOWN, unix.SYS_LCHOWN, unix.SYS_FCHOWNAT,
	unix.SYS_SETXATTR, unix.SYS_LSETXATTR, unix.SYS_FSETXATTR, unix.SYS_SETXATTRAT,
	unix.SYS_REMOVEXATTR, unix.SYS_LREMOVEXATTR, unix.SYS_FREMOVEXATTR, unix.SYS_REMOVEXATTRAT,
	unix.SYS_UTIME, unix.SYS_UTIMES, unix.SYS_UTIMENSAT, unix.SYS_FUTIMESAT,
}
