package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/testkit/procstat"
)

// hostChildArg, as the last argument, makes the test binary act as a host:
// it starts a supervisor with one plugin, prints "ready PID" (the plugin's
// pid) and runs until SIGTERM, which stops the supervisor, or SIGKILL.
const hostChildArg = "portcullis-supervisor-test-host"

func init() {
	if n := len(os.Args); n > 1 && os.Args[n-1] == hostChildArg {
		runHostChild() // never returns
	}
}

func runHostChild() {
	sup := New(testOptions(slog.New(slog.DiscardHandler), modeLog))
	spec := Spec{Name: "b", Plugin: "helper", Config: emptyConfig, Host: newTestHost()}
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		fmt.Fprintln(os.Stderr, "host child:", err)
		os.Exit(1)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("ready %d\n", sup.Instance("b").Status().PID)
	<-term
	sup.Stop()
	os.Exit(0)
}

// hostChild is a test binary running as a host (see hostChildArg).
type hostChild struct {
	cmd    *exec.Cmd
	plugin int
}

func startHostChild(t *testing.T) *hostChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", hostChildArg)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostChild{cmd: cmd}
	t.Cleanup(func() { h.stop(syscall.SIGKILL) })
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	if err != nil || perr != nil || pid <= 0 {
		t.Fatalf("host child did not start: %q %v", line, err)
	}
	h.plugin = pid
	return h
}

// stop sends sig and waits for the host to exit.
func (h *hostChild) stop(sig syscall.Signal) {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Signal(sig)
	_ = h.cmd.Wait()
}

// tempEntries lists os.TempDir().
func tempEntries(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir(os.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// added returns the names in after that are not in before.
func added(before, after []string) []string {
	var out []string
	for _, n := range after {
		if !slices.Contains(before, n) {
			out = append(out, n)
		}
	}
	return out
}

func exists(name string) bool {
	_, err := os.Lstat(filepath.Join(os.TempDir(), name))
	return err == nil
}

// TestDeadHostsSocketsGoAtNextStart runs two hosts as processes: one
// killed with SIGKILL while its plugin runs, which can clean nothing up,
// and one alive. A supervisor that starts then removes what the dead host
// left in the temporary directory, and nothing of the live host's; the live
// host removes its own when it stops.
func TestDeadHostsSocketsGoAtNextStart(t *testing.T) {
	before := tempEntries(t)
	dead := startHostChild(t)
	deadLeft := added(before, tempEntries(t))
	if len(deadLeft) == 0 {
		t.Fatal("a running host with a plugin has nothing in the temporary directory: the test cannot see a leak")
	}
	dead.stop(syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for procstat.Alive(dead.plugin) {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin %d outlived its host", dead.plugin)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range deadLeft {
		if !exists(n) {
			t.Fatalf("%s went with the SIGKILLed host: the test cannot see a leak", n)
		}
	}

	before = tempEntries(t)
	live := startHostChild(t)
	liveLeft := added(before, tempEntries(t))

	sup := New(testOptions(slog.New(slog.DiscardHandler), modeLog))
	spec := Spec{Name: "b", Plugin: "helper", Config: emptyConfig, Host: newTestHost()}
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	for _, n := range deadLeft {
		if exists(n) {
			t.Errorf("%s, left by the SIGKILLed host, is still there after the next start", n)
		}
	}
	for _, n := range liveLeft {
		if !exists(n) {
			t.Errorf("%s, of the host still running, was removed by another host's start", n)
		}
	}
	if !procstat.Alive(live.plugin) {
		t.Errorf("the live host's plugin died")
	}
	sup.Stop()

	live.stop(syscall.SIGTERM)
	if code := live.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the live host exited with %d after SIGTERM", code)
	}
	for _, n := range liveLeft {
		if exists(n) {
			t.Errorf("%s is still there after its host stopped", n)
		}
	}
}

// TestStaleSweepRemovesOnlyDeadHostsDirectories checks what the sweep at
// start removes from the temporary directory: a run directory nobody
// locks, and nothing else, whatever its name, type or owner.
func TestStaleSweepRemovesOnlyDeadHostsDirectories(t *testing.T) {
	mkdir := func(t *testing.T, path string) {
		t.Helper()
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "content"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		make   func(t *testing.T, base string) (entry, keep string)
		remove bool
	}{
		{
			name: "a dead host's run directory",
			make: func(t *testing.T, base string) (string, string) {
				path := filepath.Join(base, runDirPrefix+"1")
				mkdir(t, path)
				return path, ""
			},
			remove: true,
		},
		{
			name: "a live host's run directory",
			make: func(t *testing.T, base string) (string, string) {
				d, err := openRunDir(base)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return d.path, ""
			},
		},
		{
			name: "a directory with another name",
			make: func(t *testing.T, base string) (string, string) {
				path := filepath.Join(base, "portcullis-e2e-1")
				mkdir(t, path)
				return path, ""
			},
		},
		{
			name: "a symbolic link to a directory",
			make: func(t *testing.T, base string) (string, string) {
				target := filepath.Join(t.TempDir(), "target")
				mkdir(t, target)
				link := filepath.Join(base, runDirPrefix+"link")
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				return link, filepath.Join(target, "content")
			},
		},
		{
			name: "a file",
			make: func(t *testing.T, base string) (string, string) {
				path := filepath.Join(base, runDirPrefix+"file")
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return path, ""
			},
		},
		{
			name: "another user's directory",
			make: func(t *testing.T, base string) (string, string) {
				if os.Getuid() != 0 {
					t.Skip("needs root to make a directory owned by another user")
				}
				path := filepath.Join(base, runDirPrefix+"other")
				mkdir(t, path)
				if err := os.Chown(path, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				return path, ""
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			entry, keep := tc.make(t, base)
			removeStaleRunDirs(base, slog.New(slog.DiscardHandler))
			_, err := os.Lstat(entry)
			switch gone := os.IsNotExist(err); {
			case tc.remove && !gone:
				t.Errorf("%s is still there (%v)", entry, err)
			case !tc.remove && gone:
				t.Errorf("%s was removed", entry)
			}
			if keep != "" {
				if _, err := os.Stat(keep); err != nil {
					t.Errorf("the sweep removed %s, behind a symbolic link: %v", keep, err)
				}
			}
		})
	}
}

// TestRunDirIsPrivate checks that a run directory is the user's alone and
// goes on Close.
func TestRunDirIsPrivate(t *testing.T) {
	d, err := openRunDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(d.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != fs.ModeDir|0o700 || !ownedByMe(fi) {
		t.Errorf("run directory %s: mode %v, owned by this user: %v; want drwx------ and yes", d.path, fi.Mode(), ownedByMe(fi))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(d.path); !os.IsNotExist(err) {
		t.Errorf("run directory still there after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
