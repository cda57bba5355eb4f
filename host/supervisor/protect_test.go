package supervisor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnprotectedPluginsAreRefused builds real files and directories with
// the permissions of each case and checks CheckExternal, which runs the
// checks made before every start: a plugin that a user other than the
// host's and root could change is refused, with an error that names the
// file or directory at fault and the command that fixes it.
func TestUnprotectedPluginsAreRefused(t *testing.T) {
	const content = "not really a program"
	sum := sha256Hex(content)
	// plugin makes dir (with mode) and an executable file in it.
	plugin := func(t *testing.T, dir string, dirMode fs.FileMode, fileMode fs.FileMode) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		chmod(t, dir, dirMode)
		path := filepath.Join(dir, "plugin")
		if err := os.WriteFile(path, []byte(content), 0o700); err != nil {
			t.Fatal(err)
		}
		chmod(t, path, fileMode)
		return path
	}
	asRoot := func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to give a file to another user")
		}
	}
	const nobody = 65534
	cases := []struct {
		name string
		// make returns the plugin's path and the entry the error must name.
		make func(t *testing.T, base string) (path, culprit string)
		want string // in the error; "" means the plugin is accepted
	}{
		{
			name: "protected",
			make: func(t *testing.T, base string) (string, string) {
				return plugin(t, filepath.Join(base, "bin"), 0o755, 0o755), ""
			},
		},
		{
			name: "file writable by its group",
			make: func(t *testing.T, base string) (string, string) {
				p := plugin(t, filepath.Join(base, "bin"), 0o755, 0o775)
				return p, p
			},
			want: "is writable by its group (-rwxrwxr-x): a member of its group could replace the plugin after the host checked it; run: chmod g-w ",
		},
		{
			name: "file writable by all users",
			make: func(t *testing.T, base string) (string, string) {
				p := plugin(t, filepath.Join(base, "bin"), 0o755, 0o757)
				return p, p
			},
			want: "is writable by all users (-rwxr-xrwx): any user could replace the plugin after the host checked it; run: chmod o-w ",
		},
		{
			name: "directory writable by its group",
			make: func(t *testing.T, base string) (string, string) {
				dir := filepath.Join(base, "bin")
				return plugin(t, dir, 0o775, 0o755), dir
			},
			want: "is writable by its group (drwxrwxr-x): a member of its group could replace the plugin after the host checked it; run: chmod g-w ",
		},
		{
			name: "directory higher up writable by all users",
			make: func(t *testing.T, base string) (string, string) {
				top := filepath.Join(base, "opt")
				p := plugin(t, filepath.Join(top, "plugins", "bin"), 0o755, 0o755)
				chmod(t, top, 0o777)
				return p, top
			},
			want: "is writable by its group and all users (drwxrwxrwx): any user could replace the plugin after the host checked it; run: chmod go-w ",
		},
		{
			name: "sticky directory writable by all users, like /tmp",
			make: func(t *testing.T, base string) (string, string) {
				return plugin(t, filepath.Join(base, "tmp"), 0o777|fs.ModeSticky, 0o755), ""
			},
		},
		{
			name: "symbolic link to a protected file",
			make: func(t *testing.T, base string) (string, string) {
				target := plugin(t, filepath.Join(base, "real"), 0o755, 0o755)
				return symlink(t, target, filepath.Join(base, "bin", "plugin")), ""
			},
		},
		{
			name: "symbolic link to a file in a directory writable by all users",
			make: func(t *testing.T, base string) (string, string) {
				dir := filepath.Join(base, "shared")
				target := plugin(t, dir, 0o777, 0o755)
				return symlink(t, target, filepath.Join(base, "bin", "plugin")), dir
			},
			want: "is writable by its group and all users (drwxrwxrwx)",
		},
		{
			name: "relative symbolic link through ..",
			make: func(t *testing.T, base string) (string, string) {
				dir := filepath.Join(base, "shared")
				plugin(t, dir, 0o775, 0o755)
				return symlink(t, "../shared/plugin", filepath.Join(base, "bin", "plugin")), dir
			},
			want: "is writable by its group (drwxrwxr-x)",
		},
		{
			name: "file owned by another user",
			make: func(t *testing.T, base string) (string, string) {
				asRoot(t)
				p := plugin(t, filepath.Join(base, "bin"), 0o755, 0o755)
				chown(t, p, nobody)
				return p, p
			},
			want: "is owned by uid 65534, neither this host's user (uid 0) nor root: that user could replace the plugin; run: chown 0 ",
		},
		{
			name: "directory owned by another user",
			make: func(t *testing.T, base string) (string, string) {
				asRoot(t)
				dir := filepath.Join(base, "home", "alice")
				p := plugin(t, dir, 0o755, 0o755)
				chown(t, dir, nobody)
				return p, dir
			},
			want: "is owned by uid 65534",
		},
		{
			name: "symbolic link owned by another user in a sticky directory",
			make: func(t *testing.T, base string) (string, string) {
				asRoot(t)
				target := plugin(t, filepath.Join(base, "real"), 0o755, 0o755)
				tmp := filepath.Join(base, "tmp")
				link := symlink(t, target, filepath.Join(tmp, "plugin"))
				chmod(t, tmp, 0o777|fs.ModeSticky)
				if err := os.Lchown(link, nobody, nobody); err != nil {
					t.Fatal(err)
				}
				return link, link
			},
			want: "is owned by uid 65534",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, culprit := tc.make(t, t.TempDir())
			err := CheckExternal(path, sum)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnprotected) {
				t.Fatalf("error %v, want one wrapping ErrUnprotected", err)
			}
			for _, want := range []string{tc.want, culprit, path} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if !strings.HasSuffix(err.Error(), culprit) && !strings.Contains(err.Error(), culprit+", or move") {
				t.Errorf("error %q does not end with the fix for %s", err, culprit)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		err := CheckExternal(filepath.Join(t.TempDir(), "nothing"), sum)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v, want one wrapping fs.ErrNotExist", err)
		}
	})
}

func chmod(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// symlink makes a symbolic link at link to target, and link's directory.
func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	chmod(t, filepath.Dir(link), 0o755)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}
