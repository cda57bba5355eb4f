package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// goPluginTimeLayout is the layout go-plugin's host parses "@timestamp"
// with (parseJSON in go-plugin's log_entry.go). It is copied here rather
// than taken from the code under test so that the test notices a change.
const goPluginTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// TestHostLoggerLineParses checks a line from newHostLogger the way
// go-plugin's parseJSON reads it: a JSON object whose @timestamp parses with
// its layout and whose @level hclog recognises.
func TestHostLoggerLineParses(t *testing.T) {
	levels := []struct {
		level slog.Level
		want  hclog.Level
	}{
		{slog.LevelInfo, hclog.Info},
		{slog.LevelWarn, hclog.Warn},
		{slog.LevelError, hclog.Error},
		{slog.LevelInfo + 2, hclog.Info},
		{slog.LevelError + 4, hclog.Error},
	}
	for _, tc := range levels {
		var buf bytes.Buffer
		before := time.Now()
		newHostLogger(&buf).Log(context.Background(), tc.level, "hello", "user", "alice")
		var raw map[string]any
		if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
			t.Fatalf("line %q is not JSON: %v", buf.String(), err)
		}
		ts, ok := raw["@timestamp"].(string)
		if !ok {
			t.Fatalf("line %q has no string @timestamp", buf.String())
		}
		got, err := time.Parse(goPluginTimeLayout, ts)
		if err != nil {
			t.Fatalf("go-plugin cannot parse @timestamp %q: %v", ts, err)
		}
		if d := got.Sub(before); d < -time.Millisecond || d > time.Minute {
			t.Errorf("@timestamp %q is %v away from the time of the call", ts, d)
		}
		if lv := hclog.LevelFromString(fmt.Sprint(raw["@level"])); lv != tc.want {
			t.Errorf("slog level %v: @level %q reads as hclog level %v, want %v", tc.level, raw["@level"], lv, tc.want)
		}
		if raw["@message"] != "hello" || raw["user"] != "alice" {
			t.Errorf("line %q: want @message hello and user alice", buf.String())
		}
	}
}

// TestHostLoggerThroughGoPlugin runs lines written by newHostLogger through
// go-plugin's own host side (Client.logStderr), with a fake runner standing
// in for the plugin process, and checks that the host logger receives them
// parsed: message, level and attributes, not the raw JSON at debug level.
func TestHostLoggerThroughGoPlugin(t *testing.T) {
	stderrR, stderrW := io.Pipe()
	var hostOut syncBuffer
	c := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          goplugin.PluginSet{wire.PluginName: &grpcPlugin{}},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		SkipHostEnv:      true,
		Logger: hclog.New(&hclog.LoggerOptions{
			Output: &hostOut, JSONFormat: true, Level: hclog.Trace,
		}),
		RunnerFunc: func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
			handshake := fmt.Sprintf("%d|%d|tcp|127.0.0.1:1|grpc\n", goplugin.CoreProtocolVersion, ProtocolVersion)
			return &fakeRunner{stdout: io.NopCloser(strings.NewReader(handshake)), stderr: stderrR}, nil
		},
	})
	defer c.Kill()
	if _, err := c.Start(); err != nil {
		t.Fatalf("starting the fake plugin: %v", err)
	}

	log := newHostLogger(stderrW)
	log.Warn("quota low", "remaining", 3, slog.Group("user", "name", "alice"))
	log.Info("configured", "instance", "primary")
	log.Debug("not shown") // below the plugin logger's level
	stderrW.Close()
	for deadline := time.Now().Add(10 * time.Second); !c.Exited(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("go-plugin did not finish reading the fake plugin's stderr")
		}
	}

	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(hostOut.String()))
	for sc.Scan() {
		var entry map[string]any
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			t.Fatalf("host log line %q: %v", sc.Text(), err)
		}
		if msg, _ := entry["@message"].(string); strings.Contains(msg, "@message") {
			t.Errorf("a plugin line reached the host unparsed: %q", msg)
		}
		lines[fmt.Sprint(entry["@message"])] = entry
	}

	warn, ok := lines["quota low"]
	if !ok {
		t.Fatalf("host log has no parsed %q line:\n%s", "quota low", hostOut.String())
	}
	if warn["@level"] != "warn" {
		t.Errorf("%q logged at %v, want warn", "quota low", warn["@level"])
	}
	if warn["remaining"] != float64(3) {
		t.Errorf("%q: remaining = %v, want 3", "quota low", warn["remaining"])
	}
	if user, _ := warn["user"].(map[string]any); user["name"] != "alice" {
		t.Errorf("%q: user = %v, want the group {name: alice}", "quota low", warn["user"])
	}
	if ts, _ := warn["timestamp"].(string); ts == "" || strings.HasPrefix(ts, "0001-") {
		t.Errorf("%q: the plugin's timestamp was lost (%q)", "quota low", ts)
	}
	info, ok := lines["configured"]
	if !ok || info["@level"] != "info" || info["instance"] != "primary" {
		t.Errorf("host log line for %q = %v, want level info and instance primary", "configured", info)
	}
	if _, ok := lines["not shown"]; ok {
		t.Errorf("a debug line passed the plugin logger's info level")
	}
}

// fakeRunner is a plugin "process" that prints a handshake on stdout and
// whatever the test writes on stderr, and ends when stderr is closed.
type fakeRunner struct {
	stdout, stderr io.ReadCloser
}

func (r *fakeRunner) Start(context.Context) error     { return nil }
func (r *fakeRunner) Diagnose(context.Context) string { return "" }
func (r *fakeRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *fakeRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *fakeRunner) Name() string                    { return "fake-plugin" }
func (r *fakeRunner) Wait(context.Context) error      { return nil }
func (r *fakeRunner) Kill(context.Context) error      { return r.stderr.Close() }
func (r *fakeRunner) ID() string                      { return "fake" }
func (r *fakeRunner) PluginToHost(n, a string) (string, string, error) {
	return n, a, nil
}
func (r *fakeRunner) HostToPlugin(n, a string) (string, string, error) {
	return n, a, nil
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestHostLoggerKeepsItsOwnKeys: an attribute named as one of the line's
// own keys does not become the line's message, level or time; it is
// written as plugin.<name>. Inside a group it is left alone.
func TestHostLoggerKeepsItsOwnKeys(t *testing.T) {
	var buf bytes.Buffer
	log := newHostLogger(&buf)
	log.With("msg", "from With").Warn("saved", "level", 3, "time", "noon", "@level", "error", "@message", "m", "user", "alice")
	log.WithGroup("g").Warn("grouped", "level", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, k := range []string{`"@message":`, `"@level":`, `"@timestamp":`} {
		if n := strings.Count(lines[0], k); n != 1 {
			t.Errorf("%s %d times in %s", k, n, lines[0])
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@message": "saved", "@level": "warn", "user": "alice",
		"plugin.msg": "from With", "plugin.level": float64(3), "plugin.time": "noon",
		"plugin.@level": "error", "plugin.@message": "m",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v\nline: %s", k, got[k], v, lines[0])
		}
	}
	var grouped map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &grouped); err != nil {
		t.Fatal(err)
	}
	if g, _ := grouped["g"].(map[string]any); g["level"] != float64(1) || grouped["@level"] != "warn" {
		t.Errorf("grouped line: %s, want g.level 1 at warn", lines[1])
	}
}
