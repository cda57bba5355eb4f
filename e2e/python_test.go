package e2e

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The Python example (examples/python): a backend written without the Go
// SDK, run by a real host through its launcher, registered by path and
// sha256 like any external plugin. See docs/plugin-protocol.md.

// pythonInterpreter is the interpreter the example's launcher runs.
const pythonInterpreter = "/usr/bin/python3"

// requirePython skips the test unless the interpreter has the packages the
// example needs.
func requirePython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pythonInterpreter, "-I", "-B", "-c", "import grpc, google.protobuf, cryptography").CombinedOutput()
	if err != nil {
		t.Skipf("the Python example needs %s with grpc, google.protobuf and cryptography (Debian: apt-get install python3-grpcio python3-protobuf python3-cryptography): %v\n%s", pythonInterpreter, err, out)
	}
}

var pythonBuild struct {
	sync.Mutex
	bin string
}

// pythonPlugin builds the example's launcher once, next to the other
// binaries, and returns its path.
func pythonPlugin(t *testing.T) string {
	t.Helper()
	pythonBuild.Lock()
	defer pythonBuild.Unlock()
	if pythonBuild.bin != "" {
		return pythonBuild.bin
	}
	// go test caches a result by the files the test itself reads, not by
	// what go build reads: reading the sources makes a change to them run
	// the test again.
	for _, f := range []string{"main.go", "backend.py", "plugin_pb2.py"} {
		if _, err := os.ReadFile(filepath.Join("../examples/python", f)); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(filepath.Dir(portcullisBin), "portcullis-pyusers")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/python").CombinedOutput(); err != nil {
		t.Fatalf("building the Python example's launcher: %v\n%s", err, out)
	}
	// Whatever the umask: the host refuses a plugin others can change.
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	pythonBuild.bin = bin
	return bin
}

// pbkdf2Hash is a password hash in the example's format, made by Go: the
// backend must check what any correct implementation makes.
func pbkdf2Hash(t *testing.T, password, salt string, iterations int) string {
	t.Helper()
	dk, err := pbkdf2.Key(sha256.New, password, []byte(salt), iterations, 32)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iterations, salt, base64.StdEncoding.EncodeToString(dk))
}

