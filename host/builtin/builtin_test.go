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
