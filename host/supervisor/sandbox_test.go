package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/reach"
)

// snooper is a backend that, when configured, makes the attempts its
// configuration lists and logs each one's outcome as a "tried" line (name,
// error: empty when it succeeded), then logs "snooped".
type snooper struct{}

// snoopConfig lists the attempts: files to read, directories to list,
// files to create, and whether to list the host's open files
// (/proc/<host>/fd) and to write a file in $TMPDIR.
type snoopConfig struct {
	Read    []string `json:"read"`
	List    []string `json:"list"`
	Create  []string `json:"create"`
	Chmod   []string `json:"chmod"`
	HostFDs bool     `json:"host_fds"`
	// Capabilities asks whether the plugin holds any capability.
	Capabilities bool `json:"capabilities"`
	TempFile     bool `json:"temp_file"`
	// ReachHost asks whether the plugin may reach the host's process: signal
	// it (signal 0, which only checks), signal any one of its threads
	// (tgkill, on every thread id from the host's to the plugin's), or take
	// one of its open files (pidfd_getfd, through the process or a thread).
	ReachHost bool `json:"reach_host"`
	// PidMax is the kernel's pid_max, which the confined plugin cannot
	// read, for ReachHost's search of the host's threads.
	PidMax int `json:"pid_max"`
}

func (snooper) Metadata() sdk.Metadata { return sdk.Metadata{Name: "snooper", Version: "test"} }

func (snooper) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	var cfg snoopConfig
	if err := req.DecodeConfig(&cfg); err != nil {
		return err
	}
	tried := func(name string, err error) {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		sdk.Logger().Warn("tried", "name", name, "error", msg)
	}
	for _, p := range cfg.Read {
		_, err := os.ReadFile(p)
		tried("read "+p, err)
	}
	for _, p := range cfg.List {
		_, err := os.ReadDir(p)
		tried("list "+p, err)
	}
	for _, p := range cfg.Create {
		tried("create "+p, os.WriteFile(p, []byte("planted"), 0o600))
	}
	for _, p := range cfg.Chmod {
		tried("chmod "+p, os.Chmod(p, 0o644))
	}
	if cfg.Capabilities {
		tried("capabilities", reach.Capabilities())
	}
	if cfg.HostFDs {
		_, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", os.Getppid()))
		tried("host fds", err)
	}
	if cfg.ReachHost {
		host := os.Getppid()
		tried("signal host", syscall.Kill(host, 0))
		tids := reach.Threads(host, os.Getpid(), cfg.PidMax)
		tried("signal a host thread", reach.SignalAThread(host, tids))
		tried("take a host file", reach.TakeAFile(host, tids))
	}
	if cfg.TempFile {
		f, err := os.CreateTemp("", "snoop-")
		if err == nil {
			sdk.Logger().Warn("temp file", "path", f.Name())
			err = f.Close()
		}
		tried("temp file", err)
	}
	sdk.Logger().Warn("snooped")
	return nil
}

func (snooper) Authenticate(_ context.Context, _ *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	resp.Abstain("")
	return nil
}

// snooperSpec is a snooper backend with its configuration and sandbox.
func snooperSpec(config json.RawMessage, sandbox Sandbox) Spec {
	return Spec{Name: "snooper", Plugin: "helper", Config: config, Host: newTestHost(), AnyOf: BackendKinds(), Backend: true, Sandbox: sandbox}
}

// snoop starts a snooper confined by sandbox, has it make the attempts of
// cfg, and returns each attempt's error text ("" for success) by name, and
// the path of the temporary file it made, if it made one.
func snoop(t *testing.T, sandbox Sandbox, cfg snoopConfig) (map[string]string, string) {
	t.Helper()
	rec := newLogRecorder()
	sup := New(testOptions(slog.New(rec), modeSnoop))
	t.Cleanup(sup.Stop)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := snooperSpec(raw, sandbox)
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "snooped")
	got, temp := map[string]string{}, ""
	for _, r := range rec.records() {
		switch r.Message {
		case "tried":
			got[r.values("name")[0]] = r.values("error")[0]
		case "temp file":
			temp = r.values("path")[0]
		case "plugin started":
			if want := map[bool]string{true: "off", false: "landlock"}[sandbox.Mode == SandboxOff]; r.values("sandbox")[0] != want {
				t.Errorf("the plugin started with sandbox=%s, want %s", r.values("sandbox")[0], want)
			}
		}
	}
	return got, temp
}

