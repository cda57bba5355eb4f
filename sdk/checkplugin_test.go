package sdk

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// fakePlugin is a Plugin with fixed metadata and no capability.
type fakePlugin struct{ md Metadata }

func (p *fakePlugin) Metadata() Metadata                                 { return p.md }
func (p *fakePlugin) Configure(context.Context, *ConfigureRequest) error { return nil }

type fakeAuthenticator struct{ fakePlugin }

func (*fakeAuthenticator) Authenticate(context.Context, *AuthenticateRequest, *AuthenticateResponse) error {
	return nil
}

type fakeReceiver struct{ fakePlugin }

func (*fakeReceiver) Receive(context.Context, *Signal) error { return nil }

// fakeEverything implements every capability.
type fakeEverything struct{ fakeAuthenticator }

func (*fakeEverything) Receive(context.Context, *Signal) error                     { return nil }
func (*fakeEverything) LoginEnded(context.Context, *Outcome) error                 { return nil }
func (*fakeEverything) AttemptRule() attempts.Rule                                 { return attempts.Rule{} }
func (*fakeEverything) Admin(context.Context, *AdminRequest, *AdminResponse) error { return nil }

// Interface guards.
var (
	_ Authenticator   = (*fakeAuthenticator)(nil)
	_ SignalReceiver  = (*fakeReceiver)(nil)
	_ OutcomeObserver = (*fakeEverything)(nil)
	_ AttemptLimiter  = (*fakeEverything)(nil)
	_ Admin           = (*fakeEverything)(nil)
)

func TestCapabilitiesComeFromTheInterfacesImplemented(t *testing.T) {
	md := Metadata{Name: "x", Version: "1"}
	tests := []struct {
		name   string
		plugin Plugin
		want   []wire.Capability
	}{
		{"none", &fakePlugin{md}, nil},
		{"authenticator", &fakeAuthenticator{fakePlugin{md}}, []wire.Capability{wire.Authenticator}},
		{"receiver", &fakeReceiver{fakePlugin{md}}, []wire.Capability{wire.SignalReceiver}},
		{"everything", &fakeEverything{fakeAuthenticator{fakePlugin{md}}},
			[]wire.Capability{wire.Authenticator, wire.OutcomeObserver, wire.AttemptLimiter, wire.Admin, wire.SignalReceiver}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := capabilities(tt.plugin); !slices.Equal(got, tt.want) {
				t.Errorf("capabilities = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckPlugin(t *testing.T) {
	sub := Subscription{Signal: "user_login_failed"}
	tests := []struct {
		name   string
		plugin Plugin
		want   []string // pieces the error must hold; none for no error
	}{
		{"authenticator", &fakeAuthenticator{fakePlugin{Metadata{Name: "password"}}}, nil},
		{"receiver with subscriptions", &fakeReceiver{fakePlugin{Metadata{Name: "audit", Subscriptions: []Subscription{sub, {Signal: "x", Sender: "2FA"}}}}}, nil},
		{"own signal names", &fakePlugin{Metadata{Name: "otp", Emits: []string{"otp_code_sent", "oauth2_token_fetched", "a.b_c9"}}}, nil},
		{"no capabilities", &fakePlugin{Metadata{Name: "idle"}}, nil},

		{"missing name", &fakeAuthenticator{fakePlugin{Metadata{}}}, []string{`plugin ""`, "metadata has no name"}},
		{"subscriptions without SignalReceiver", &fakeAuthenticator{fakePlugin{Metadata{Name: "pw", Subscriptions: []Subscription{sub}}}},
			[]string{"has subscriptions but does not implement sdk.SignalReceiver"}},
		{"a bad signal name", &fakePlugin{Metadata{Name: "pw", Emits: []string{"Bad Name"}}},
			[]string{`emits "Bad Name", which is not a signal name`}},
		{"every problem at once", &fakePlugin{Metadata{Subscriptions: []Subscription{sub}, Emits: []string{""}}},
			[]string{"metadata has no name", "has subscriptions", `emits ""`, "; "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPlugin(tt.plugin)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("checkPlugin: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkPlugin accepted the plugin; want an error holding %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not hold %q", err, w)
				}
			}
		})
	}
}

func TestServeInProcessRefusesABadPlugin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, _, err := wire.ServeInProcess(ctx, &fakePlugin{Metadata{}})
	if err == nil || rc != nil {
		t.Fatalf("ServeInProcess = %v, %v; want it to refuse a plugin without a name", rc, err)
	}
	if _, _, err := wire.ServeInProcess(ctx, "not a plugin"); err == nil {
		t.Fatal("ServeInProcess accepted a value that is not an sdk.Plugin")
	}
}
