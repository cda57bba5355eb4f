package supervisor

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestPluginLogReachesHostLog starts a real plugin, first-party and
// external, that logs a warning through sdk.Logger() when configured, and
// checks the host's log: the line arrives parsed (message, level and the
// plugin's attributes), and every line about the plugin names the backend
// and the plugin once, with no logger name made of the executable's name
// (for an external plugin, the number of the file descriptor it is run
// through).
func TestPluginLogReachesHostLog(t *testing.T) {
	t.Run("builtin", func(t *testing.T) {
		testPluginLog(t, Spec{Name: "primary", Plugin: "helper"})
	})
	t.Run("external", func(t *testing.T) {
		path, sum := helperExternal(t, modeLog)
		testPluginLog(t, Spec{Name: "primary", Plugin: path, External: true, SHA256: sum})
	})
}

func testPluginLog(t *testing.T, spec Spec) {
	rec := newLogRecorder()
	sup := New(testOptions(slog.New(rec), modeLog))
	spec.Config, spec.Host = emptyConfig, newTestHost()
	if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	r := rec.waitFor(t, "helper configured")
	sup.Stop()

	if r.Level != slog.LevelWarn {
		t.Errorf("plugin warning logged at %v, want WARN", r.Level)
	}
	if got := r.values("instance"); !slices.Equal(got, []string{"primary"}) {
		t.Errorf("plugin warning: instance = %q, want [primary]", got)
	}
	if got := r.values("answer"); !slices.Equal(got, []string{"42"}) {
		t.Errorf("plugin warning: answer = %q, want [42]", got)
	}

	var fromGoPlugin int
	for _, r := range rec.records() {
		if got := r.values("backend"); !slices.Equal(got, []string{"primary"}) {
			t.Errorf("log record %q: backend = %q, want [primary]", r.Message, got)
		}
		if got := r.values("plugin"); !slices.Equal(got, []string{spec.Plugin}) {
			t.Errorf("log record %q: plugin = %q, want [%s]", r.Message, got, spec.Plugin)
		}
		for _, name := range r.values("logger") {
			if name == filepath.Base(spec.Plugin) || name == filepath.Base(os.Args[0]) || isDigits(name) {
				t.Errorf("log record %q: logger name %q only repeats the executable", r.Message, name)
			}
		}
		if r.Message == "plugin process exited" || r.Message == "waiting for RPC address" {
			fromGoPlugin++ // lines go-plugin gives a "plugin" attribute of its own
		}
	}
	if fromGoPlugin == 0 {
		t.Error("no record of go-plugin's own lines: the test does not check their attributes")
	}
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// TestHCLogAdapterKeepsMeaningfulNames checks the adapter's rules directly:
// the executable's name is dropped as a logger name, go-plugin's sub-logger
// names are kept, and only the "plugin" attribute carrying the executable's
// path is dropped.
func TestHCLogAdapterKeepsMeaningfulNames(t *testing.T) {
	rec := newLogRecorder()
	a := newHCLogAdapter(slog.New(rec), "/proc/self/fd/7")
	a.Named("7").Info("from stderr", "plugin", "/proc/self/fd/7", "k", "v")
	a.Named("stdio").Warn("from stdio")
	a.Info("plugin's own attribute", "plugin", "other")

	recs := rec.records()
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	if got := recs[0]; got.values("logger") != nil || got.values("plugin") != nil || !slices.Equal(got.values("k"), []string{"v"}) {
		t.Errorf("stderr line: attributes %v, want only k=v", got.Attrs)
	}
	if got := recs[1].values("logger"); !slices.Equal(got, []string{"stdio"}) {
		t.Errorf("stdio line: logger = %q, want [stdio]", got)
	}
	if got := recs[2].values("plugin"); !slices.Equal(got, []string{"other"}) {
		t.Errorf("a plugin's own plugin attribute: got %q, want [other]", got)
	}
}
