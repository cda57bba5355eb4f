package lockout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/client"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// harness runs the plugin over real gRPC against a MemoryHost with a
// settable clock, and plays the host's part: it sends each login's outcome
// back as the signal the host would send.
type harness struct {
	t      *testing.T
	host   *sdktest.MemoryHost
	remote *client.Remote
	auth   sdk.Authenticator
	recv   sdk.SignalReceiver
	clock  *fakeClock
	config string
	seq    *atomic.Int64
	// name tells request ids of several instances on one host apart.
	name string
	// logs holds the plugin's log lines, at every level.
	logs *logBuffer
}

// logBuffer collects a plugin's log lines as JSON; the plugin writes from
// its gRPC goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// fakeClock is the settable clock shared by the plugin and its host; it is
// read from the plugin's and the host's gRPC goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newHarness(t *testing.T, config string) *harness {
	t.Helper()
	return newHarnessOn(t, config, nil, nil)
}

// newHarnessOn starts a plugin instance on host with clock (new ones when
// nil): two harnesses on one host are two hosts sharing one database.
func newHarnessOn(t *testing.T, config string, host *sdktest.MemoryHost, clock *fakeClock) *harness {
	t.Helper()
	if clock == nil {
		clock = newClock()
	}
	if host == nil {
		host = sdktest.NewMemoryHost()
		host.SetClock(clock.now)
	}
	h := &harness{t: t, host: host, clock: clock, config: config, seq: new(atomic.Int64), name: "req", logs: &logBuffer{}}
	p := New()
	p.now = clock.now
	p.log = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of plugin instance %s:\n%s", h.name, h.logs)
		}
	})
	r := sdktest.Start(t, p, json.RawMessage(config), host)
	h.remote, h.auth, h.recv = r, r.Authenticator(), r.SignalReceiver()
	return h
}

// second starts another plugin instance with the same configuration on
// the same host and clock: another host on the same database.
func (h *harness) second() *harness {
	h.t.Helper()
	o := newHarnessOn(h.t, h.config, h.host, h.clock)
	o.seq = h.seq
	o.name = "req2"
	return o
}

func (h *harness) advance(d time.Duration) { h.clock.add(d) }
func (h *harness) now() time.Time          { return h.clock.now() }

// Outcomes the rest of the chain can give an attempt the lockout let
// through.
type outcome int

const (
	wrongPassword outcome = iota
	rightPassword
	deniedByOther
	backendDown
)

func (o outcome) String() string {
	return [...]string{"wrong password", "right password", "denied by another backend", "backend down"}[o]
}

// attempt is one login from a client.
type attempt struct {
	user, ip, ua string
}

// begin sends one login to the lockout and returns its request id and
// answer, without the outcome.
func (h *harness) begin(a attempt) (string, sdk.AuthenticateResponse, error) {
	id := fmt.Sprintf("%s-%d", h.name, h.seq.Add(1))
	req := &sdk.AuthenticateRequest{RequestID: id, Username: a.user, Password: "pw", Client: sdk.Client{IP: a.ip, UserAgent: a.ua}, Path: "/v1/login"}
	var resp sdk.AuthenticateResponse
	if err := h.auth.Authenticate(context.Background(), req, &resp); err != nil {
		return id, resp, fmt.Errorf("Authenticate: %w", err)
	}
	return id, resp, nil
}

// outcomeSignal is the signal the host sends for request id's outcome.
func outcomeSignal(a attempt, id string, o outcome) sdk.SignalArgs {
	facts := sdk.ClientFacts{ClientIP: a.ip, UserAgent: a.ua}
	switch o {
	case wrongPassword:
		return &sdk.UserLoginFailed{Username: a.user, ClientFacts: facts, Backend: "local", Reason: sdk.ReasonInvalidCredentials, RequestID: id}
	case rightPassword:
		return &sdk.UserLoggedIn{UserID: "u-" + a.user, Username: a.user, UserType: "user", ClientFacts: facts, Backend: "local", SessionID: sessionOf(id), RequestID: id}
	case deniedByOther:
		return &sdk.UserLoginFailed{Username: a.user, ClientFacts: facts, Backend: "gate", Reason: "banned", RequestID: id}
	default:
		return &sdk.UserLoginUnavailable{Username: a.user, ClientFacts: facts, Backend: "local", RequestID: id}
	}
}

// sessionOf is the session id a successful login of request id gets.
func sessionOf(id string) string { return "s-" + id }

// finish delivers the outcome o of request id.
func (h *harness) finish(a attempt, id string, o outcome) error {
	return h.sendErr(outcomeSignal(a, id, o), "local")
}

// tryErr is try for goroutines: it reports failures instead of stopping
// the test.
func (h *harness) tryErr(a attempt, o outcome) (sdk.AuthenticateResponse, error) {
	id, resp, err := h.begin(a)
	if err != nil || resp.Decision != sdk.DecisionAbstain {
		return resp, err
	}
	return resp, h.finish(a, id, o)
}

