package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// execCopy is a copy of an external plugin's content that nobody can
// change, and the supervisor executes it instead of the plugin's file: the
// content is verified in the copy, so what runs is exactly what was
// verified, even if the file changes between the check and the exec.
//
// On Linux it is a sealed memory file (memfd_create, sealed against
// writing, growing and shrinking), executed through /proc/self/fd. Where
// that is not available it is a private file in the supervisor's 0700
// directory, which only this user and root can change.
type execCopy struct {
	file   *os.File // the copy, open for reading
	path   string   // the path to execute it by
	remove bool     // path is a private file, removed on Close
}

// sealInMemory selects the sealed memory copy where the system has one;
// tests turn it off to exercise the private copy.
var sealInMemory = true

// errNoSealedCopy means the system cannot make a sealed memory copy.
var errNoSealedCopy = errors.New("no sealed memory file on this system")

// copyForExec copies the plugin's open file src, from its start, into an
// execCopy: a sealed memory copy if it can, else a private file in dir.
// name names the copy for the operator (it shows as the process's
// executable).
func copyForExec(src *os.File, name, dir string) (*execCopy, error) {
	if sealInMemory {
		c, err := sealedCopy(src, name)
		if !errors.Is(err, errNoSealedCopy) {
			return c, err
		}
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return privateCopy(src, dir)
}

// privateCopy copies src into a new file in dir that only its owner can
// read, write or execute.
func privateCopy(src *os.File, dir string) (*execCopy, error) {
	w, err := os.CreateTemp(dir, "exec-")
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(w, src)
	err = errors.Join(err, w.Chmod(0o500), w.Close())
	if err != nil {
		os.Remove(w.Name())
		return nil, fmt.Errorf("copying the plugin: %w", err)
	}
	r, err := os.Open(w.Name())
	if err != nil {
		os.Remove(w.Name())
		return nil, err
	}
	return &execCopy{file: r, path: w.Name(), remove: true}, nil
}

// image reads the program in the copy; nil for no copy (a first-party
// plugin).
func (c *execCopy) image() io.ReaderAt {
	if c == nil {
		return nil
	}
	return c.file
}

// osFile is the copy's open file; nil for no copy.
func (c *execCopy) osFile() *os.File {
	if c == nil {
		return nil
	}
	return c.file
}

// checksum returns the hex SHA-256 of the copy's content.
func (c *execCopy) checksum() (string, error) {
	if _, err := c.file.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return checksumOf(c.file)
}

// Close releases the copy; a process started from it keeps running.
func (c *execCopy) Close() error {
	err := c.file.Close()
	if c.remove {
		err = errors.Join(err, os.Remove(c.path))
	}
	return err
}
