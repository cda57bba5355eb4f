package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	// The binaries are built from these packages; importing them makes the
	// test cache key change whenever they do.
	_ "github.com/portcullis-auth/portcullis/host/cli"
	"github.com/portcullis-auth/portcullis/testkit/notrace"
	"github.com/portcullis-auth/portcullis/testkit/procstat"
	_ "github.com/portcullis-auth/portcullis/testkit/testplugin"
)

// Binaries built once for the whole package.
var (
	portcullisBin string
	scriptedBin   string
	receiverBin   string
)

func TestMain(m *testing.M) {
	os.Exit(notrace.Run("pce2e-", func() int { return buildAndRun(m) }))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portcullis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	portcullisBin = filepath.Join(dir, "portcullis")
	scriptedBin = filepath.Join(dir, "portcullis-scripted")
	receiverBin = filepath.Join(dir, "portcullis-receiver")
	for bin, pkg := range map[string]string{
		portcullisBin: "../cmd/portcullis",
		scriptedBin:   "../testkit/testplugin/cmd/portcullis-scripted",
		receiverBin:   "../testkit/testplugin/cmd/portcullis-receiver",
	} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			return 1
		}
		// Whatever the umask: the host refuses a plugin others can change.
		if err := os.Chmod(bin, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	code := m.Run()
	if err := startAndStopOneHost(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
	return code
}

// onDemand holds the binaries built the first time a test needs them.
var onDemand struct {
	sync.Mutex
	bins map[string]string
}

// builtOnDemand builds the package pkg (relative to e2e/) once, next to
// the other binaries, and returns its path.
func builtOnDemand(t testing.TB, pkg string) string {
	t.Helper()
	onDemand.Lock()
	defer onDemand.Unlock()
	if bin, ok := onDemand.bins[pkg]; ok {
		return bin
	}
	bin := filepath.Join(filepath.Dir(portcullisBin), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	if onDemand.bins == nil {
		onDemand.bins = map[string]string{}
	}
	onDemand.bins[pkg] = bin
	return bin
}

// host is one portcullis process under test.
type host struct {
	t      testing.TB
	cmd    *exec.Cmd
	url    string
	config string
	mu     sync.Mutex
	log    bytes.Buffer
	done   chan struct{}
}

// writeConfig writes a configuration file into a fresh directory and
// returns its path. The YAML gets a JSON log and an ephemeral port.
func writeConfig(t testing.TB, dir, yaml string) string {
	t.Helper()
	return writeConfigAt(t, dir, "debug", yaml)
}

// writeConfigAt is writeConfig with the host logging at level.
func writeConfigAt(t testing.TB, dir, level, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, "portcullis.yaml")
	full := "listen: 127.0.0.1:0\nlog: {format: json, level: " + level + "}\n" + yaml
	if !strings.Contains(yaml, "trusted_proxies:") {
		// The tests speak for their end users as an app or a proxy beside
		// the host would (the login's client field): trust the test
		// process, on loopback. A host trusts nobody by default.
		full += "\ntrusted_proxies: [127.0.0.1]\n"
	}
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startHost runs `portcullis serve --config path` and waits until it
// serves, or fails the test with its log.
func startHost(t testing.TB, configPath string) *host {
	t.Helper()
	h, err := launch(t, configPath)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// launch starts the host and waits for its "serving" line; on failure it
// returns the error and the host's output (launchEnv with the test's own
// environment).
func launch(t testing.TB, configPath string) (*host, error) {
	return launchEnv(t, configPath)
}

// environ is the test's environment changed by env: NAME=value sets a
// variable, a bare NAME unsets it.
func environ(env []string) []string {
	out := os.Environ()
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		kept := out[:0:0]
		for _, o := range out {
			if !strings.HasPrefix(o, name+"=") {
				kept = append(kept, o)
			}
		}
		out = kept
		if strings.Contains(e, "=") {
			out = append(out, e)
		}
	}
	return out
}

// launchEnv is launch with the environment changed by env (see environ),
// and with the host's stdout captured into its log as well as its stderr.
func launchEnv(t testing.TB, configPath string, env ...string) (*host, error) {
	h := &host{t: t, config: configPath, done: make(chan struct{})}
	h.cmd = exec.Command(portcullisBin, "serve", "--config", configPath)
	h.cmd.Dir = filepath.Dir(configPath)
	h.cmd.Env = environ(env)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	h.cmd.Stdout, h.cmd.Stderr = w, w
	if err := h.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	listening := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		_ = h.cmd.Wait()
		close(exited)
	}()
	go func() {
		defer close(h.done)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			h.mu.Lock()
			h.log.WriteString(line + "\n")
			h.mu.Unlock()
			var entry struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "portcullis is serving" {
				listening <- entry.Listen
			}
		}
		<-exited
	}()
	t.Cleanup(func() { h.kill(syscall.SIGKILL) })
	select {
	case addr := <-listening:
		h.url = "http://" + addr
		return h, nil
	case <-h.done:
		return h, fmt.Errorf("host exited before serving:\n%s", h.output())
	case <-time.After(60 * time.Second):
		h.kill(syscall.SIGKILL)
		return h, fmt.Errorf("host did not serve within 60s:\n%s", h.output())
	}
}

