package passwords

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// File is a table of password hashes read from a file of "username:hash"
// lines, the shape of Apache's htpasswd (blank lines and lines starting
// with # are skipped). It reads the file again when the file changes, and
// fits each version with a Checker whose dummy is a bcrypt hash as costly
// as the costliest bcrypt hash in it. A file that can no longer be read,
// or holds a line its backend refuses, refuses every check until it is
// fixed (a backend fails closed): replace the file with a rename rather
// than rewrite it in place. A file read while it was being rewritten is
// read again.
type File struct {
	path   string
	verify VerifyFunc
	accept func(hash string) error
	pool   *Pool

	// lock is held while the file is checked and read; a check waits for
	// it until its context ends.
	lock  chan struct{}
	stat  os.FileInfo // of the version read
	users map[string]string
	check *Checker
}

// NewFile returns the table of the file at path, not read yet: Load or
// the first Check reads it. verify checks a password against a hash of
// the file; accept says whether a hash may be in it (nil: bcrypt only),
// so that verify sees no other. pool bounds the verifications (nil: one
// slot per core).
func NewFile(path string, verify VerifyFunc, accept func(hash string) error, pool *Pool) *File {
	if accept == nil {
		accept = func(hash string) error {
			_, err := BcryptCost(hash)
			return err
		}
	}
	if pool == nil {
		pool = NewPool(0)
	}
	return &File{path: path, verify: verify, accept: accept, pool: pool, lock: make(chan struct{}, 1)}
}

// Load reads the file if it changed since it was last read: call it in
// Configure, to report a bad file as a configuration problem.
func (f *File) Load(ctx context.Context) error {
	_, _, err := f.load(ctx)
	return err
}

// Check reports whether password is username's, reading the file again
// first if it changed. An unknown user costs as long as a known one (see
// Checker). An error is the file's, or the Checker's.
func (f *File) Check(ctx context.Context, username, password string) (bool, error) {
	users, check, err := f.load(ctx)
	if err != nil {
		return false, err
	}
	hash, found := users[username]
	return check.Check(ctx, hash, found, password)
}

// MaxBcryptCost is the costliest bcrypt hash a File takes: each step
// doubles the work, and at 15 a login costs about a second of a core.
const MaxBcryptCost = 14

// rereads bounds how often load reads a file that changes while it is
// read before it gives up.
const rereads = 3

func (f *File) load(ctx context.Context) (map[string]string, *Checker, error) {
	select {
	case f.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	defer func() { <-f.lock }()
	if f.path == "" {
		return nil, nil, errors.New("no file named")
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, nil, err
	}
	if f.stat != nil && sameVersion(fi, f.stat) {
		return f.users, f.check, nil
	}
	data, fi, err := f.read(fi)
	if err != nil {
		return nil, nil, err
	}
	users, cost := map[string]string{}, 0
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, nil, fmt.Errorf("%s, line %d: not username:hash", f.path, n+1)
		}
		if _, dup := users[user]; dup {
			return nil, nil, fmt.Errorf("%s, line %d: user %q is listed twice", f.path, n+1, user)
		}
		if err := f.accept(hash); err != nil {
			return nil, nil, fmt.Errorf("%s, line %d (user %q): %v", f.path, n+1, user, err)
		}
		if c, err := BcryptCost(hash); err == nil {
			if c > MaxBcryptCost {
				return nil, nil, fmt.Errorf("%s, line %d (user %q): a bcrypt cost of %d makes each login take seconds; rehash with a cost of at most %d", f.path, n+1, user, c, MaxBcryptCost)
			}
			cost = max(cost, c)
		}
		users[user] = hash
	}
	dummy, err := BcryptDummy(cost)
	if err != nil {
		return nil, nil, err
	}
	check, err := NewChecker(ctx, f.verify, dummy, f.pool)
	if err != nil {
		return nil, nil, err
	}
	f.stat, f.users, f.check = fi, users, check
	return users, check, nil
}

// read reads the file, whose stat was fi, and returns its contents with
// the stat they go with. A file whose size or time changed while it was
// read (a tool rewriting it in place) is read again; an empty file is an
// error, as a file caught between its truncation and its rewrite is.
func (f *File) read(fi os.FileInfo) ([]byte, os.FileInfo, error) {
	for range rereads {
		data, err := os.ReadFile(f.path)
		if errors.Is(err, fs.ErrPermission) {
			return nil, nil, fmt.Errorf("%w (the host lets a plugin read only the files its backend entry lists in sandbox.read)", err)
		}
		if err != nil {
			return nil, nil, err
		}
		after, err := os.Stat(f.path)
		if err != nil {
			return nil, nil, err
		}
		if sameVersion(fi, after) {
			if len(data) == 0 {
				return nil, nil, fmt.Errorf("%s is empty", f.path)
			}
			return data, after, nil
		}
		fi = after
	}
	return nil, nil, fmt.Errorf("%s kept changing while it was read: replace it with a rename", f.path)
}

// sameVersion reports whether two stats are of the same version of a
// file: the same file, time and size.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}
