package supervisor

// The supervisor's tests run real plugin processes. Their executable is
// this test binary: init serves helperPlugin instead of running tests when
// go-plugin started the binary (the handshake cookie is set) and either the
// last two arguments are helperArg and a mode (a first-party plugin, see
// helperCommand) or the executable's name is helperArg-<mode> (an external
// plugin, which gets no arguments; see helperExternal). The mode is not
// passed in the environment because the supervisor gives plugins an
// allowlisted one. init runs before any TestMain, so this works whatever
// TestMain the package's test files have.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

const helperArg = "portcullis-supervisor-test-plugin"

// The helper plugin's modes.
const (
	// modeLog logs a warning with attributes when configured.
	modeLog = "log"
	// modeCrash exits crashAfter after being configured.
	modeCrash = "crash"
	// modeSelfHash logs, when configured, the SHA-256 of the program the
	// kernel runs (/proc/self/exe) as exe_sha256.
	modeSelfHash = "selfhash"
	// modeAuthReq serves authReqHelper, an authorization-request backend
	// and nothing else.
	modeAuthReq = "authreq"
	// modeRedirect serves redirectHelper, a redirect authenticator and
	// nothing else.
	modeRedirect = "redirect"
	// modeForgeLog logs, when configured, a line whose fields are named as
	// the host's own (backend, plugin, logger).
	modeForgeLog = "forgelog"
	// modeSubscriberAuth serves subscriberAuth: a signal receiver that
	// also implements Authenticate, and looks a user up when configured.
	modeSubscriberAuth = "subscriberauth"
	// modeHugeAnswer denies every login with a description of hugeAnswer
	// bytes.
	modeHugeAnswer = "hugeanswer"
	// modeSnoop serves snooper: a backend that, configured, tries to
	// reach files it was not given.
	modeSnoop = "snoop"
)

// hugeAnswer is the size of a modeHugeAnswer description: over the bound
// of any one message the host takes from a plugin.
const hugeAnswer = 5 << 20

// Modes in which the helper never reaches sdk.Serve, as a plugin whose
// main fails does (see beforeServe).
const (
	// modePanic panics.
	modePanic = "panic"
	// modeExit writes a line to standard output and one to standard
	// error, and exits with status 3.
	modeExit = "exit"
	// modeChatty writes a megabyte to each stream, then exits with 4.
	modeChatty = "chatty"
	// modeNotPlugin writes a line that is not a handshake to standard
	// output and waits to be killed.
	modeNotPlugin = "notplugin"
)

// crashAfter is how long a modeCrash plugin lives after Configure: long
// enough for the host to finish starting it, far below stableAfter.
const crashAfter = 400 * time.Millisecond

func init() {
	if mode, ok := helperMode(); ok {
		beforeServe(mode)
		if mode == modeAuthReq {
			sdk.Serve(authReqHelper{}) // never returns
		}
		if mode == modeRedirect {
			sdk.Serve(redirectHelper{}) // never returns
		}
		if mode == modeSubscriberAuth {
			sdk.Serve(subscriberAuth{}) // never returns
		}
		if mode == modeSnoop {
			sdk.Serve(snooper{}) // never returns
		}
		sdk.Serve(&helperPlugin{mode: mode}) // never returns
	}
}

// beforeServe fails the way the mode says, before sdk.Serve.
func beforeServe(mode string) {
	switch mode {
	case modePanic:
		panic("helper: panicking before sdk.Serve")
	case modeExit:
		fmt.Println("helper: a line on standard output")
		fmt.Fprintln(os.Stderr, "helper: a line on standard error")
		os.Exit(3)
	case modeChatty:
		for i := range 1 << 14 {
			fmt.Printf("helper: stdout line %05d %s\n", i, strings.Repeat("o", 48))
			fmt.Fprintf(os.Stderr, "helper: stderr line %05d %s\n", i, strings.Repeat("e", 48))
		}
		fmt.Println("helper: last on standard output")
		fmt.Fprintln(os.Stderr, "helper: last on standard error \x1b[31mred\x1b[0m")
		os.Exit(4)
	case modeNotPlugin:
		fmt.Println("hello from a program that is not a plugin")
		time.Sleep(time.Minute)
		os.Exit(5)
	}
}

