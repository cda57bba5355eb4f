package password

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

func TestGCPercent(t *testing.T) {
	for _, tt := range []struct{ slots, want int }{
		{0, 600}, {1, 600}, {2, 300}, {3, 200}, {4, 150}, {6, 100}, {8, 100}, {64, 100},
	} {
		if got := gcPercent(tt.slots); got != tt.want {
			t.Errorf("gcPercent(%d) = %d, want %d", tt.slots, got, tt.want)
		}
	}
}

// setGCPercent sets the process's GC percent for the rest of the test and
// returns a function that reads it.
func setGCPercent(t *testing.T, p int) func() int {
	t.Helper()
	orig := debug.SetGCPercent(p)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	return func() int {
		cur := debug.SetGCPercent(-1)
		debug.SetGCPercent(cur)
		return cur
	}
}

// Configure sizes the process's collector for its hashing slots, and
// never lowers a percent set before or turns a collector that was off
// back on.
func TestConfigureTunesTheCollector(t *testing.T) {
	for _, tt := range []struct {
		name         string
		config       string
		before, want int
	}{
		{"two slots", `{"max_concurrent_hashes": 2}`, 100, 300},
		{"one slot", `{"max_concurrent_hashes": 1}`, 100, 600},
		{"many slots", `{"max_concurrent_hashes": 16}`, 100, 100},
		{"higher before", `{"max_concurrent_hashes": 2}`, 800, 800},
		{"off before", `{"max_concurrent_hashes": 2}`, -1, -1},
	} {
		tuned.percent = 0 // as in a new process
		t.Run(tt.name, func(t *testing.T) {
			current := setGCPercent(t, tt.before)
			b := New()
			cfg := json.RawMessage(`{"argon2id":{"memory_kib":64,"iterations":1,"parallelism":1},` + tt.config[1:])
			if err := b.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "local", Config: cfg, Host: seededHost(t)}); err != nil {
				t.Fatal(err)
			}
			if got := current(); got != tt.want {
				t.Errorf("GC percent after Configure: %d, want %d", got, tt.want)
			}
		})
	}
}

// A second configuration with other slots replaces the percent the first
// set, down as well as up.
func TestConfigureAgainRetunes(t *testing.T) {
	current := setGCPercent(t, 100)
	tuned.percent = 0
	for _, tt := range []struct{ slots, want int }{{1, 600}, {8, 100}, {2, 300}} {
		b := New()
		cfg := json.RawMessage(fmt.Sprintf(`{"argon2id":{"memory_kib":64,"iterations":1,"parallelism":1},"max_concurrent_hashes":%d}`, tt.slots))
		if err := b.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "local", Config: cfg, Host: seededHost(t)}); err != nil {
			t.Fatal(err)
		}
		if got := current(); got != tt.want {
			t.Errorf("%d slots after another configuration: GC percent %d, want %d", tt.slots, got, tt.want)
		}
	}
}
