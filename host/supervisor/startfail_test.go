package supervisor

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// TestStartFailuresSayWhy starts backends that can never start and checks
// that the error says why and wraps its cause, so that callers can tell
// the failures apart with errors.Is and errors.As.
func TestStartFailuresSayWhy(t *testing.T) {
	path, _ := helperExternal(t, modeLog)
	shared, sharedSum := helperExternal(t, modeLog)
	if err := os.Chmod(shared, 0o775); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		spec  Spec
		cause func(error) bool
		want  string
	}{
		{
			name: "rejected configuration",
			spec: Spec{Plugin: "helper", Config: json.RawMessage(`{"bogus": 1}`)},
			cause: func(err error) bool {
				var cfgErr *sdk.ConfigError
				return errors.As(err, &cfgErr)
			},
			want: "configuring: ",
		},
		{
			name:  "missing capability",
			spec:  Spec{Plugin: "helper", Requires: []hostside.Capability{hostside.SignalReceiver}},
			cause: func(error) bool { return true },
			want:  "does not implement the signal_receiver capability",
		},
		{
			name:  "checksum mismatch",
			spec:  Spec{Plugin: path, External: true, SHA256: strings.Repeat("0", 64)},
			cause: func(err error) bool { return errors.Is(err, ErrChecksumMismatch) },
			want:  "checksum does not match",
		},
		{
			name:  "plugin writable by its group",
			spec:  Spec{Plugin: shared, External: true, SHA256: sharedSum},
			cause: func(err error) bool { return errors.Is(err, ErrUnprotected) },
			want:  "is writable by its group (-rwxrwxr-x): a member of its group could replace the plugin after the host checked it; run: chmod g-w " + shared,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sup := New(testOptions(slog.New(slog.DiscardHandler), modeLog))
			defer sup.Stop()
			spec := tc.spec
			spec.Name, spec.Host = "b", newTestHost()
			if spec.Config == nil {
				spec.Config = emptyConfig
			}
			err := sup.Start(context.Background(), []Spec{spec})
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if !tc.cause(err) {
				t.Errorf("error %q does not wrap its cause", err)
			}
		})
	}
}

// TestPluginsThatDieBeforeTheHandshake starts real programs that end, or
// cannot run, before they complete go-plugin's handshake, and checks that
// the error says what happened (the exit status, or why the system would
// not run the program) and shows the last lines of the plugin's output,
// bounded, rather than go-plugin's guesses. The helper modes are this test
// binary failing before sdk.Serve; the others are copies of a system
// program changed to fail the way broken builds do.
func TestPluginsThatDieBeforeTheHandshake(t *testing.T) {
	cases := []struct {
		name  string
		make  func(t *testing.T) (path, sum string)
		cause func(error) bool
		want  []string
	}{
		{
			name:  "panic before sdk.Serve",
			make:  func(t *testing.T) (string, string) { return helperExternal(t, modePanic) },
			cause: func(err error) bool { return errors.Is(err, ErrExitedBeforeHandshake) },
			want: []string{
				"plugin exited before its handshake (exit status 2)\nlast lines of its standard error:\n",
				"\n  panic: helper: panicking before sdk.Serve\n",
			},
		},
		{
			name:  "exit before sdk.Serve",
			make:  func(t *testing.T) (string, string) { return helperExternal(t, modeExit) },
			cause: func(err error) bool { return errors.Is(err, ErrExitedBeforeHandshake) },
			want: []string{
				"plugin exited before its handshake (exit status 3)" +
					"\nlast lines of its standard error:\n  helper: a line on standard error" +
					"\nlast lines of its standard output:\n  helper: a line on standard output",
			},
		},
		{
			name:  "a megabyte of output before exiting",
			make:  func(t *testing.T) (string, string) { return helperExternal(t, modeChatty) },
			cause: func(err error) bool { return errors.Is(err, ErrExitedBeforeHandshake) },
			want: []string{
				"plugin exited before its handshake (exit status 4)",
				"\n  helper: last on standard error \\u001b[31mred\\u001b[0m\n",
				"\n  helper: last on standard output",
			},
		},
		{
			name: "not a plugin",
			make: func(t *testing.T) (string, string) { return helperExternal(t, modeNotPlugin) },
			cause: func(err error) bool {
				return !errors.Is(err, ErrExitedBeforeHandshake)
			},
			want: []string{
				"starting process: Unrecognized remote plugin message: hello from a program that is not a plugin; the host stopped it",
				"\nlast lines of its standard output:\n  hello from a program that is not a plugin",
			},
		},
		{
			name:  "shared library missing",
			make:  func(t *testing.T) (string, string) { return brokenProgram(t, renameNeededLibrary) },
			cause: func(err error) bool { return errors.Is(err, ErrExitedBeforeHandshake) },
			want: []string{
				"plugin exited before its handshake (exit status 127)\nlast lines of its standard error:\n",
				"error while loading shared libraries: libqq",
			},
		},
		{
			name:  "built for another architecture",
			make:  func(t *testing.T) (string, string) { return brokenProgram(t, otherArchitecture) },
			cause: func(err error) bool { return errors.Is(err, syscall.ENOEXEC) },
			want: []string{
				": exec format error: not a program this system can run (an ELF program for " + otherArch() + "; this host is " + runtime.GOOS + "/" + runtime.GOARCH + ")",
			},
		},
		{
			name:  "dynamic loader missing",
			make:  func(t *testing.T) (string, string) { return brokenProgram(t, missingInterpreter) },
			cause: func(err error) bool { return errors.Is(err, syscall.ENOENT) },
			want: []string{
				": no such file or directory: its program interpreter (dynamic loader) /nonexistent/ld.so does not exist on this system",
			},
		},
		{
			name:  "script",
			make:  func(t *testing.T) (string, string) { return writeProgram(t, []byte("#!/bin/sh\necho hello\n")) },
			cause: func(error) bool { return true },
			want:  []string{" is a script (it starts with #!): an external plugin must be a compiled program built with the SDK"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, sum := tc.make(t)
			sup := New(testOptions(slog.New(slog.DiscardHandler), modeLog))
			dir, err := openRunDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			sup.dir = dir
			defer sup.Stop()
			spec := Spec{Name: "b", Plugin: path, External: true, SHA256: sum, Config: emptyConfig, Host: newTestHost()}
			inst := &Instance{spec: spec, sup: sup, nudge: make(chan struct{}, 1)}
			err = inst.start(context.Background())
			if err == nil {
				t.Fatal("the plugin started")
			}
			msg := err.Error()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			for _, guess := range []string{"not compiled for this architecture", "/proc/self/fd/", "line 00000"} {
				if strings.Contains(msg, guess) {
					t.Errorf("error %q says %q", msg, guess)
				}
			}
			if len(msg) > 6<<10 {
				t.Errorf("error of %d bytes: the output shown is not bounded", len(msg))
			}
			if !tc.cause(err) {
				t.Errorf("error %q does not wrap its cause", msg)
			}
			if left, _ := os.ReadDir(sup.dir.path); len(left) != 0 {
				t.Errorf("the failed start left %d entries in the socket directory", len(left))
			}
		})
	}
}