func helperMode() (string, bool) {
	if os.Getenv(hostside.Handshake.MagicCookieKey) != hostside.Handshake.MagicCookieValue {
		return "", false
	}
	if n := len(os.Args); n >= 3 && os.Args[n-2] == helperArg {
		return os.Args[n-1], true
	}
	if mode, ok := strings.CutPrefix(filepath.Base(os.Args[0]), helperArg+"-"); ok {
		return mode, true
	}
	return "", false
}

// helperCommand is Options.BuiltinCommand running the helper plugin in the
// given mode. "-test.run=^$" keeps the binary from running tests should
// init ever not recognise the arguments.
func helperCommand(mode string) func(string) (*exec.Cmd, error) {
	return func(string) (*exec.Cmd, error) {
		return exec.Command(os.Args[0], "-test.run=^$", helperArg, mode), nil
	}
}

// helperExternal returns the path and checksum of an external plugin that
// runs the helper plugin in the given mode: a copy of this test binary
// named after the mode, which only this user can change.
func helperExternal(t *testing.T, mode string) (path, sum string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), helperArg+"-"+mode)
	if err := os.WriteFile(path, bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if sum, err = Checksum(path); err != nil {
		t.Fatal(err)
	}
	return path, sum
}

type helperPlugin struct{ mode string }

func (p *helperPlugin) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "helper", Version: "test"}
}

func (p *helperPlugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	if err := req.DecodeConfig(&struct{}{}); err != nil {
		return err // any setting is unknown
	}
	switch p.mode {
	case modeLog:
		sdk.Logger().Warn("helper configured", "instance", req.Instance, "answer", 42)
	case modeSelfHash:
		exe, err := os.ReadFile("/proc/self/exe")
		if err != nil {
			return err
		}
		sdk.Logger().Warn("helper configured", "exe_sha256", sha256Hex(string(exe)))
	case modeForgeLog:
		sdk.Logger().Error("login failed closed", "backend", "lockout", "plugin", "lockout",
			"logger", "host", "request_id", "r-1", "username", "alice")
	case modeCrash:
		go func() {
			time.Sleep(crashAfter)
			os.Exit(3)
		}()
	}
	return nil
}

func (p *helperPlugin) Authenticate(_ context.Context, _ *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	if p.mode == modeHugeAnswer {
		resp.Deny("permission_denied", 0)
		resp.Description = strings.Repeat("a", hugeAnswer)
		return nil
	}
	resp.Abstain("")
	return nil
}

// logRecorder is a slog.Handler that keeps every record with the
// attributes its logger was given, flattened to key/value pairs in order.
type logRecorder struct {
	store *logStore
	attrs []slog.Attr
}

type logStore struct {
	mu      sync.Mutex
	records []logRecord
}

type logRecord struct {
	Time    time.Time
	Level   slog.Level
	Message string
	Attrs   []slog.Attr
}

func newLogRecorder() *logRecorder { return &logRecorder{store: &logStore{}} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Time: r.Time, Level: r.Level, Message: r.Message, Attrs: append([]slog.Attr{}, h.attrs...)}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs = append(rec.Attrs, a)
		return true
	})
	h.store.mu.Lock()
	h.store.records = append(h.store.records, rec)
	h.store.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorder{store: h.store, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
}

// WithGroup is not needed by the code under test.
func (h *logRecorder) WithGroup(string) slog.Handler { return h }

func (h *logRecorder) records() []logRecord {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	return append([]logRecord{}, h.store.records...)
}

// waitFor polls the log until a record with the message appears.
func (h *logRecorder) waitFor(t *testing.T, msg string) logRecord {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, r := range h.records() {
			if r.Message == msg {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log record %q in time", msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// values returns the values of the attributes named key, in order.
func (r logRecord) values(key string) []string {
	var vs []string
	for _, a := range r.Attrs {
		if a.Key == key {
			vs = append(vs, a.Value.String())
		}
	}
	return vs
}

func testOptions(log *slog.Logger, mode string) Options {
	return Options{
		StartTimeout:   30 * time.Second,
		BackoffMin:     50 * time.Millisecond,
		BackoffMax:     time.Second,
		StopGrace:      5 * time.Second,
		Logger:         log,
		BuiltinCommand: helperCommand(mode),
	}
}

var emptyConfig = json.RawMessage("{}")

// testHost is an in-memory host that the supervisor can tell what a
// plugin is.
type testHost struct{ *sdktest.MemoryHost }

func (testHost) Declare(bool, []string) {}

func newTestHost() testHost { return testHost{sdktest.NewMemoryHost()} }

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
