package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

func TestPermanentKeepsMessage(t *testing.T) {
	cause := &sdk.ConfigError{Problems: []sdk.FieldError{{Path: "x", Message: "unknown field"}}}
	err := fmt.Errorf("configuring: %w", permanent(cause))
	if want := "configuring: " + cause.Error(); err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	var p *permanentError
	if !errors.As(err, &p) {
		t.Error("errors.As does not find the permanent marker")
	}
	var cfgErr *sdk.ConfigError
	if !errors.As(err, &cfgErr) || cfgErr != cause {
		t.Error("errors.As does not find the cause through the marker")
	}
}

// TestPermanentStartFailures starts backends that can never start and
// checks that the error is marked permanent, still wraps its cause, and
// says nothing of "permanent" in its message.
func TestPermanentStartFailures(t *testing.T) {
	path, _ := helperExternal(t, modeLog)
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
			if strings.Contains(err.Error(), "permanent") {
				t.Errorf("error %q mentions the permanent marker", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			var p *permanentError
			if !errors.As(err, &p) {
				t.Errorf("error %q is not marked permanent", err)
			}
			if !tc.cause(err) {
				t.Errorf("error %q does not wrap its cause", err)
			}
		})
	}
}
