package sdktest

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// Start serves p in this process, against host (nil means a new
// MemoryHost), and returns the host's view of it after Configure with the
// instance name "test" and config (nil means "{}"). A Configure error
// fails the test: to test configuration errors, use StartUnconfigured and
// call the returned value's Configure(ctx, instance, config) yourself.
// Everything is stopped when the test ends.
func Start(t testing.TB, p sdk.Plugin, config json.RawMessage, host sdk.Host) *hostside.Remote {
	t.Helper()
	r := StartUnconfigured(t, p, host)
	if config == nil {
		config = json.RawMessage("{}")
	}
	if err := r.Configure(context.Background(), "test", config); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return r
}

// StartUnconfigured is Start without the Configure call.
func StartUnconfigured(t testing.TB, p sdk.Plugin, host sdk.Host) *hostside.Remote {
	t.Helper()
	if host == nil {
		host = NewMemoryHost()
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc, stopped, err := wire.ServeInProcess(ctx, p)
	if err != nil {
		cancel()
		t.Fatalf("serving plugin: %v", err)
	}
	c := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  hostside.Handshake,
		Plugins:          hostside.PluginSet(host),
		Reattach:         rc,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	var remote *hostside.Remote
	t.Cleanup(func() {
		cancel()
		<-stopped
		// go-plugin's Kill does nothing for a plugin served in-process:
		// close the connection (and the host's services) first.
		if proto, err := c.Client(); err == nil {
			_ = proto.Close()
		}
		c.Kill()
		if remote != nil {
			select { // its socket is removed once it has stopped
			case <-remote.HostServicesStopped():
			case <-time.After(5 * time.Second):
			}
		}
	})
	proto, err := c.Client()
	if err != nil {
		t.Fatalf("connecting to plugin: %v", err)
	}
	raw, err := proto.Dispense(hostside.PluginName)
	if err != nil {
		t.Fatalf("dispensing plugin: %v", err)
	}
	remote = raw.(*hostside.Remote)
	return remote
}
