package supervisor

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// OnCall is told of every call to a plugin process, so that the host can
// count them (portcullis_plugin_calls_total).
func TestCallsToAPluginAreCounted(t *testing.T) {
	var mu sync.Mutex
	counts := map[[3]string]int{}
	opts := testOptions(slog.New(slog.DiscardHandler), modeLog)
	opts.OnCall = func(instance, direction, method string) {
		mu.Lock()
		defer mu.Unlock()
		counts[[3]string{instance, direction, method}]++
	}
	s := New(opts)
	t.Cleanup(s.Stop)
	spec := Spec{Name: "counted", Plugin: "helper", Config: emptyConfig, Host: newTestHost(), Requires: []hostside.Capability{hostside.Authenticator}}
	if err := s.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	auth := s.Instance("counted").Authenticator()
	for range 7 {
		var resp sdk.AuthenticateResponse
		if err := auth.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "u"}, &resp); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := counts[[3]string{"counted", ToPlugin, "Authenticate"}]; got != 7 {
		t.Errorf("Authenticate calls counted: %d, want 7 (all counts: %v)", got, counts)
	}
	if got := counts[[3]string{"counted", ToPlugin, "Configure"}]; got != 1 {
		t.Errorf("Configure calls counted: %d, want 1", got)
	}
}