// pythonConfig writes a host configuration whose chain is the Python
// backend "py", with users, then the first-party password backend.
func pythonConfig(t *testing.T, dir, bin, users string) string {
	t.Helper()
	sum := strings.Fields(mustRun(t, writeConfig(t, dir, ""), "", "plugins", "checksum", bin))[0]
	return writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: py
    plugin: %s
    sha256: %s
    config: {users: %s}
  - name: local
    plugin: password
`, bin, sum, users))
}

// logLines returns the host's JSON log lines whose msg is msg.
func logLines(out, msg string) []map[string]any {
	var found []map[string]any
	for _, line := range strings.Split(out, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == msg {
			found = append(found, e)
		}
	}
	return found
}

// pythonPID is the pid of the Python backend's process, from the host's
// "plugin started" line.
func pythonPID(t *testing.T, h *host) int {
	t.Helper()
	for _, e := range logLines(h.output(), "plugin started") {
		if e["backend"] == "py" {
			return int(e["pid"].(float64))
		}
	}
	t.Fatalf("the host did not start the Python backend:\n%s", h.output())
	return 0
}

func TestPythonBackend(t *testing.T) {
	requirePython(t)
	bin := pythonPlugin(t)
	dir := t.TempDir()
	const alicePassword = "py-alice-correct-horse"
	alice := pbkdf2Hash(t, alicePassword, "e2e-salt", 1000)
	cfg := pythonConfig(t, dir, bin, fmt.Sprintf(`{alice: %q}`, alice))

	// The host's checks of a configuration and of plugin files pass for
	// the launcher as for any compiled plugin.
	if out := mustRun(t, cfg, "", "config", "check"); !strings.Contains(out, "is valid") {
		t.Errorf("config check:\n%s", out)
	}
	list := mustRun(t, cfg, "", "plugins", "list")
	if !regexp.MustCompile(`(?m)^py +` + regexp.QuoteMeta(bin) + ` +external +ok$`).MatchString(list) {
		t.Errorf("plugins list does not show the Python backend as an external plugin whose file checks out:\n%s", list)
	}

	h := startHost(t, cfg)
	// carol is the host's own user, unknown to the Python backend.
	mustRun(t, cfg, "pw-carol\n", "users", "add", "carol", "--password-stdin")
	tests := []struct {
		user, password string
		status         int
		backend        string // that decided, or abstained last
	}{
		{"alice", alicePassword, 200, "py"},
		{"alice", "wrong", 401, "local"},
		{"carol", "pw-carol", 200, "local"},
		{"nobody", "x", 401, "local"},
	}
	for _, tt := range tests {
		r := h.login(tt.user, tt.password)
		if r.status != tt.status {
			t.Fatalf("%s with password %q: got %d %s, want %d", tt.user, tt.password, r.status, r.raw, tt.status)
		}
		if tt.status == 200 && (r.body["access_token"] == nil || r.body["token_type"] != "Bearer") {
			t.Fatalf("%s: no token: %s", tt.user, r.raw)
		}
		if tt.status == 401 && r.body["error"] != "invalid_credentials" {
			t.Fatalf("%s: got %s, want invalid_credentials", tt.user, r.raw)
		}
	}

	// SIGTERM stops the host, which stops the backend with SIGTERM: it
	// exits by itself, with status 0. (Had it ignored the signal, or hung,
	// the host would have killed it after the stop grace, and logged the
	// exit as an error.)
	pid := pythonPID(t, h)
	h.kill(syscall.SIGTERM)
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("host exit status after SIGTERM: %d\n%s", code, h.output())
	}
	if alive(pid) {
		t.Errorf("the Python backend (pid %d) outlived its host", pid)
	}
	exited := false
	for _, e := range logLines(h.output(), "plugin process exited") {
		if e["backend"] == "py" {
			exited = true
			if e["level"] != "INFO" || e["error"] != nil {
				t.Errorf("the Python backend did not exit cleanly: %v", e)
			}
		}
	}
	if !exited {
		t.Errorf("no exit of the Python backend in the host's log:\n%s", h.output())
	}

	// Who decided, from the host's debug log, login by login: the backend
	// that granted, or the last that abstained with a reason. Only alice's
	// right password stopped at the Python backend; the others went on.
	// (Read only now that the host has exited: its log reaches the test
	// through a pipe, and may lag behind the HTTP answers.)
	var decided []map[string]any
	for _, line := range strings.Split(h.output(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && (e["msg"] == "login succeeded" || e["msg"] == "login failed") {
			decided = append(decided, e)
		}
	}
	if len(decided) != len(tests) {
		t.Fatalf("%d logins decided in the host's log, want %d:\n%s", len(decided), len(tests), h.output())
	}
	for i, tt := range tests {
		if decided[i]["username"] != tt.user || decided[i]["backend"] != tt.backend {
			t.Errorf("login %d (%s): decided by %v, want %s", i, tt.user, decided[i]["backend"], tt.backend)
		}
	}
	if decided[0]["subject"] != "py:alice" {
		t.Errorf("the Python backend granted alice as %v, want py:alice (<backend>:<username>)", decided[0]["subject"])
	}
	// The backend's own log line reaches the host's log, at its level,
	// under the backend's name.
	configured := logLines(h.output(), "configured")
	if len(configured) != 1 || configured[0]["backend"] != "py" || configured[0]["level"] != "INFO" || configured[0]["users"] != float64(1) {
		t.Errorf("the backend's log line: %v, want one INFO line for py with users=1", configured)
	}
	if strings.Contains(h.output(), alicePassword) {
		t.Error("the host's log holds alice's password")
	}
}

// TestPythonBackendHashCommand: the launcher passes its arguments on, and
// the backend's hash command makes hashes that another implementation of
// PBKDF2 checks.
func TestPythonBackendHashCommand(t *testing.T) {
	requirePython(t)
	cmd := exec.Command(pythonPlugin(t), "hash")
	cmd.Stdin = strings.NewReader("hunter2\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	parts := strings.Split(strings.TrimSpace(string(out)), "$")
	if len(parts) != 4 || parts[0] != "pbkdf2_sha256" {
		t.Fatalf("hash printed %q, want pbkdf2_sha256$<iterations>$<salt>$<hash>", out)
	}
	iterations, err := strconv.Atoi(parts[1])
	if err != nil || iterations < 600_000 {
		t.Fatalf("hash printed %q: want at least 600000 iterations", out)
	}
	if want := pbkdf2Hash(t, "hunter2", parts[2], iterations); strings.TrimSpace(string(out)) != want {
		t.Fatalf("hash printed %q; PBKDF2 of that salt and count is %q", out, want)
	}
}

// TestPythonBackendConfigError: the backend refuses a bad configuration
// with an error naming each problem, and the host does not start.
func TestPythonBackendConfigError(t *testing.T) {
	requirePython(t)
	bin := pythonPlugin(t)
	dir := t.TempDir()
	cfg := pythonConfig(t, dir, bin, `{alice: "sha256$abc"}, tables: {}`)
	h, err := launch(t, cfg)
	if err == nil {
		t.Fatal("the host started with a configuration the Python backend refuses")
	}
	<-h.done
	out := h.output()
	for _, want := range []string{
		`backend "py"`,
		"configuring: invalid configuration: tables: unknown key (known: users); users.alice: must be pbkdf2_sha256$",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if h.cmd.ProcessState.ExitCode() == 0 {
		t.Error("the host exited 0")
	}
}

// TestPythonBackendDiesWithHost: the host asks the kernel to kill its
// plugins when it dies; the launcher's exec keeps that for Python.
func TestPythonBackendDiesWithHost(t *testing.T) {
	requirePython(t)
	cfg := pythonConfig(t, t.TempDir(), pythonPlugin(t), "{}")
	h := startHost(t, cfg)
	pid := pythonPID(t, h)
	h.kill(syscall.SIGKILL)
	waitFor(t, "the Python backend to die with its host", 10*time.Second, func() bool { return !alive(pid) })
}

// TestPythonPB2MatchesProto fails when examples/python/plugin_pb2.py was
// not regenerated after a change to plugin.proto. It compares what the two
// describe, not their text, so that another protoc version, which writes
// other Python, still passes.
func TestPythonPB2MatchesProto(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc is not installed (Debian: apt-get install protobuf-compiler)")
	}
	set := filepath.Join(t.TempDir(), "plugin.desc")
	if out, err := exec.Command(protoc, "-I", "../sdk/internal/pb", "--descriptor_set_out="+set, "../sdk/internal/pb/plugin.proto").CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(set)
	if err != nil {
		t.Fatal(err)
	}
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &fds); err != nil || len(fds.File) != 1 {
		t.Fatalf("protoc's descriptor set: %v (%d files)", err, len(fds.File))
	}
	want := fds.File[0]
	// A descriptor set carries each field's JSON name; the Python code's
	// descriptor does not.
	clearJSONNames(want.MessageType)

	src, err := os.ReadFile("../examples/python/plugin_pb2.py")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`AddSerializedFile\(b'((?:[^'\\]|\\.)*)'\)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("plugin_pb2.py holds no serialized descriptor")
	}
	serialized, err := pythonBytes(string(m[1]))
	if err != nil {
		t.Fatalf("plugin_pb2.py's serialized descriptor: %v", err)
	}
	var got descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(serialized, &got); err != nil {
		t.Fatalf("plugin_pb2.py's serialized descriptor: %v", err)
	}
	if !proto.Equal(&got, want) {
		t.Fatal("examples/python/plugin_pb2.py does not match sdk/internal/pb/plugin.proto: run sh examples/python/gen.sh")
	}
}