// writeProgram writes an executable file only this user can change and
// returns its path and checksum.
func writeProgram(t *testing.T, content []byte) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(path, content, 0o700); err != nil {
		t.Fatal(err)
	}
	sum, err := Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
}

// brokenProgram copies /bin/true, a small dynamically linked program, and
// breaks the copy with patch.
func brokenProgram(t *testing.T, patch func(t *testing.T, f *elf.File, b []byte)) (path, sum string) {
	t.Helper()
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip("no /bin/true to copy:", err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Skip("/bin/true is not an ELF program:", err)
	}
	patch(t, f, b)
	return writeProgram(t, b)
}

// renameNeededLibrary makes the program need a library that does not exist.
func renameNeededLibrary(t *testing.T, f *elf.File, b []byte) {
	libs, err := f.ImportedLibraries()
	if err != nil || len(libs) == 0 {
		t.Skip("/bin/true needs no shared library")
	}
	dynstr := f.Section(".dynstr")
	data, err := dynstr.Data()
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte("\x00"+libs[0]+"\x00"))
	if at < 0 || len(libs[0]) < 4 {
		t.Skipf("cannot find %s in /bin/true", libs[0])
	}
	off := int(dynstr.Offset) + at + 1
	copy(b[off:], missingLibrary(libs[0]))
}

// missingLibrary is the name renameNeededLibrary gives the library lib: as
// long, so that it fits in its place.
func missingLibrary(lib string) string { return "lib" + strings.Repeat("q", len(lib)-3) }

// otherArchitecture marks the program as built for another architecture.
func otherArchitecture(t *testing.T, f *elf.File, b []byte) {
	m := elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		m = elf.EM_X86_64
	}
	binary.LittleEndian.PutUint16(b[18:], uint16(m))
	if f.ByteOrder == binary.BigEndian {
		binary.BigEndian.PutUint16(b[18:], uint16(m))
	}
}

func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// missingInterpreter makes the program ask for a dynamic loader that does
// not exist.
func missingInterpreter(t *testing.T, f *elf.File, b []byte) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		const missing = "/nonexistent/ld.so"
		if p.Filesz < uint64(len(missing))+1 {
			t.Skip("the program interpreter's path is too short to replace")
		}
		field := b[p.Off : p.Off+p.Filesz]
		clear(field)
		copy(field, missing)
		return
	}
	t.Skip("/bin/true has no program interpreter")
}

// TestTailKeepsTheLastCompleteLines checks the bounds on the output a failed
// start reports.
func TestTailKeepsTheLastCompleteLines(t *testing.T) {
	cases := []struct {
		name   string
		size   int
		writes []string
		max    int
		want   []string
	}{
		{"nothing", 16, nil, 5, nil},
		{"fits", 64, []string{"one\ntwo\n", "three"}, 5, []string{"one", "two", "three"}},
		{"line count bound", 64, []string{"1\n2\n3\n4\n"}, 2, []string{"3", "4"}},
		{"size bound drops the cut line", 8, []string{"first line\nab\ncd\n"}, 5, []string{"ab", "cd"}},
		{"one write larger than the buffer", 6, []string{strings.Repeat("x", 100) + "\nlast\n"}, 5, []string{"last"}},
		{"carriage returns", 64, []string{"a\r\nb\r\n"}, 5, []string{"a", "b"}},
		{"control characters and invalid UTF-8", 64, []string{"\x1b[2Jé\x00\xff\tok"}, 5, []string{`\u001b[2Jé\u0000\xff` + "\tok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTail(tc.size)
			for _, w := range tc.writes {
				tl.Write([]byte(w))
			}
			if got := tl.lines(tc.max); !slices.Equal(got, tc.want) {
				t.Errorf("lines: %q, want %q", got, tc.want)
			}
		})
	}
}