// try runs one login: the lockout's answer, and when it abstains, the
// outcome's signal. It returns the lockout's response.
func (h *harness) try(a attempt, o outcome) sdk.AuthenticateResponse {
	h.t.Helper()
	resp, err := h.tryErr(a, o)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// tryN runs n logins with outcome o and fails the test if any is locked
// out.
func (h *harness) tryN(a attempt, o outcome, n int) {
	h.t.Helper()
	for i := 1; i <= n; i++ {
		if r := h.try(a, o); r.Decision != sdk.DecisionAbstain {
			h.t.Fatalf("%+v, attempt %d of %d (%v): %v %s, want it let through", a, i, n, o, r.Decision, r.Reason)
		}
	}
}

// login runs a successful login and returns its session id.
func (h *harness) login(a attempt) string {
	h.t.Helper()
	id, resp, err := h.begin(a)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.Decision != sdk.DecisionAbstain {
		h.t.Fatalf("login of %+v: %v %s, want it let through", a, resp.Decision, resp.Reason)
	}
	if err := h.finish(a, id, rightPassword); err != nil {
		h.t.Fatal(err)
	}
	return sessionOf(id)
}

// sendErr delivers a signal to the plugin as the host would.
func (h *harness) sendErr(args sdk.SignalArgs, sender string) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	sig := &sdk.Signal{ID: fmt.Sprintf("sig-%d", h.seq.Add(1)), Name: args.SignalName(), Sender: sender, Time: h.now(), Args: raw}
	if err := h.recv.Receive(context.Background(), sig); err != nil {
		return fmt.Errorf("Receive %s: %w", sig.Name, err)
	}
	return nil
}

// send delivers a signal to the plugin as the host would.
func (h *harness) send(args sdk.SignalArgs, sender string) {
	h.t.Helper()
	if err := h.sendErr(args, sender); err != nil {
		h.t.Fatal(err)
	}
}

// settings are the harness's configuration as the admin functions see it.
func (h *harness) settings() *Settings {
	h.t.Helper()
	s, err := ParseConfig(json.RawMessage(h.config))
	if err != nil {
		h.t.Fatalf("ParseConfig: %v", err)
	}
	return s
}

// attempts lists the live counters.
func (h *harness) attempts() []Attempt {
	h.t.Helper()
	list, err := ListAttempts(context.Background(), h.host, h.settings())
	if err != nil {
		h.t.Fatalf("ListAttempts: %v", err)
	}
	return list
}

// counters lists the live counters as "group|username|ip|ua=failures",
// sorted.
func (h *harness) counters() []string {
	h.t.Helper()
	var out []string
	for _, a := range h.attempts() {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s=%d", a.Group, a.Username, a.IPAddress, a.UserAgent, a.Failures))
	}
	sort.Strings(out)
	return out
}

// attempt returns the counter of group with the values of a, if any.
func (h *harness) counter(group string, a attempt) (Attempt, bool) {
	h.t.Helper()
	g := Group(strings.Split(group, "+"))
	for _, at := range h.attempts() {
		if at.Group != group {
			continue
		}
		if (g.Has(FieldUsername) && at.Username != a.user) ||
			(g.Has(FieldIPAddress) && at.IPAddress != a.ip) ||
			(g.Has(FieldUserAgent) && at.UserAgent != a.ua) {
			continue
		}
		return at, true
	}
	return Attempt{}, false
}

// failures is the count of group's counter for a (0 when there is none).
func (h *harness) failures(group string, a attempt) int64 {
	h.t.Helper()
	at, _ := h.counter(group, a)
	return at.Failures
}

// logLines returns the plugin's log lines so far, each decoded from JSON.
func (h *harness) logLines() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for line := range strings.Lines(h.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			h.t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// entries lists the live storage entries under prefix.
func (h *harness) entries(prefix string) []sdk.Entry {
	h.t.Helper()
	list, err := h.host.List(context.Background(), prefix)
	if err != nil {
		h.t.Fatalf("List %q: %v", prefix, err)
	}
	return list
}

// lockouts returns the user_locked_out signals emitted so far.
func (h *harness) lockouts() []sdk.UserLockedOut {
	h.t.Helper()
	var out []sdk.UserLockedOut
	for _, s := range h.host.Emitted() {
		if s.Name != "user_locked_out" {
			continue
		}
		var a sdk.UserLockedOut
		if err := s.Decode(&a); err != nil {
			h.t.Fatalf("decoding %s: %v", s.Name, err)
		}
		out = append(out, a)
	}
	return out
}

// locked reports whether the response is a lockout.
func locked(r sdk.AuthenticateResponse) bool {
	return r.Decision == sdk.DecisionDeny && r.Reason == sdk.ReasonLockedOut
}

// abstained reports whether the lockout let the attempt through.
func abstained(r sdk.AuthenticateResponse) bool {
	return r.Decision == sdk.DecisionAbstain
}

// describe prints a response for failure messages.
func describe(r sdk.AuthenticateResponse) string {
	return fmt.Sprintf("{%v %q status=%d retry=%v details=%v desc=%q}", r.Decision, r.Reason, r.HTTPStatus, r.RetryAfter, r.Details, r.Description)
}
