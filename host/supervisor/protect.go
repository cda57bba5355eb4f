package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrUnprotected means that a user other than the host's user and root
// could change an external plugin: its file, a directory on its path or a
// symbolic link followed to it is writable by its group or by all users, or
// is owned by another user.
var ErrUnprotected = errors.New("plugin is not protected from other users")

// maxSymlinks bounds the symbolic links followed to a plugin, as the
// kernel does.
const maxSymlinks = 40

// checkProtected checks that nobody but this process's user and root can
// change the file at path, nor replace it: the file itself, every
// directory from / down to it, and every symbolic link on the way (whose
// targets are checked the same way) must be owned by this process's user
// or root, and no file or directory may be writable by its group or by all
// users. The one exception is a directory with the sticky bit such as
// /tmp: others may create entries in it, but not rename or remove the
// entries that are checked here, which are owned by this user or root.
//
// It returns the file's path with every symbolic link resolved, and the
// file's FileInfo, so that the caller can make sure it opened that file.
func checkProtected(path string) (string, fs.FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	root, err := os.Lstat("/")
	if err != nil {
		return "", nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	if err := checkEntry(path, "/", root, false); err != nil {
		return "", nil, err
	}
	cur, info := "/", root
	pending := strings.Split(abs, "/")
	links := 0
	for len(pending) > 0 {
		name := pending[0]
		pending = pending[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			// cur has no symbolic link in it: its parent is lexical.
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("plugin %s does not exist: %s: %w", path, next, fs.ErrNotExist)
		}
		if err != nil {
			return "", nil, fmt.Errorf("opening plugin %s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if err := checkOwner(path, next, fi, false); err != nil {
				return "", nil, err
			}
			if links++; links > maxSymlinks {
				return "", nil, fmt.Errorf("opening plugin %s: too many levels of symbolic links", path)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", nil, fmt.Errorf("opening plugin %s: %w", path, err)
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			pending = append(strings.Split(target, "/"), pending...)
			continue
		}
		last := len(pending) == 0
		if err := checkEntry(path, next, fi, last); err != nil {
			return "", nil, err
		}
		cur, info = next, fi
	}
	return cur, info, nil
}

// checkEntry checks one file or directory on the path to the plugin; last
// is true for the plugin's file.
func checkEntry(plugin, path string, fi fs.FileInfo, last bool) error {
	if err := checkOwner(plugin, path, fi, last); err != nil {
		return err
	}
	mode := fi.Mode()
	if mode&0o022 == 0 || (mode.IsDir() && mode&fs.ModeSticky != 0) {
		return nil
	}
	var who, users, bits string
	switch mode & 0o022 {
	case 0o020:
		who, users, bits = "its group", "a member of its group", "g-w"
	case 0o002:
		who, users, bits = "all users", "any user", "o-w"
	default:
		who, users, bits = "its group and all users", "any user", "go-w"
	}
	return fmt.Errorf("%w: %s is writable by %s (%v): %s could replace the plugin after the host checked it; run: chmod %s %s",
		ErrUnprotected, describe(plugin, path, last), who, mode, users, bits, path)
}

// checkOwner checks that the entry at path is owned by this process's user
// or root.
func checkOwner(plugin, path string, fi fs.FileInfo, last bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: cannot tell who owns %s", ErrUnprotected, path)
	}
	me := os.Getuid()
	if int(st.Uid) == me || st.Uid == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s is owned by uid %d, neither this host's user (uid %d) nor root: that user could replace the plugin; run: chown %d %s, or move the plugin where only this host's user or root can change it",
		ErrUnprotected, describe(plugin, path, last), st.Uid, me, me, path)
}

// describe names an entry on the path to the plugin in an error.
func describe(plugin, path string, last bool) string {
	abs, _ := filepath.Abs(plugin)
	switch {
	case last && path == abs:
		return path
	case last:
		return fmt.Sprintf("%s (the file %s leads to)", path, plugin)
	default:
		return fmt.Sprintf("%s, on the path to %s,", path, plugin)
	}
}
