package supervisor

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"testing"
)

// TestRunsWhatWasVerified changes an external plugin's file in place
// after the supervisor verified it and before it executes it, and checks
// that the process runs the verified content: the plugin reports the
// SHA-256 of the program the kernel runs. It runs once with the sealed
// memory copy and once with the private copy used where there is none.
func TestRunsWhatWasVerified(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the plugin reads its program from /proc/self/exe")
	}
	for _, tc := range []struct {
		name     string
		inMemory bool
	}{
		{"sealed memory copy", true},
		{"private copy", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := sealInMemory
			sealInMemory = tc.inMemory
			t.Cleanup(func() { sealInMemory = old })
			path, sum := helperExternal(t, modeSelfHash)
			changed := false
			testHookVerified = func(p string) {
				if p != path {
					return
				}
				// The same file, changed: still a program that runs.
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Error(err)
					return
				}
				defer f.Close()
				_, err = f.WriteString("changed after verification")
				changed = err == nil
			}
			t.Cleanup(func() { testHookVerified = nil })

			rec := newLogRecorder()
			sup := New(testOptions(slog.New(rec), modeLog))
			defer sup.Stop()
			spec := Spec{Name: "b", Plugin: path, External: true, SHA256: sum, Config: emptyConfig, Host: newTestHost()}
			if err := sup.Start(context.Background(), []Spec{spec}); err != nil {
				t.Fatal(err)
			}
			ran := rec.waitFor(t, "helper configured").values("exe_sha256")
			if now, err := Checksum(path); !changed || err != nil || now == sum {
				t.Fatalf("the file was not changed (%v, %v): the test cannot tell", changed, err)
			}
			if !slices.Equal(ran, []string{sum}) {
				t.Errorf("the plugin ran a program with sha256 %v, want the verified %s", ran, sum)
			}
		})
	}
}
