//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sealedCopy copies src into a memory file sealed against any change
// (F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, and F_SEAL_SEAL so that no seal
// can be removed), executed through /proc/self/fd/N. It returns an error
// wrapping errNoSealedCopy when the kernel does not allow one (too old, or
// executable memory files forbidden by vm.memfd_noexec).
func sealedCopy(src *os.File, name string) (*execCopy, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 6.3 know no MFD_EXEC; their memory files are
		// executable.
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: memfd_create: %v", errNoSealedCopy, err)
	}
	if fd < 3 {
		// A host started with standard descriptors closed: the child's
		// own standard streams would take this number before its exec.
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("copying the plugin: %w", err)
		}
		fd = high
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copying the plugin: %w", err)
	}
	seals := unix.F_SEAL_WRITE | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: sealing: %v", errNoSealedCopy, err)
	}
	return &execCopy{file: f, path: fmt.Sprintf("/proc/self/fd/%d", f.Fd())}, nil
}
