package sdktest

import (
	"context"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// otpPlugin grants alice only with her password and the right one-time
// code in Credentials.
type otpPlugin struct{}

func (otpPlugin) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "otp-test", Version: "test"}
}

func (otpPlugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	return req.DecodeConfig(&struct{}{})
}

func (otpPlugin) Authenticate(_ context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	if req.Username == "alice" && req.Password == "s3cret" && req.Credentials["otp"] == "123456" {
		resp.Grant(sdk.Identity{Subject: "otp:alice", Username: "alice"})
		return nil
	}
	resp.Deny("wrong credentials", 0)
	return nil
}

var otpSuite = AuthenticatorSuite{
	New:   func() sdk.Plugin { return otpPlugin{} },
	Valid: []Credentials{{Username: "alice", Password: "s3cret", Credentials: map[string]string{"otp": "123456"}}},
	Invalid: []Credentials{
		{Username: "alice", Password: "s3cret", Credentials: map[string]string{"otp": "000000"}},
		{Username: "alice", Password: "s3cret"},
	},
}

// TestIsValidComparesCredentials: credentials that differ from a valid case
// only in Credentials are not valid.
func TestIsValidComparesCredentials(t *testing.T) {
	for _, c := range otpSuite.Invalid {
		if otpSuite.isValid(c) {
			t.Errorf("isValid(%+v) = true, want false", c)
		}
	}
	for _, c := range otpSuite.Valid {
		if !otpSuite.isValid(c) {
			t.Errorf("isValid(%+v) = false, want true", c)
		}
	}
	empty := AuthenticatorSuite{Valid: []Credentials{{Username: "bob", Password: "pw"}}}
	if !empty.isValid(Credentials{Username: "bob", Password: "pw", Credentials: map[string]string{}}) {
		t.Error("an empty Credentials map does not match a nil one")
	}
}

// TestAuthenticatorSuiteWithCredentials runs the whole suite on a backend
// whose invalid cases differ from the valid one only in Credentials; the
// concurrency check used to expect an identity for them.
func TestAuthenticatorSuiteWithCredentials(t *testing.T) {
	otpSuite.Run(t)
}
