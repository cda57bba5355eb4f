package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestUnknownCommandsFailThroughTheBinary: what a script sees from the
// real binary for a mistyped command, subcommand, help topic or flag: a
// non-zero exit status and an error naming the mistake.
func TestUnknownCommandsFailThroughTheBinary(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `portcullis: unknown command "frobnicate" for "portcullis"`},
		{[]string{"users", "frobnicate", "alice"}, `portcullis: unknown command "frobnicate" for "portcullis users"`},
		{[]string{"lockout", "frobnicate"}, `portcullis: unknown command "frobnicate" for "portcullis lockout"`},
		{[]string{"help", "frobnicate"}, `portcullis: unknown help topic "frobnicate"`},
		{[]string{"users", "list", "--frobnicate"}, `portcullis: unknown flag: --frobnicate`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := run(t, cfg, "", tt.args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, tt.want) {
				t.Fatalf("%v, output:\n%s\nwant exit status 1 and %q", err, out, tt.want)
			}
			if strings.Contains(out, "Usage:") {
				t.Errorf("printed help as if asked for it:\n%s", out)
			}
		})
	}
}