func clearJSONNames(msgs []*descriptorpb.DescriptorProto) {
	for _, m := range msgs {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		for _, f := range m.Extension {
			f.JsonName = nil
		}
		clearJSONNames(m.NestedType)
	}
}

// pythonBytes decodes the body of a Python bytes literal: its characters,
// and the escapes protoc writes (\n \r \t \\ \' \" \xHH and octal \ooo).
func pythonBytes(lit string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' {
			out = append(out, lit[i])
			continue
		}
		if i++; i == len(lit) {
			return nil, errors.New("ends with a backslash")
		}
		switch c := lit[i]; {
		case c == 'n':
			out = append(out, '\n')
		case c == 'r':
			out = append(out, '\r')
		case c == 't':
			out = append(out, '\t')
		case c == '\\' || c == '\'' || c == '"':
			out = append(out, c)
		case c == 'x' && i+2 < len(lit):
			v, err := strconv.ParseUint(lit[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("escape \\x%s: %v", lit[i+1:i+3], err)
			}
			out = append(out, byte(v))
			i += 2
		case c >= '0' && c <= '7':
			n := 1
			for n < 3 && i+n < len(lit) && lit[i+n] >= '0' && lit[i+n] <= '7' {
				n++
			}
			v, err := strconv.ParseUint(lit[i:i+n], 8, 8)
			if err != nil {
				return nil, fmt.Errorf("escape \\%s: %v", lit[i:i+n], err)
			}
			out = append(out, byte(v))
			i += n - 1
		default:
			return nil, fmt.Errorf("unknown escape \\%c", c)
		}
	}
	return out, nil
}
