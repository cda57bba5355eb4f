package supervisor

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// ErrExitedBeforeHandshake means a plugin process ended before it completed
// go-plugin's handshake: it never reached sdk.Serve (a panic or an exit in
// main or in an init function, a shared library the dynamic loader could
// not find), or it is not a Portcullis plugin.
var ErrExitedBeforeHandshake = errors.New("plugin exited before its handshake")

// startError explains why go-plugin could not start the plugin, err being
// what go-plugin returned. It must be called after the go-plugin Client was
// killed, which waits for the process.
//
// A process that could not be executed gets the system's reason, with what
// it means for a plugin (built for another architecture, a dynamic loader
// missing). A process that ended on its own gets ErrExitedBeforeHandshake
// with its exit status. Every other failure (a timeout, a line that is not a
// handshake) keeps go-plugin's error. The last lines the process wrote to
// standard error and standard output, bounded in size, follow.
func (r *processRunner) startError(err error) error {
	r.mu.Lock()
	startErr, state, killed := r.startErr, r.state, r.killed
	r.mu.Unlock()
	if startErr != nil {
		return r.execError(startErr)
	}
	output := lastOutput(r.errTail, r.outTail)
	if state != nil && !(killed && killedBySIGKILL(state)) {
		return fmt.Errorf("%w (%s)%s", ErrExitedBeforeHandshake, state, output)
	}
	return fmt.Errorf("starting process: %w; the host stopped it%s", err, output)
}

func killedBySIGKILL(state *os.ProcessState) bool {
	ws, ok := state.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// execError explains an error from executing the plugin's program.
func (r *processRunner) execError(err error) error {
	var confine *confineError
	if errors.As(err, &confine) {
		return fmt.Errorf("cannot confine plugin %s: %w", r.plugin, confine.err)
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("cannot execute plugin %s: %w", r.plugin, err)
	}
	var why string
	switch errno {
	case syscall.ENOEXEC:
		why = notRunnable(r.exe.image())
	case syscall.ENOENT:
		if interp := interpreter(r.exe.image()); interp != "" {
			why = "its program interpreter (dynamic loader) " + interp + " does not exist on this system: it was built for another system, or needs a C library this one does not have"
		}
	case syscall.EACCES:
		why = "the file system that holds the program the host executes may be mounted noexec"
		if r.sandbox != nil {
			why += ", or the program needs a file (such as its dynamic loader) outside the plugin's sandbox"
		}
	}
	if why != "" {
		return fmt.Errorf("cannot execute plugin %s: %w: %s", r.plugin, errno, why)
	}
	return fmt.Errorf("cannot execute plugin %s: %w", r.plugin, errno)
}

// notRunnable says what the program is, when the kernel refused to
// execute it.
func notRunnable(image io.ReaderAt) string {
	if image == nil {
		return "not a program this system can run"
	}
	f, err := elf.NewFile(image)
	if err != nil {
		return "not a program this system can run (not an ELF executable)"
	}
	return fmt.Sprintf("not a program this system can run (an ELF program for %s; this host is %s/%s)", elfArch(f), runtime.GOOS, runtime.GOARCH)
}

// elfArch names an ELF file's architecture as Go does when it can.
func elfArch(f *elf.File) string {
	names := map[elf.Machine]string{
		elf.EM_386: "386", elf.EM_X86_64: "amd64", elf.EM_ARM: "arm", elf.EM_AARCH64: "arm64",
		elf.EM_RISCV: "riscv", elf.EM_PPC64: "ppc64", elf.EM_S390: "s390x", elf.EM_LOONGARCH: "loong64",
		elf.EM_MIPS: "mips",
	}
	name, ok := names[f.Machine]
	if !ok {
		name = f.Machine.String()
	}
	if f.Machine == elf.EM_RISCV && f.Class == elf.ELFCLASS64 {
		name = "riscv64"
	}
	return name
}

// interpreter returns the program interpreter an ELF executable asks for,
// or "".
func interpreter(image io.ReaderAt) string {
	if image == nil {
		return ""
	}
	f, err := elf.NewFile(image)
	if err != nil {
		return ""
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
		if err != nil {
			return ""
		}
		return printable(strings.TrimRight(string(b), "\x00"))
	}
	return ""
}
