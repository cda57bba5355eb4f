package oauth2

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
	"github.com/portcullis-auth/portcullis/testkit/oidcprovider"
)

// TestRedirectSuite runs the SDK's conformance suite for redirect
// authenticators on the plugin, served over gRPC, against a real
// provider, with sign-ins.
func TestRedirectSuite(t *testing.T) {
	op := oidcprovider.Start(t, oidcprovider.Options{
		Users:   []oidcprovider.User{alice},
		Clients: []oidcprovider.Client{{ID: clientID, Secret: "suite-client-secret", RedirectURIs: []string{callback}}},
	})
	config, _ := json.Marshal(map[string]any{
		"issuer": op.Issuer, "client_id": clientID, "client_secret": "suite-client-secret", "redirect_url": callback,
		"scopes": []string{"openid", "email", "profile", "offline_access"},
	})
	sdktest.RedirectSuite{
		New:    func() sdk.Plugin { return New() },
		Config: config,
		SignIn: func(t testing.TB, authorizeURL string) string {
			jar, _ := cookiejar.New(nil)
			cb, err := op.Login(&http.Client{Jar: jar}, authorizeURL, alice.Username, alice.Password)
			if err != nil {
				t.Fatal(err)
			}
			return cb.Query().Get("code")
		},
	}.Run(t)
}
