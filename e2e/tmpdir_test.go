package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startAndStopOneHost runs one host until it serves, then stops it with
// SIGTERM. Tests kill hosts with SIGKILL, which leaves their plugin socket
// directories behind; a host removes those of dead hosts when it starts, and
// this is the last host of the run.
func startAndStopOneHost() error {
	dir, err := os.MkdirTemp("", "sweep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "portcullis.yaml")
	yaml := "listen: 127.0.0.1:0\nlog: {format: json, level: info}\nstorage: {driver: sqlite, dsn: ./portcullis.db}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(portcullisBin, "serve", "--config", cfg)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	serving := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			var e struct {
				Msg string `json:"msg"`
			}
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "portcullis is serving" {
				close(serving)
			}
		}
	}()
	select {
	case <-serving:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return errors.New("the last host did not serve within 60s")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("the last host: %v\n%s", err, log.String())
	}
	return nil
}

// runDirOf returns the directory in which the host with this pid keeps its
// plugins' sockets: the directory it holds open (and locked).
func runDirOf(t testing.TB, pid int) string {
	t.Helper()
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fds)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(fds, e.Name()))
		if err == nil && filepath.Dir(target) == os.TempDir() && strings.HasPrefix(filepath.Base(target), "portcullis-plugins-") {
			return target
		}
	}
	t.Fatalf("host %d holds no plugin socket directory in %s open", pid, os.TempDir())
	return ""
}

// TestHostsLeaveNoSockets starts a host and kills it with SIGKILL, which
// leaves its plugins' sockets behind; the next host to start removes them,
// and removes its own when it stops with SIGTERM.
func TestHostsLeaveNoSockets(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	dead := startHost(t, cfg)
	deadDir := runDirOf(t, dead.cmd.Process.Pid)
	sockets, _ := filepath.Glob(filepath.Join(deadDir, "*", "plugin*"))
	if len(sockets) == 0 {
		t.Fatalf("no plugin socket in %s", deadDir)
	}
	dead.kill(syscall.SIGKILL)
	if _, err := os.Lstat(deadDir); err != nil {
		t.Fatalf("the socket directory of the host killed with SIGKILL went with it: %v", err)
	}

	next := startHost(t, cfg)
	if _, err := os.Lstat(deadDir); !os.IsNotExist(err) {
		t.Errorf("%s, left by the host killed with SIGKILL, is still there after the next start (%v)", deadDir, err)
	}
	nextDir := runDirOf(t, next.cmd.Process.Pid)
	if fi, err := os.Lstat(nextDir); err != nil || fi.Mode() != os.ModeDir|0o700 {
		t.Errorf("socket directory %s: %v %v, want drwx------", nextDir, fi.Mode(), err)
	}
	next.kill(syscall.SIGTERM)
	if _, err := os.Lstat(nextDir); !os.IsNotExist(err) {
		t.Errorf("%s is still there after its host stopped (%v)", nextDir, err)
	}
}
