package mobiledevice

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
	"github.com/portcullis-auth/portcullis/testkit/notrace"
	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

// TestMain fails the package if its plugins leave a socket behind.
func TestMain(m *testing.M) { os.Exit(notrace.Run("pcmd-", m.Run)) }

// t0 is the tests' time.
var t0 = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

// logBuffer is a plugin log the tests read.
type logBuffer = syncbuf.Buffer

// quiet returns a new plugin whose log is dropped.
func quiet() *Plugin {
	p := New()
	p.log = slog.New(slog.DiscardHandler)
	return p
}

// rig is a configured plugin served in-process on a MemoryHost, with a
// clock the test moves and a log it reads.
type rig struct {
	t     *testing.T
	host  *sdktest.MemoryHost
	clock *sdktest.Clock
	log   *logBuffer
	admin sdk.Admin
	auth  sdk.Authenticator
	b     sdk.AuthorizationRequestBackend
}

// newRig starts a plugin with config (nil for {}).
func newRig(t *testing.T, config json.RawMessage) *rig {
	g := &rig{t: t, host: sdktest.NewMemoryHost(), clock: sdktest.NewClock(t0), log: &logBuffer{}}
	g.host.SetClock(g.clock.Now)
	g.start(config)
	return g
}

// start serves another plugin (another host) on the rig's storage, clock
// and log, and makes it the rig's.
func (g *rig) start(config json.RawMessage) {
	p := New()
	p.log = slog.New(slog.NewJSONHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p.now = g.clock.Now
	remote := sdktest.Start(g.t, p, config, g.host)
	g.admin, g.auth, g.b = remote.Admin(), remote.Authenticator(), remote.AuthorizationRequestBackend()
}

// run runs an admin command with args (JSON-encoded) and secret.
func (g *rig) run(command string, args any, secret string) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		g.t.Fatal(err)
	}
	var resp sdk.AdminResponse
	err = g.admin.Admin(context.Background(), &sdk.AdminRequest{Command: command, Args: raw, Secret: secret}, &resp)
	return resp.Result, err
}

// must runs a command that must succeed and decodes its result into out.
func (g *rig) must(command string, args any, secret string, out any) {
	g.t.Helper()
	raw, err := g.run(command, args, secret)
	if err != nil {
		g.t.Fatalf("%s: %v", command, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			g.t.Fatalf("%s: result %s: %v", command, raw, err)
		}
	}
}

// register registers a device with args, which must succeed.
func (g *rig) register(args map[string]any) registerResult {
	g.t.Helper()
	var out registerResult
	g.must(CommandRegister, args, "", &out)
	return out
}

// tokenDevice registers a token device id of the user and returns its
// token.
func (g *rig) tokenDevice(userID, username, id string) string {
	g.t.Helper()
	r := g.register(map[string]any{"user_id": userID, "username": username, "device_id": id, "name": "phone of " + username})
	if r.DeviceToken == "" || r.KeyType != KeyToken {
		g.t.Fatalf("register %s: %+v", id, r)
	}
	return r.DeviceToken
}

// view returns device id as device_get shows it.
func (g *rig) view(id string) view {
	g.t.Helper()
	var v view
	g.must(CommandGet, map[string]any{"device_id": id}, "", &v)
	return v
}

// record returns device id's stored record.
func (g *rig) record(id string) device {
	g.t.Helper()
	e, err := g.host.Storage().Get(context.Background(), deviceKey(id))
	if err != nil {
		g.t.Fatal(err)
	}
	d, err := decodeDevice(e.Value)
	if err != nil {
		g.t.Fatal(err)
	}
	return *d
}

// contains reports whether any of the texts holds s.
func contains(s string, texts ...string) bool {
	for _, t := range texts {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// jsonDecode decodes raw into out.
func jsonDecode(raw []byte, out any) error { return json.Unmarshal(raw, out) }
