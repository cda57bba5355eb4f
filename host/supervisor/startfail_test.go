package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// TestStartFailuresSayWhy starts backends that can never start and checks
// that the error says why and wraps its cause, so that callers can tell
// the failures apart with errors.Is and errors.As.
func TestStartFailuresSayWhy(t *testing.T) {
	path, _ := helperExternal(t, modeLog)
	shared, sharedSum := helperExternal(t, modeLog)
	if err := os.Chmod(shared, 0o775); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		spec  Spec
		cause func(error) bool
		want  string
	}{
		{
			name: "rejected configuration",
			spec: Spec{Plugin: "helper", Config: json.RawMessage(`{"bogus": 1}`)},
			cause: func(err error) bool {
				var cfgErr *sdk.ConfigError
				return errors.As(err, &cfgErr)
			},
			want: "configuring: ",
		},
		{
			name:  "missing capability",
			spec:  Spec{Plugin: "helper", Requires: []sdk.Capability{sdk.CapabilitySignalReceiver}},
			cause: func(error) bool { return true },
			want:  "does not implement the signal_receiver capability",
		},
		{
			name:  "checksum mismatch",
			spec:  Spec{Plugin: path, External: true, SHA256: strings.Repeat("0", 64)},
			cause: func(err error) bool { return errors.Is(err, ErrChecksumMismatch) },
			want:  "checksum does not match",
		},
		{
			name:  "plugin writable by its group",
			spec:  Spec{Plugin: shared, External: true, SHA256: sharedSum},
			cause: func(err error) bool { return errors.Is(err, ErrUnprotected) },
			want:  "is writable by its group (-rwxrwxr-x): a member of its group could replace the plugin after the host checked it; run: chmod g-w " + shared,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sup := New(testOptions(slog.New(slog.DiscardHandler), modeLog))
			defer sup.Stop()
			spec := tc.spec
			spec.Name, spec.Host = "b", sdktest.NewMemoryHost()
			if spec.Config == nil {
				spec.Config = emptyConfig
			}
			err := sup.Start(context.Background(), []Spec{spec})
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if !tc.cause(err) {
				t.Errorf("error %q does not wrap its cause", err)
			}
		})
	}
}