func (h *host) output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

// kill sends sig and waits for the process to exit.
func (h *host) kill(sig syscall.Signal) {
	if h.cmd.Process == nil {
		return
	}
	_ = h.cmd.Process.Signal(sig)
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		h.t.Errorf("host did not exit after %v", sig)
	}
}

// run runs a portcullis command against the host's configuration.
func run(t testing.TB, configPath, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(portcullisBin, append(args, "--config", configPath)...)
	cmd.Dir = filepath.Dir(configPath)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustRun is run that fails the test on error.
func mustRun(t testing.TB, configPath, stdin string, args ...string) string {
	t.Helper()
	out, err := run(t, configPath, stdin, args...)
	if err != nil {
		t.Fatalf("portcullis %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// post sends a raw body to path.
func (h *host) post(path, body string) response {
	h.t.Helper()
	resp, err := httpClient.Post(h.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	return readResponse(h.t, resp)
}

func (h *host) get(path string) response {
	h.t.Helper()
	resp, err := httpClient.Get(h.url + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return readResponse(h.t, resp)
}

func readResponse(t testing.TB, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// login posts a username and password.
func (h *host) login(username, password string) response {
	h.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	return h.post("/v1/login", string(body))
}

// metric returns the value of one series in the host's /metrics, such as
// `portcullis_signal_deliveries_total{subscriber="hook",result="delivered"}`
// (its labels in any order: the host writes them sorted by name); a series
// the host has not written yet is 0.
func (h *host) metric(series string) float64 {
	h.t.Helper()
	want := parseSeries(h.t, series)
	for _, smp := range h.scrapeMetrics().samples {
		if smp.name == want.name && maps.Equal(smp.labels, want.labels) {
			return smp.value
		}
	}
	return 0
}

// metricSum adds up every series of the metric name in the host's
// /metrics, whatever its labels.
func (h *host) metricSum(name string) float64 {
	h.t.Helper()
	r := h.get("/metrics")
	if r.status != 200 {
		h.t.Fatalf("GET /metrics: %d %s", r.status, r.raw)
	}
	var sum float64
	for _, line := range strings.Split(r.raw, "\n") {
		series, v, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		var f float64
		if _, err := fmt.Sscan(v, &f); err != nil {
			h.t.Fatalf("metric %s: %q: %v", series, v, err)
		}
		sum += f
	}
	return sum
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// childPIDs finds the processes whose parent is pid.
func childPIDs(t testing.TB, pid int) []int {
	pids, err := procstat.Children(pid)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// alive reports whether pid is a live process: a zombie (killed, waiting for
// its new parent to reap it) is not.
func alive(pid int) bool { return procstat.Alive(pid) }

// processesOf returns the live processes that run the file at path: as
// their executable, or, for a plugin the host runs from a copy of the file,
// as their argv[0].
func processesOf(t testing.TB, path string) []int {
	all, err := procstat.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range all {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if (exe == path || argv0 == path) && alive(p) {
			pids = append(pids, p)
		}
	}
	return pids
}

// pluginPID returns the pid of the host's plugin process whose command line
// mentions name (a first-party plugin's name or an external plugin's path).
func pluginPID(t testing.TB, hostPID int, name string) int {
	t.Helper()
	for _, pid := range childPIDs(t, hostPID) {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(raw), "\x00") {
			if arg == name {
				return pid
			}
		}
	}
	t.Fatalf("no plugin process %q under host %d", name, hostPID)
	return 0
}

// newRequest builds a JSON POST.
func newRequest(url, body string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, err
}

// emptyFile creates an empty file at path, for a plugin to write to, and
// returns path: a plugin's sandbox can name only a file that exists.
func emptyFile(t testing.TB, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
