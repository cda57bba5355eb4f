// Command portcullis-pyusers runs the Python backend of this directory
// (backend.py, see README.md) as a Portcullis plugin.
//
// The host executes only native programs, and pins each by its sha256; it
// refuses a script. So this launcher embeds the Python code, which puts it
// under the checksum an operator pins, and replaces itself with the Python
// interpreter running that code. The process keeps its pid, its
// environment and its standard streams: the host signals, and talks to,
// Python as it would to any plugin.
package main

import (
	"archive/zip"
	"bytes"
	"embed"
	"fmt"
	"os"
	"syscall"
)

//go:embed backend.py plugin_pb2.py
var sources embed.FS

// python is the interpreter, an absolute path: the host passes its own PATH
// on to plugins, and a python3 found there may lack the backend's packages.
// Build with -ldflags "-X main.python=/path/to/python3" to choose another.
var python = "/usr/bin/python3"

func main() {
	archive, err := pythonArchive()
	if err == nil {
		err = run(archive)
	}
	// run returns only if the interpreter could not be started.
	fmt.Fprintf(os.Stderr, "portcullis-pyusers: %v\n", err)
	os.Exit(1)
}

// pythonArchive packs the backend as a zip that the interpreter runs:
// backend.py as the archive's __main__.py, and plugin_pb2.py beside it to
// import.
func pythonArchive() ([]byte, error) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, file := range map[string]string{"__main__.py": "backend.py", "plugin_pb2.py": "plugin_pb2.py"} {
		src, err := sources.ReadFile(file)
		if err != nil {
			return nil, err
		}
		f, err := w.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(src); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// run hands the archive to the interpreter as an open file with no name,
// /dev/fd/N: nothing on disk that anyone could change before Python reads
// it, and nothing left behind.
func run(archive []byte) error {
	f, err := os.CreateTemp("", "portcullis-pyusers-")
	if err != nil {
		return err
	}
	if err := os.Remove(f.Name()); err != nil {
		return err
	}
	if _, err := f.Write(archive); err != nil {
		return err
	}
	// A duplicate has no close-on-exec flag, so the interpreter inherits it.
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return err
	}
	// -I: no PYTHON* variables, no user site-packages, nothing from the
	// working directory on the import path. -B: write no bytecode files.
	argv := append([]string{python, "-I", "-B", fmt.Sprintf("/dev/fd/%d", fd)}, os.Args[1:]...)
	if err := syscall.Exec(python, argv, os.Environ()); err != nil {
		return fmt.Errorf("running %s: %w", python, err)
	}
	return nil
}
