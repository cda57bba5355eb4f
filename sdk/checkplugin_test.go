package sdk_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// fakePlugin is a Plugin with fixed metadata and no capability.
type fakePlugin struct {
	md sdk.Metadata
}

func (p *fakePlugin) Metadata() sdk.Metadata                                 { return p.md }
func (p *fakePlugin) Configure(context.Context, *sdk.ConfigureRequest) error { return nil }

// fakeAuthenticator also implements sdk.Authenticator.
type fakeAuthenticator struct {
	fakePlugin
	authenticate func(context.Context, *sdk.AuthenticateRequest, *sdk.AuthenticateResponse) error
}

func (p *fakeAuthenticator) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	return p.authenticate(ctx, req, resp)
}

// fakeReceiver also implements sdk.SignalReceiver.
type fakeReceiver struct {
	fakePlugin
	receive func(context.Context, *sdk.Signal) error
}

func (p *fakeReceiver) Receive(ctx context.Context, sig *sdk.Signal) error {
	return p.receive(ctx, sig)
}

// fakeBoth implements both capabilities.
type fakeBoth struct {
	fakeAuthenticator
	receive func(context.Context, *sdk.Signal) error
}

func (p *fakeBoth) Receive(ctx context.Context, sig *sdk.Signal) error { return p.receive(ctx, sig) }

// Interface guards.
var (
	_ sdk.Plugin         = (*fakePlugin)(nil)
	_ sdk.Authenticator  = (*fakeAuthenticator)(nil)
	_ sdk.SignalReceiver = (*fakeReceiver)(nil)
	_ sdk.Authenticator  = (*fakeBoth)(nil)
	_ sdk.SignalReceiver = (*fakeBoth)(nil)
)

func TestCheckPlugin(t *testing.T) {
	md := func(name string, caps []sdk.Capability, subs ...sdk.Subscription) sdk.Metadata {
		return sdk.Metadata{Name: name, Version: "1.0.0", Capabilities: caps, Subscriptions: subs}
	}
	auth := []sdk.Capability{sdk.CapabilityAuthenticator}
	recv := []sdk.Capability{sdk.CapabilitySignalReceiver}
	both := []sdk.Capability{sdk.CapabilityAuthenticator, sdk.CapabilitySignalReceiver}
	sub := sdk.Subscription{Signal: "user_login_failed"}
	tests := []struct {
		name   string
		plugin sdk.Plugin
		want   []string // pieces the error must hold; none for no error
		reject []string // pieces it must not hold
	}{
		{"authenticator", &fakeAuthenticator{fakePlugin: fakePlugin{md("password", auth)}}, nil, nil},
		{"receiver with subscriptions", &fakeReceiver{fakePlugin: fakePlugin{md("audit", recv, sub, sdk.Subscription{Signal: "x", Sender: "2FA"})}}, nil, nil},
		{"both", &fakeBoth{fakeAuthenticator: fakeAuthenticator{fakePlugin: fakePlugin{md("lockout", both, sub)}}}, nil, nil},
		{"no capabilities", &fakePlugin{md("idle", nil)}, nil, nil},
		{"implements more than it declares", &fakeBoth{fakeAuthenticator: fakeAuthenticator{fakePlugin: fakePlugin{md("quiet", auth)}}}, nil, nil},

		{"missing name", &fakeAuthenticator{fakePlugin: fakePlugin{md("", auth)}},
			[]string{`plugin ""`, "metadata has no name"}, []string{"declares"}},
		{"authenticator not implemented", &fakePlugin{md("pw", auth)},
			[]string{`plugin "pw"`, "declares authenticator but does not implement sdk.Authenticator"}, nil},
		{"signal receiver not implemented", &fakeAuthenticator{fakePlugin: fakePlugin{md("pw", both, sub)}},
			[]string{"declares signal_receiver but does not implement sdk.SignalReceiver"}, []string{"declares authenticator"}},
		{"subscriptions without signal_receiver", &fakeBoth{fakeAuthenticator: fakeAuthenticator{fakePlugin: fakePlugin{md("pw", auth, sub)}}},
			[]string{"has subscriptions but does not declare signal_receiver"}, nil},
		{"unknown capability", &fakeAuthenticator{fakePlugin: fakePlugin{md("pw", []sdk.Capability{sdk.CapabilityAuthenticator, "telepathy"})}},
			[]string{`capability "telepathy" is not supported by this SDK version`}, nil},
		{"declared capability without an SDK interface", &fakeAuthenticator{fakePlugin: fakePlugin{md("oauth", []sdk.Capability{sdk.CapabilityRedirectAuthenticator})}},
			[]string{`capability "redirect_authenticator" is not supported`}, nil},
		{"every problem at once", &fakePlugin{md("", []sdk.Capability{sdk.CapabilityAuthenticator, "x"}, sub)},
			[]string{"metadata has no name", "declares authenticator", `capability "x"`, "has subscriptions", "; "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sdk.CheckPlugin(tt.plugin)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckPlugin: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckPlugin accepted the plugin; want an error holding %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not hold %q", err, w)
				}
			}
			for _, r := range tt.reject {
				if strings.Contains(err.Error(), r) {
					t.Errorf("error %q holds %q", err, r)
				}
			}
		})
	}
}

func TestServeTestRefusesABadPlugin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, err := sdk.ServeTest(ctx, &fakePlugin{md: sdk.Metadata{Name: "pw", Capabilities: []sdk.Capability{sdk.CapabilityAuthenticator}}})
	if err == nil || rc != nil {
		t.Fatalf("ServeTest = %v, %v; want it to refuse a plugin that does not implement what it declares", rc, err)
	}
}
