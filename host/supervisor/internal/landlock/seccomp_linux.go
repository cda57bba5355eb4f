package landlock

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forbidMetadataChanges has the kernel refuse (EPERM), to this thread and
// what it runs, the system calls that change a file's mode, owner, times
// or extended attributes. Landlock does not restrict them: without this, a
// plugin could make the host's database or key file readable by every
// user, or stop the host, which refuses a key file others can read. It
// needs no_new_privs, which confineThread sets. On an architecture whose
// system calls metadataSyscalls does not list, it does nothing.
func forbidMetadataChanges() error {
	if len(metadataSyscalls) == 0 {
		return nil
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	// The offsets of seccomp_data's fields.
	const nrOffset, archOffset = 0, 4
	// Every jump that refuses goes to the last instruction.
	var prog []unix.SockFilter
	refuse := func(code uint16, k uint32) { prog = append(prog, unix.SockFilter{Code: code, K: k}) }
	prog = append(prog, unix.SockFilter{Code: ld, K: archOffset})
	// Another architecture's system calls (32-bit ones on a 64-bit
	// kernel) have other numbers: refuse them all; no plugin needs them.
	prog = append(prog, unix.SockFilter{Code: jeq, K: auditArch, Jt: 1})
	refuse(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))
	prog = append(prog, unix.SockFilter{Code: ld, K: nrOffset})
	if foreignSyscallBit != 0 {
		refuse(jge, foreignSyscallBit)
	}
	for _, nr := range metadataSyscalls {
		refuse(jeq, uint32(nr))
	}
	prog = append(prog,
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	)
	last := len(prog) - 1
	for i := range prog {
		if prog[i].Code == jeq && prog[i].K != auditArch || prog[i].Code == jge {
			prog[i].Jt = uint8(last - i - 1)
		}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("forbidding changes to files' metadata: %w", err)
	}
	return nil
}

// dropCapabilities leaves this thread, and what it runs, no capability: a
// host run as root would otherwise pass on to its plugins powers that
// Landlock does not bound (reading any file by handle, changing owners,
// loading kernel modules). It runs before confineThread, whose
// no_new_privs then keeps a program from gaining any back.
func dropCapabilities() error {
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL && err != unix.EPERM {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("dropping ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	return nil
}
