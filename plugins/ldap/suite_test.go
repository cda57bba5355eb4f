package ldap

import (
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// TestConformance runs the SDK's conformance suite for authenticators on
// the plugin, served over gRPC, against a real directory, in both modes.
func TestConformance(t *testing.T) {
	d := directory(t, true)
	for name, config := range map[string]map[string]any{
		"search": searchConfig(d.LDAPURL),
		"bind":   bindConfig(d.LDAPURL),
	} {
		t.Run(name, func(t *testing.T) {
			sdktest.AuthenticatorSuite{
				New:    func() sdk.Plugin { return New() },
				Config: raw(t, config),
				Valid: []sdktest.Credentials{
					{Username: "alice", Password: alicePW},
					{Username: "bob", Password: bobPW},
				},
				Invalid: []sdktest.Credentials{
					{Username: "alice", Password: "wrong"},
					{Username: "alice", Password: ""},
					{Username: "nobody", Password: alicePW},
					{Username: "*", Password: alicePW},
					{Username: "admin,ou=x", Password: adminPW},
				},
			}.Run(t)
		})
	}
}
