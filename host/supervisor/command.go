package supervisor

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// ErrChecksumMismatch means an external plugin's file does not match the
// sha256 in the configuration.
var ErrChecksumMismatch = errors.New("plugin checksum does not match")

// Checksum returns the hex SHA-256 of the file at path.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return checksumOf(f)
}

func checksumOf(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// openExternal opens the external plugin at path, after checking that no
// user but this host's and root can change it (checkProtected), and checks
// that it is an executable regular file.
func openExternal(path string) (*os.File, error) {
	resolved, checked, err := checkProtected(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(resolved)
	if err != nil {
		return nil, fmt.Errorf("opening plugin %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil || !os.SameFile(st, checked) {
		f.Close()
		return nil, fmt.Errorf("plugin %s was replaced while it was being checked", path)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		f.Close()
		return nil, fmt.Errorf("plugin %s is not an executable file", path)
	}
	return f, nil
}

// checkSum compares the hex SHA-256 got with the configuration's want.
func checkSum(path, got, want string) error {
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return fmt.Errorf("%w: %s has sha256 %s, the configuration expects %s", ErrChecksumMismatch, path, got, want)
	}
	return nil
}

// openVerified opens the external plugin at path (openExternal) and checks
// it against the expected hex SHA-256.
func openVerified(path, want string) (*os.File, error) {
	f, err := openExternal(path)
	if err != nil {
		return nil, err
	}
	got, err := checksumOf(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading plugin %s: %w", path, err)
	}
	if err := checkSum(path, got, want); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// testHookVerified, if set, is called with the plugin's path between the
// verification of an external plugin and its exec.
var testHookVerified func(path string)

// verifiedCopy opens the external plugin at path (openExternal), copies it
// where nobody can change it (copyForExec, dir being the supervisor's
// private directory), and checks the copy against the expected hex
// SHA-256. The caller executes the copy and closes it once the process has
// started.
func verifiedCopy(path, want, dir string) (*execCopy, error) {
	f, err := openExternal(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := copyForExec(f, filepath.Base(path), dir)
	if err != nil {
		return nil, fmt.Errorf("reading plugin %s: %w", path, err)
	}
	got, err := c.checksum()
	if err == nil {
		err = checkSum(path, got, want)
	}
	if err == nil {
		err = notScript(path, c.file)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if testHookVerified != nil {
		testHookVerified(path)
	}
	return c, nil
}

// notScript refuses a program that starts with "#!": the interpreter
// could not open the copy the host executes (see execCopy), and the SDK is
// for programs built with Go.
func notScript(path string, image io.ReaderAt) error {
	head := make([]byte, 2)
	if n, _ := image.ReadAt(head, 0); n == 2 && string(head) == "#!" {
		return fmt.Errorf("plugin %s is a script (it starts with #!): an external plugin must be a compiled program built with the SDK", path)
	}
	return nil
}

// CheckExternal makes the checks the supervisor makes before every start of
// the external plugin at path, without starting it: that no user but this
// process's and root can change it (an error wrapping ErrUnprotected,
// which names what to fix), that it is an executable regular file, that its
// SHA-256 is want (an error wrapping ErrChecksumMismatch), and that it is
// not a script. A missing file gives an error wrapping fs.ErrNotExist.
func CheckExternal(path, want string) error {
	f, err := openVerified(path, want)
	if err != nil {
		return err
	}
	defer f.Close()
	return notScript(path, f)
}

// pluginEnv is the environment a plugin starts with. The host's own
// environment may hold secrets (database passwords given as ${ENV}), so
// only what a program needs to run is passed on.
func pluginEnv(logLevel string) []string {
	var env []string
	if logLevel != "" {
		env = append(env, hostside.LogLevelEnv+"="+logLevel)
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// BuiltinCommand is how the host runs a first-party plugin: its own
// executable with the hidden "plugin-serve" sub-command.
func BuiltinCommand(name string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the portcullis executable: %w", err)
	}
	return exec.Command(self, "plugin-serve", name), nil
}
