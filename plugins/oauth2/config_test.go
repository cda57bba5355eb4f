package oauth2

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

const (
	issuerConfig   = `"issuer":"https://id.example.com","client_id":"portcullis","client_secret":"s3cret-value"`
	explicitConfig = `"auth_url":"https://gh.example.com/login/oauth/authorize","token_url":"https://gh.example.com/login/oauth/access_token","userinfo_url":"https://api.gh.example.com/user","client_id":"portcullis","client_secret":"s3cret-value"`
)

func TestParseConfigIssuer(t *testing.T) {
	s, err := ParseConfig(json.RawMessage(`{` + issuerConfig + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.OIDC() || s.Issuer != "https://id.example.com" || s.AuthURL != "" || s.TokenURL != "" || s.UserinfoURL != "" {
		t.Errorf("endpoints %+v", s)
	}
	if s.ClientID != "portcullis" || s.ClientSecret != "s3cret-value" || s.RedirectURL != "" {
		t.Errorf("client %+v", s)
	}
	if !slices.Equal(s.Scopes, []string{"openid", "email", "profile"}) {
		t.Errorf("default scopes %q", s.Scopes)
	}
	want := ClaimsConfig{Subject: "sub", Username: "preferred_username", Email: "email", Groups: "groups"}
	if s.Claims != want {
		t.Errorf("default claims %+v, want %+v", s.Claims, want)
	}
	if s.Provisioning != "link" || s.Timeout != 10*time.Second || s.Roles != nil || len(s.Warnings) != 0 {
		t.Errorf("defaults %+v", s)
	}
	// The defaults are the package's, not shared with it.
	s.Scopes[0] = "changed"
	if DefaultScopes[0] != "openid" {
		t.Error("the default scopes were changed through a configuration")
	}
}

func TestParseConfigEverything(t *testing.T) {
	s, err := ParseConfig(json.RawMessage(`{` + explicitConfig + `,
		"redirect_url":"https://auth.example.com/v1/oauth2/github/callback",
		"scopes":["read:user","user:email"],
		"claims":{"subject":"id","username":"login","email":"mail","groups":"teams"},
		"roles":{"org/admins":["admin","admin","ops"],"org/devs":["developer"]},
		"provisioning":"create","timeout":"30s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.OIDC() || s.AuthURL != "https://gh.example.com/login/oauth/authorize" || s.TokenURL != "https://gh.example.com/login/oauth/access_token" || s.UserinfoURL != "https://api.gh.example.com/user" {
		t.Errorf("endpoints %+v", s)
	}
	if s.RedirectURL != "https://auth.example.com/v1/oauth2/github/callback" || !slices.Equal(s.Scopes, []string{"read:user", "user:email"}) {
		t.Errorf("redirect and scopes %+v", s)
	}
	if s.Claims != (ClaimsConfig{Subject: "id", Username: "login", Email: "mail", Groups: "teams"}) {
		t.Errorf("claims %+v", s.Claims)
	}
	if !slices.Equal(s.Roles["org/admins"], []string{"admin", "ops"}) || !slices.Equal(s.Roles["org/devs"], []string{"developer"}) || len(s.Roles) != 2 {
		t.Errorf("roles %v", s.Roles)
	}
	if s.Provisioning != "create" || s.Timeout != 30*time.Second || len(s.Warnings) != 0 {
		t.Errorf("settings %+v", s)
	}
	// A plain provider asks for no scope unless told.
	s, err = ParseConfig(json.RawMessage(`{` + explicitConfig + `}`))
	if err != nil || s.Scopes != nil {
		t.Errorf("plain OAuth2 without scopes: %q, %v", s.Scopes, err)
	}
	for _, prov := range []string{"link", "create", "deny"} {
		s, err := ParseConfig(json.RawMessage(`{` + issuerConfig + `,"provisioning":"` + prov + `"}`))
		if err != nil || s.Provisioning != prov {
			t.Errorf("provisioning %s: %q, %v", prov, s.Provisioning, err)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name   string
		config string
		paths  []string
	}{
		{"nothing", `{}`, []string{"client_id", "client_secret", "issuer"}},
		{"no secret", `{"issuer":"https://id.example.com","client_id":"c"}`, []string{"client_secret"}},
		{"no client id", `{"issuer":"https://id.example.com","client_secret":"s"}`, []string{"client_id"}},
		{"issuer and explicit", `{` + issuerConfig + `,"auth_url":"https://x.example/a","token_url":"https://x.example/t"}`, []string{"auth_url", "token_url"}},
		{"explicit without userinfo", `{"auth_url":"https://x.example/a","token_url":"https://x.example/t","client_id":"c","client_secret":"s"}`, []string{"userinfo_url"}},
		{"only a userinfo", `{"userinfo_url":"https://x.example/u","client_id":"c","client_secret":"s"}`, []string{"auth_url", "token_url"}},
		{"unknown keys", `{` + issuerConfig + `,"client_secrets":"x","claims":{"name":"n"}}`, []string{"claims.name", "client_secrets"}},
		{"wrong types", `{` + issuerConfig + `,"scopes":"openid","roles":{"g":"admin"},"timeout":10}`, []string{"roles.g", "scopes", "timeout"}},
		{"issuer not a URL", `{"issuer":"id.example.com","client_id":"c","client_secret":"s"}`, []string{"issuer"}},
		{"issuer ftp", `{"issuer":"ftp://id.example.com","client_id":"c","client_secret":"s"}`, []string{"issuer"}},
		{"issuer with a query", `{"issuer":"https://id.example.com/?tenant=1","client_id":"c","client_secret":"s"}`, []string{"issuer"}},
		{"issuer with a fragment", `{"issuer":"https://id.example.com/#x","client_id":"c","client_secret":"s"}`, []string{"issuer"}},
		{"issuer with credentials", `{"issuer":"https://u:p@id.example.com","client_id":"c","client_secret":"s"}`, []string{"issuer"}},
		{"issuer plain http", `{"issuer":"http://id.example.com","client_id":"c","client_secret":"s"}`, []string{"issuer"}},
		{"unparsable URL", `{"issuer":"https://id.example.com/%zz","client_id":"c","client_secret":"s"}`, []string{"issuer"}},
		{"bad explicit URLs", `{"auth_url":"/authorize","token_url":"http://x.example/t","userinfo_url":"https://x.example/u?x=1","client_id":"c","client_secret":"s"}`, []string{"auth_url", "token_url", "userinfo_url"}},
		{"redirect plain http", `{` + issuerConfig + `,"redirect_url":"http://auth.example.com/v1/oauth2/corp/callback"}`, []string{"redirect_url"}},
		{"redirect relative", `{` + issuerConfig + `,"redirect_url":"/v1/oauth2/corp/callback"}`, []string{"redirect_url"}},
		{"no openid with an issuer", `{` + issuerConfig + `,"scopes":["email"]}`, []string{"scopes"}},
		{"empty scopes with an issuer", `{` + issuerConfig + `,"scopes":[]}`, []string{"scopes"}},
		{"bad scope tokens", `{` + issuerConfig + `,"scopes":["openid","","a b","openid"]}`, []string{"scopes[1]", "scopes[2]", "scopes[3]"}},
		{"subject claim with an issuer", `{` + issuerConfig + `,"claims":{"subject":"id"}}`, []string{"claims.subject"}},
		{"empty roles", `{` + issuerConfig + `,"roles":{"admins":[],"devs":["dev",""]}}`, []string{"roles.admins", "roles.devs[1]"}},
		{"bad provisioning", `{` + issuerConfig + `,"provisioning":"auto"}`, []string{"provisioning"}},
		{"timeout too short", `{` + issuerConfig + `,"timeout":"10ms"}`, []string{"timeout"}},
		{"timeout too long", `{` + issuerConfig + `,"timeout":"1h"}`, []string{"timeout"}},
		{"timeout not a duration", `{` + issuerConfig + `,"timeout":"ten seconds"}`, []string{"timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(json.RawMessage(tt.config))
			var cfgErr *sdk.ConfigError
			if !errors.As(err, &cfgErr) {
				t.Fatalf("got %v, want a *sdk.ConfigError", err)
			}
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("%v is not an ErrInvalidArgument", err)
			}
			var paths []string
			for _, p := range cfgErr.Problems {
				paths = append(paths, p.Path)
			}
			slices.Sort(paths)
			if !slices.Equal(paths, tt.paths) {
				t.Fatalf("problems at %q, want %q: %v", paths, tt.paths, err)
			}
		})
	}
}

func TestConfigErrorsHoldNoSecret(t *testing.T) {
	config := `{"issuer":"https://user:pa55word@id.example.com/?token=t0ken","client_id":"c","client_secret":"hunter2secret",
		"redirect_url":"gopher://u:redirpass@auth.example.com/cb?k=qu3ry","timeout":"x","provisioning":"hunter2secret"}`
	_, err := ParseConfig(json.RawMessage(config))
	if err == nil {
		t.Fatal("no problem")
	}
	for _, secret := range []string{"pa55word", "t0ken", "redirpass", "qu3ry"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q is in the error %v", secret, err)
		}
	}
	// The secret itself is never quoted from its own field.
	_, err = ParseConfig(json.RawMessage(`{"issuer":"https://id.example.com","client_id":"c","client_secret":["hunter2secret"]}`))
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("a client secret of the wrong type: %v", err)
	}
}

func TestLoopbackHTTPWarns(t *testing.T) {
	for url, warns := range map[string]int{
		"http://127.0.0.1:8080":  1,
		"http://localhost:8080":  1,
		"http://[::1]:8080":      1,
		"https://id.example.com": 0,
	} {
		s, err := ParseConfig(json.RawMessage(`{"issuer":"` + url + `","client_id":"c","client_secret":"s","redirect_url":"` + url + `/cb"}`))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if len(s.Warnings) != 2*warns {
			t.Errorf("%s: warnings %q, want %d", url, s.Warnings, 2*warns)
		}
		for _, w := range s.Warnings {
			if !strings.Contains(w, "plain http") {
				t.Errorf("%s: warning %q", url, w)
			}
		}
	}
}