// A confined plugin reaches only what it was given: not the host's files
// (a database beside the host, planted with a secret), not the host's open
// files through /proc, not a directory it was not given to write in; it
// does read what its sandbox lists and the system's files, writes where
// its sandbox lets it, and has a private $TMPDIR. The same plugin
// unconfined reaches everything: the control, so that the refusals are
// the sandbox's.
func TestSandboxConfinesPlugin(t *testing.T) {
	if !SandboxSupported() {
		t.Skip("this system cannot confine plugins (no Landlock): " + ErrNoSandbox.Error())
	}
	hostDir := t.TempDir()
	db := filepath.Join(hostDir, "portcullis.db")
	if err := os.WriteFile(db, []byte("alice $argon2id$secret-hash"), 0o600); err != nil {
		t.Fatal(err)
	}
	given := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(given, []byte("a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cfg := snoopConfig{
		Read:         []string{db, given, "/etc/hosts"},
		List:         []string{hostDir},
		Create:       []string{filepath.Join(hostDir, "planted"), filepath.Join(out, "allowed")},
		Chmod:        []string{db},
		HostFDs:      true,
		TempFile:     true,
		Capabilities: true,
	}
	sandbox := Sandbox{Read: []string{given}, Write: []string{out}}

	got, temp := snoop(t, sandbox, cfg)
	denied := []string{"read " + db, "list " + hostDir, "create " + filepath.Join(hostDir, "planted"), "host fds"}
	for _, name := range denied {
		if e, ok := got[name]; !ok || !strings.Contains(e, "permission denied") {
			t.Errorf("confined, %s: error %q (made: %v), want permission denied", name, e, ok)
		}
	}
	// Landlock does not cover a file's mode; the sandbox's seccomp filter
	// does (EPERM, "operation not permitted").
	if e := got["chmod "+db]; !strings.Contains(e, "operation not permitted") {
		t.Errorf("confined, chmod of the database: %q, want operation not permitted", e)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the database's mode after the confined plugin's chmod: %v %v, want 0600", fi.Mode(), err)
	}
	if e := got["capabilities"]; e == "" {
		t.Error("the confined plugin holds capabilities")
	}
	allowed := []string{"read " + given, "read /etc/hosts", "create " + filepath.Join(out, "allowed"), "temp file"}
	for _, name := range allowed {
		if e, ok := got[name]; !ok || e != "" {
			t.Errorf("confined, %s: error %q (made: %v), want success", name, e, ok)
		}
	}
	if _, err := os.Stat(filepath.Join(hostDir, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the confined plugin planted a file beside the database: %v", err)
	}
	if temp == "" || strings.HasPrefix(temp, os.TempDir()+"/snoop-") {
		t.Errorf("the confined plugin's temporary file is %q, want one in its own directory, not the host's %s", temp, os.TempDir())
	}

	// The host's own threads are not confined by what it started.
	if _, err := os.ReadFile(db); err != nil {
		t.Errorf("the host cannot read its own file after confining a plugin: %v", err)
	}

	got, temp = snoop(t, Sandbox{Mode: SandboxOff}, cfg)
	if temp != "" {
		os.Remove(temp) // in the host's temporary directory
	}
	os.Remove(filepath.Join(hostDir, "planted"))
	if os.Geteuid() == 0 && got["capabilities"] != "" {
		t.Errorf("unconfined (the control), run as root: %q, want the capabilities held", got["capabilities"])
	}
	for _, name := range append(denied, "chmod "+db) {
		if e := got[name]; e != "" {
			t.Errorf("unconfined (the control), %s: %q, want success", name, e)
		}
	}
}

// No confined plugin can reach the host's process: not signal it, not
// signal any of its threads (a thread of the host confined for the plugin
// would share the plugin's confinement, and the kernel would let the
// plugin signal it), and not take its open files, however many plugins
// have been started. Unconfined, the same plugin can do all three (the
// control).
func TestSandboxedPluginsCannotReachTheHost(t *testing.T) {
	if !SandboxSupported() {
		t.Skip("this system cannot confine plugins (no Landlock): " + ErrNoSandbox.Error())
	}
	if landlockABI() < 6 {
		t.Skip("this system's Landlock is older than version 6, which confines signals")
	}
	attempts := []string{"signal host", "signal a host thread", "take a host file"}
	for i := range 3 {
		got, _ := snoop(t, Sandbox{}, snoopConfig{ReachHost: true, PidMax: reach.PidMax()})
		for _, a := range attempts {
			if e := got[a]; !strings.Contains(e, "operation not permitted") {
				t.Errorf("confined plugin #%d, %s: %q, want operation not permitted", i+1, a, e)
			}
		}
	}
	got, _ := snoop(t, Sandbox{Mode: SandboxOff}, snoopConfig{ReachHost: true, PidMax: reach.PidMax()})
	for _, a := range attempts {
		if e, ok := got[a]; !ok || e != "" {
			t.Errorf("unconfined plugin (the control), %s: %q (made: %v), want success", a, e, ok)
		}
	}
}

// Where the system cannot confine plugins, a required sandbox fails the
// start with the reason, and the default (auto) runs the plugin with a
// warning.
func TestSandboxUnavailable(t *testing.T) {
	was := landlockABI
	landlockABI = func() int { return 0 }
	t.Cleanup(func() { landlockABI = was })

	sup := New(testOptions(slog.New(slog.DiscardHandler), modeSnoop))
	t.Cleanup(sup.Stop)
	spec := snooperSpec(emptyConfig, Sandbox{Mode: SandboxRequired})
	err := sup.Start(context.Background(), []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "plugins.sandbox is required: this system cannot confine plugins") {
		t.Fatalf("a required sandbox without Landlock: %v, want the reason", err)
	}

	rec := newLogRecorder()
	sup = New(testOptions(slog.New(rec), modeSnoop))
	t.Cleanup(sup.Stop)
	spec.Sandbox.Mode = SandboxAuto
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	if w := rec.waitFor(t, "plugin runs without a sandbox"); w.Level != slog.LevelWarn {
		t.Errorf("logged at %v, want a warning", w.Level)
	}
	if r := rec.waitFor(t, "plugin started"); r.values("sandbox")[0] != "unavailable" {
		t.Errorf("plugin started with sandbox=%v, want unavailable", r.values("sandbox"))
	}
}

// A path the sandbox lists that does not exist fails the start, naming
// it, rather than starting a plugin without what it was meant to have.
func TestSandboxMissingPath(t *testing.T) {
	if !SandboxSupported() {
		t.Skip("this system cannot confine plugins (no Landlock): " + ErrNoSandbox.Error())
	}
	sup := New(testOptions(slog.New(slog.DiscardHandler), modeSnoop))
	t.Cleanup(sup.Stop)
	missing := filepath.Join(t.TempDir(), "nope")
	spec := snooperSpec(emptyConfig, Sandbox{Read: []string{missing}})
	err := sup.Start(context.Background(), []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "cannot confine plugin helper: sandbox path "+missing+": no such file or directory") {
		t.Fatalf("a sandbox listing a missing path: %v, want it named", err)
	}
}

// BenchmarkPluginStart measures a plugin's start (spawn, handshake,
// metadata, Configure) and stop, unconfined (the yardstick) and confined:
// what the sandbox adds to a start.
func BenchmarkPluginStart(b *testing.B) {
	for _, mode := range []string{SandboxOff, SandboxRequired} {
		b.Run("sandbox="+mode, func(b *testing.B) {
			if mode == SandboxRequired && !SandboxSupported() {
				b.Skip(ErrNoSandbox.Error())
			}
			spec := snooperSpec(emptyConfig, Sandbox{Mode: mode})
			for b.Loop() {
				sup := New(testOptions(slog.New(slog.DiscardHandler), modeSnoop))
				if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
					b.Fatal(err)
				}
				sup.Stop()
			}
		})
	}
}

// A confined start that runs out of time before the trampoline reports
// fails, and leaves no process behind, rather than wait for the process
// forever.
func TestSandboxStartTimeout(t *testing.T) {
	if !SandboxSupported() {
		t.Skip("this system cannot confine plugins (no Landlock): " + ErrNoSandbox.Error())
	}
	opts := testOptions(slog.New(slog.DiscardHandler), modeSnoop)
	opts.StartTimeout = time.Millisecond
	sup := New(opts)
	t.Cleanup(sup.Stop)
	spec := snooperSpec(emptyConfig, Sandbox{})
	done := make(chan error, 1)
	go func() { done <- sup.Start(context.Background(), []Spec{spec}) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a start with 1 ms to go succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("a confined start that ran out of time did not return")
	}
	if kids := children(t); len(kids) > 0 {
		t.Errorf("processes left behind: %v", kids)
	}
}

// children lists the pids of this process's children, of all its threads.
func children(t *testing.T) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range tasks {
		data, _ := os.ReadFile(f)
		out = append(out, strings.Fields(string(data))...)
	}
	return out
}
