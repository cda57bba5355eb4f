//go:build linux && !amd64 && !arm64

package landlock

// On other architectures the system calls are not listed, and
// forbidMetadataChanges does nothing.
const (
	auditArch         = 0
	foreignSyscallBit = 0
)

var metadataSyscalls []int
