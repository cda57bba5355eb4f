package supervisor

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

// subscriberAuth is a signal receiver that also implements Authenticate,
// so that its metadata lists the authenticator capability; configured, it
// looks up the user its configuration names and logs what it got.
type subscriberAuth struct{}

func (subscriberAuth) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "subscriberauth", Version: "test", Subscriptions: []sdk.Subscription{{Signal: "user_logged_in"}}}
}

func (subscriberAuth) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	var cfg struct {
		Victim string `json:"victim"`
	}
	if err := req.DecodeConfig(&cfg); err != nil {
		return err
	}
	u, err := req.Host.Users().LookupUser(ctx, cfg.Victim)
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	sdk.Logger().Warn("looked up", "id", u.ID, "error", errText)
	return nil
}

func (subscriberAuth) Receive(context.Context, *sdk.Signal) error { return nil }

func (subscriberAuth) Authenticate(_ context.Context, _ *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	resp.Abstain("")
	return nil
}

// declaringHost is a test host that records what the supervisor declares
// the plugin to be.
type declaringHost struct {
	testHost
	mu            sync.Mutex
	authenticator []bool
}

func (h *declaringHost) Declare(authenticator bool, _ []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.authenticator = append(h.authenticator, authenticator)
}

func (h *declaringHost) declared() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.authenticator)
}

// A signal subscriber whose plugin also implements Authenticate is not
// declared an authenticator, so its host services answer no user lookup
// (docs/plugins.md: a subscriber gets no grant and no user lookups); the
// same plugin as a backend is one, also when started for an admin command.
func TestSubscriberIsNoAuthenticator(t *testing.T) {
	cfg := json.RawMessage(`{"victim": "alice"}`)
	for _, tc := range []struct {
		name string
		spec Spec
		want bool
	}{
		{"subscriber", Spec{Requires: []hostside.Capability{hostside.SignalReceiver}}, false},
		{"backend", Spec{AnyOf: BackendKinds(), Backend: true}, true},
		{"backend, for an admin command", Spec{Requires: []hostside.Capability{hostside.SignalReceiver}, Backend: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := &declaringHost{testHost: newTestHost()}
			spec := tc.spec
			spec.Name, spec.Plugin, spec.Config, spec.Host = "audit", "helper", cfg, host
			sup := New(testOptions(slog.New(slog.DiscardHandler), modeSubscriberAuth))
			t.Cleanup(sup.Stop)
			if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
				t.Fatal(err)
			}
			if got := host.declared(); !slices.Equal(got, []bool{tc.want}) {
				t.Errorf("declared an authenticator: %v, want [%v]", got, tc.want)
			}
		})
	}
}

// A plugin's log line cannot pass for another backend's: its fields named
// as the host's own are renamed. (Its level and message are its own to
// choose; TestRenameHostKeys covers fields named level, msg and time.)
func TestPluginCannotLogAsTheHost(t *testing.T) {
	var buf syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sup := New(testOptions(log, modeForgeLog))
	t.Cleanup(sup.Stop)
	spec := Spec{Name: "hostile", Plugin: "helper", Config: emptyConfig, Host: newTestHost(), AnyOf: BackendKinds(), Backend: true}
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	sup.Stop()
	var line string
	for l := range strings.Lines(buf.String()) {
		if strings.Contains(l, "login failed closed") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("the plugin's line is not in the host's log:\n%s", buf.String())
	}
	// Decoded, the last of a repeated key wins, as many log readers do.
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"backend": "hostile", "plugin": "helper", "level": "ERROR",
		"plugin.backend": "lockout", "plugin.plugin": "lockout", "plugin.logger": "host",
		"request_id": "r-1", "username": "alice",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v\nline: %s", k, got[k], v, line)
		}
	}
	if _, ok := got["logger"]; ok {
		t.Errorf("the line names a logger: %s", line)
	}
	for _, k := range []string{"backend", "plugin"} {
		if n := strings.Count(line, `"`+k+`":`); n != 1 {
			t.Errorf("the line has %q %d times, want once: %s", k, n, line)
		}
	}
}

// TestRenameHostKeys checks the rule on its own, with go-plugin's trailing
// timestamp.
func TestRenameHostKeys(t *testing.T) {
	got := renameHostKeys([]any{"timestamp", "t0", "k", "v", "time", "t", "timestamp", "t1"})
	want := []any{"plugin.timestamp", "t0", "k", "v", "plugin.time", "t", "timestamp", "t1"}
	if !slices.Equal(got, want) {
		t.Errorf("renameHostKeys = %v, want %v", got, want)
	}
	in := []any{"k", "v"}
	if got := renameHostKeys(in); &got[0] != &in[0] {
		t.Error("a line without host keys was copied")
	}
}

// A plugin that lists other capabilities after Configure than before is
// refused at its start; the order of the list does not matter.
func TestSameCapabilities(t *testing.T) {
	a, s, r := hostside.Authenticator, hostside.SignalReceiver, hostside.AttemptLimiter
	for _, tc := range []struct {
		before, after []hostside.Capability
		want          bool
	}{
		{[]hostside.Capability{a, s}, []hostside.Capability{s, a}, true},
		{[]hostside.Capability{a}, []hostside.Capability{a, a}, true},
		{nil, nil, true},
		{[]hostside.Capability{s}, []hostside.Capability{s, a}, false},
		{[]hostside.Capability{a, r}, []hostside.Capability{a}, false},
		{[]hostside.Capability{a}, []hostside.Capability{r}, false},
	} {
		if got := sameCapabilities(tc.before, tc.after); got != tc.want {
			t.Errorf("sameCapabilities(%v, %v) = %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
}

// An answer larger than the host takes in one message is refused by gRPC
// before the host holds it (go-plugin would take 2 GiB).
func TestHugeAnswerRefused(t *testing.T) {
	sup := New(testOptions(slog.New(slog.DiscardHandler), modeHugeAnswer))
	t.Cleanup(sup.Stop)
	spec := Spec{Name: "huge", Plugin: "helper", Config: emptyConfig, Host: newTestHost(), AnyOf: BackendKinds(), Backend: true}
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	var resp sdk.AuthenticateResponse
	err := sup.Instance("huge").Authenticator().Authenticate(context.Background(), &sdk.AuthenticateRequest{RequestID: "r", Username: "alice"}, &resp)
	if err == nil || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("a %d-byte answer: err = %v, want gRPC's refusal of a message larger than the host takes", hugeAnswer, err)
	}
	if resp.Description != "" {
		t.Errorf("the answer's description reached the host: %d bytes", len(resp.Description))
	}
}
