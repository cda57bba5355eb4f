package builtin

import (
	"encoding/json"
	"testing"
)

// Each first-party plugin is listed under the name it gives itself.
func TestNamesAreThePluginsOwn(t *testing.T) {
	for name, p := range Plugins {
		if got := p.New().Metadata().Name; got != name {
			t.Errorf("plugin listed as %q calls itself %q", name, got)
		}
		if p.CheckConfig == nil {
			t.Errorf("plugin %q has no CheckConfig", name)
		}
	}
}

func TestOTPConfig(t *testing.T) {
	otp := Plugins["otp"]
	if err := otp.CheckConfig(json.RawMessage(`{}`)); err == nil {
		t.Error("an otp backend without a sender was accepted")
	}
	dev := json.RawMessage(`{"sender":{"log":true},"development":true}`)
	if err := otp.CheckConfig(dev); err != nil {
		t.Fatal(err)
	}
	if w := otp.Warnings(dev); len(w) != 1 {
		t.Errorf("warnings for the log sender: %q, want one", w)
	}
}

func TestMobileDeviceConfig(t *testing.T) {
	md := Plugins["mobiledevice"]
	if len(md.Grants) != 0 {
		t.Errorf("mobiledevice asks for grants %q; it needs none", md.Grants)
	}
	if err := md.CheckConfig(json.RawMessage(`{}`)); err != nil {
		t.Errorf("a mobiledevice backend without notify: %v", err)
	}
	if err := md.CheckConfig(json.RawMessage(`{"notify":{"webhook":"https://push.example.com/"}}`)); err == nil {
		t.Error("a notify webhook without its secret was accepted")
	}
	plain := json.RawMessage(`{"notify":{"webhook":"http://push.example.com/","secret":"a webhook secret of some length"}}`)
	if err := md.CheckConfig(plain); err != nil {
		t.Fatal(err)
	}
	if w := md.Warnings(plain); len(w) != 1 {
		t.Errorf("warnings for a plain-http webhook: %q, want one", w)
	}
}

func TestOAuth2Config(t *testing.T) {
	o := Plugins["oauth2"]
	if len(o.Grants) != 0 {
		t.Errorf("oauth2 asks for grants %q; it needs none", o.Grants)
	}
	if err := o.CheckConfig(json.RawMessage(`{}`)); err == nil {
		t.Error("an oauth2 backend without a provider or client was accepted")
	}
	if err := o.CheckConfig(json.RawMessage(`{"issuer":"https://id.example.com","client_id":"c"}`)); err == nil {
		t.Error("an oauth2 backend without its client secret was accepted")
	}
	local := json.RawMessage(`{"issuer":"http://127.0.0.1:5556","client_id":"c","client_secret":"s"}`)
	if err := o.CheckConfig(local); err != nil {
		t.Fatal(err)
	}
	if w := o.Warnings(local); len(w) != 1 {
		t.Errorf("warnings for a plain-http loopback issuer: %q, want one", w)
	}
}
