package ldap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

const (
	bindMode   = `"url":"ldaps://ldap.example.org","user_dn":"uid={username},ou=people,dc=example,dc=org"`
	searchMode = `"url":"ldaps://ldap.example.org","bind_dn":"cn=svc,dc=example,dc=org","bind_password":"s3cret-bind-pw","user_search":{"base":"dc=example,dc=org"}`
)

func parse(t *testing.T, config string) Settings {
	t.Helper()
	s, err := ParseConfig(json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseConfigDefaults(t *testing.T) {
	s := parse(t, `{`+bindMode+`}`)
	if s.SearchMode() || s.UserDN != userDNTmpl || s.URL != "ldaps://ldap.example.org:636" || s.StartTLS {
		t.Errorf("bind mode %+v", s)
	}
	if s.TLS == nil || s.TLS.ServerName != "ldap.example.org" || s.TLS.RootCAs != nil || s.TLS.MinVersion < 0x0303 || s.TLS.InsecureSkipVerify {
		t.Errorf("TLS %+v", s.TLS)
	}
	if s.UsernameAttribute != "uid" || s.SubjectAttribute != "entryUUID" || s.PoolSize != 4 || s.DialTimeout != 5*time.Second || s.Timeout != 5*time.Second {
		t.Errorf("defaults %+v", s)
	}
	if s.GroupBase != "" || s.GroupAttribute != "" || s.Roles != nil || len(s.Warnings) != 0 {
		t.Errorf("groups %+v", s)
	}

	s = parse(t, `{`+searchMode+`}`)
	if !s.SearchMode() || s.UserBase != "dc=example,dc=org" || s.UserFilter != "(uid={username})" || s.UserScope != goldap.ScopeWholeSubtree {
		t.Errorf("search mode %+v", s)
	}
	if s.BindDN != "cn=svc,dc=example,dc=org" || s.BindPassword != "s3cret-bind-pw" || s.DecoyDN != "" {
		t.Errorf("service account %+v", s)
	}
	if strings.Contains(s.String(), "s3cret") {
		t.Errorf("the settings print their password: %s", s.String())
	}
}

func TestParseConfigEverything(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "bind.pw")
	os.WriteFile(pwFile, []byte("from-a-file\r\n"), 0o600)
	ca := filepath.Join(dir, "ca.pem")
	writeCA(t, ca)
	raw, _ := json.Marshal(map[string]any{
		"url": "ldap://ldap.example.org:3389/", "start_tls": true, "ca_file": ca, "tls_server_name": "ldap.internal",
		"bind_dn": "cn=svc,dc=example,dc=org", "bind_password_file": pwFile,
		"user_search":        map[string]any{"base": "ou=people,dc=example,dc=org", "filter": "(&(objectClass=person)(mail={username}))", "scope": "one", "decoy_dn": "uid=decoy,ou=people,dc=example,dc=org"},
		"username_attribute": "mail", "subject_attribute": "DN",
		"groups":    map[string]any{"base": "ou=groups,dc=example,dc=org", "filter": "(memberUid={username})", "scope": "one", "name_attribute": "ou"},
		"roles":     map[string][]string{"admins": {"admin", "admin", "ops"}, "cn=devs,ou=groups,dc=example,dc=org": {"developer"}},
		"pool_size": 16, "dial_timeout": "2s", "timeout": "10s",
	})
	s := parse(t, string(raw))
	if s.URL != "ldap://ldap.example.org:3389" || !s.StartTLS || s.TLS.ServerName != "ldap.internal" || s.TLS.RootCAs == nil {
		t.Errorf("connection %+v", s)
	}
	if s.BindPassword != "from-a-file" || s.UserBase != "ou=people,dc=example,dc=org" || s.UserScope != goldap.ScopeSingleLevel || s.DecoyDN != "uid=decoy,ou=people,dc=example,dc=org" {
		t.Errorf("search %+v", s)
	}
	if s.UsernameAttribute != "mail" || s.SubjectAttribute != SubjectDN {
		t.Errorf("attributes %+v", s)
	}
	if s.GroupBase != "ou=groups,dc=example,dc=org" || s.GroupFilter != "(memberUid={username})" || s.GroupScope != goldap.ScopeSingleLevel || s.GroupName != "ou" {
		t.Errorf("groups %+v", s)
	}
	if !slices.Equal(s.Roles["admins"], []string{"admin", "ops"}) || len(s.Roles) != 2 {
		t.Errorf("roles %v", s.Roles)
	}
	if s.PoolSize != 16 || s.DialTimeout != 2*time.Second || s.Timeout != 10*time.Second {
		t.Errorf("pool %+v", s)
	}
	// The DN as a subject is allowed, and warned about.
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "subject_attribute dn") {
		t.Errorf("warnings %q", s.Warnings)
	}
}

func TestConfigWarnings(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "bind.pw")
	os.WriteFile(pwFile, []byte("pw\n"), 0o644)
	for config, want := range map[string]string{
		`{"url":"ldap://127.0.0.1:389","user_dn":"uid={username},dc=x"}`:                                           "plain ldap://",
		`{"url":"ldap://localhost","user_dn":"uid={username},dc=x"}`:                                               "in clear",
		`{` + bindMode + `,"groups":{"attribute":"memberOf"}}`:                                                     "maps none of them",
		`{"url":"ldaps://h","bind_dn":"cn=s","bind_password_file":"` + pwFile + `","user_search":{"base":"dc=x"}}`: "chmod 600",
	} {
		s := parse(t, config)
		if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], want) {
			t.Errorf("%s: warnings %q, want one with %q", config, s.Warnings, want)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pw")
	os.WriteFile(empty, []byte("\n"), 0o600)
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tests := []struct {
		name   string
		config string
		paths  []string
	}{
		{"nothing", `{}`, []string{"url", "user_dn"}},
		{"both modes", `{` + bindMode + `,"user_search":{"base":"dc=x"}}`, []string{"user_dn"}},
		{"unknown keys", `{` + bindMode + `,"insecure_skip_verify":true,"groups":{"member_attribute":"m"}}`, []string{"groups.member_attribute", "insecure_skip_verify"}},
		{"wrong types", `{` + bindMode + `,"start_tls":"yes","pool_size":"4","roles":{"g":"admin"}}`, []string{"pool_size", "roles", "roles.g", "start_tls"}},
		{"not a URL", `{"url":"ldap.example.org","user_dn":"uid={username},dc=x"}`, []string{"url"}},
		{"http URL", `{"url":"https://ldap.example.org","user_dn":"uid={username},dc=x"}`, []string{"url"}},
		{"URL with a base", `{"url":"ldaps://h/dc=example,dc=org","user_dn":"uid={username},dc=x"}`, []string{"url"}},
		{"URL with credentials", `{"url":"ldaps://u:p@h","user_dn":"uid={username},dc=x"}`, []string{"url"}},
		{"plain ldap to another machine", `{"url":"ldap://ldap.example.org","user_dn":"uid={username},dc=x"}`, []string{"url"}},
		{"starttls on ldaps", `{` + bindMode + `,"start_tls":true}`, []string{"start_tls"}},
		{"TLS settings without TLS", `{"url":"ldap://127.0.0.1","user_dn":"uid={username},dc=x","ca_file":"/x","tls_server_name":"h"}`, []string{"ca_file", "tls_server_name"}},
		{"missing CA file", `{` + bindMode + `,"ca_file":"` + filepath.Join(dir, "nope.pem") + `"}`, []string{"ca_file"}},
		{"CA file without a certificate", `{` + bindMode + `,"ca_file":"` + notPEM + `"}`, []string{"ca_file"}},
		{"user_dn without the name", `{"url":"ldaps://h","user_dn":"uid=alice,dc=x"}`, []string{"user_dn"}},
		{"user_dn not a DN", `{"url":"ldaps://h","user_dn":"{username}@example.org"}`, []string{"user_dn"}},
		{"user_dn with the name as an attribute", `{"url":"ldaps://h","user_dn":"{username}=x,dc=x"}`, []string{"user_dn"}},
		{"bind mode with a service account", `{` + bindMode + `,"bind_dn":"cn=s","bind_password":"p"}`, []string{"bind_dn", "bind_password"}},
		{"search without anything", `{"url":"ldaps://h","user_search":{"scope":"sub"}}`, []string{"bind_dn", "bind_password", "user_search.base"}},
		{"search with bad settings", `{"url":"ldaps://h","bind_dn":"not a dn","bind_password":"p","user_search":{"base":"dc=x","filter":"uid={username}","scope":"base","decoy_dn":"nope"}}`,
			[]string{"bind_dn", "user_search.decoy_dn", "user_search.filter", "user_search.scope"}},
		{"filter without the name", `{"url":"ldaps://h","bind_dn":"cn=s","bind_password":"p","user_search":{"base":"dc=x","filter":"(uid=alice)"}}`, []string{"user_search.filter"}},
		{"two passwords", `{"url":"ldaps://h","bind_dn":"cn=s","bind_password":"p","bind_password_file":"` + empty + `","user_search":{"base":"dc=x"}}`, []string{"bind_password"}},
		{"empty password file", `{"url":"ldaps://h","bind_dn":"cn=s","bind_password_file":"` + empty + `","user_search":{"base":"dc=x"}}`, []string{"bind_password_file"}},
		{"missing password file", `{"url":"ldaps://h","bind_dn":"cn=s","bind_password_file":"` + filepath.Join(dir, "nope") + `","user_search":{"base":"dc=x"}}`, []string{"bind_password_file"}},
		{"bad attributes", `{` + bindMode + `,"username_attribute":"u id","subject_attribute":"(x)"}`, []string{"subject_attribute", "username_attribute"}},
		{"groups both ways", `{` + bindMode + `,"groups":{"attribute":"memberOf","base":"dc=x"},"roles":{"a":["b"]}}`, []string{"groups.attribute"}},
		{"groups without a base", `{` + bindMode + `,"groups":{"filter":"(member={dn})"},"roles":{"a":["b"]}}`, []string{"groups.base"}},
		{"group filter for everyone", `{` + bindMode + `,"groups":{"base":"dc=x","filter":"(objectClass=groupOfNames)"},"roles":{"a":["b"]}}`, []string{"groups.filter"}},
		{"bad group settings", `{` + bindMode + `,"groups":{"base":"x","filter":"(member={dn}","scope":"all","name_attribute":"c n"},"roles":{"a":["b"]}}`,
			[]string{"groups.base", "groups.filter", "groups.name_attribute", "groups.scope"}},
		{"roles without groups", `{` + bindMode + `,"roles":{"admins":["admin"]}}`, []string{"roles"}},
		{"bad roles", `{` + bindMode + `,"groups":{"attribute":"memberOf"},"roles":{"admins":[],"staff":["ok","not ok",""],"cn=x,=y":["r"]}}`,
			[]string{"roles.admins", "roles.cn=x,=y", "roles.staff[1]", "roles.staff[2]"}},
		{"bounds", `{` + bindMode + `,"pool_size":-1,"dial_timeout":"1ms","timeout":"1h"}`, []string{"dial_timeout", "pool_size", "timeout"}},
		{"too many connections", `{` + bindMode + `,"pool_size":1000}`, []string{"pool_size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(json.RawMessage(tt.config))
			var cfgErr *sdk.ConfigError
			if !errors.As(err, &cfgErr) || !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("got %v, want a *sdk.ConfigError", err)
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

// No message quotes the service account's password, whatever is wrong
// around it, nor the password file's content.
func TestConfigErrorsHoldNoSecret(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "bind.pw")
	os.WriteFile(pwFile, []byte("file-secret-9d2c\n"), 0o644)
	for _, config := range []string{
		`{"url":"ldaps://h","bind_dn":"cn=s","bind_password":"hunter2-secret","user_search":{"base":"hunter2-secret"},"pool_size":"hunter2-secret"}`,
		`{"url":"ldaps://h","bind_dn":"cn=s","bind_password":["hunter2-secret"],"user_search":{"base":"dc=x"}}`,
		`{"url":"ldaps://h","bind_dn":"cn=s","bind_password":{"x":"hunter2-secret"},"user_search":{"base":"dc=x"}}`,
		`{"url":"ldaps://h","bind_dn":"cn=s","bind_password":"hunter2-secret","bind_password_file":"` + pwFile + `","user_search":{"base":"dc=x"}}`,
		`{"url":"ldaps://h","user_dn":"uid={username},dc=x","bind_password":"hunter2-secret","bind_password_file":"` + pwFile + `"}`,
		`{"url":"https://admin:hunter2-secret@h","user_dn":"uid={username},dc=x"}`,
		`{"url":"ldaps://admin:hunter2-secret@h","user_dn":"uid={username},dc=x"}`,
		`{"url":"ldap://admin:hunter2-secret@h/%zz","user_dn":"uid={username},dc=x"}`,
	} {
		_, err := ParseConfig(json.RawMessage(config))
		if err == nil {
			t.Fatalf("%s: no problem", config)
		}
		for _, secret := range []string{"hunter2-secret", "file-secret-9d2c"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%q is in the error %v", secret, err)
			}
		}
	}
	s := parse(t, `{"url":"ldaps://h","bind_dn":"cn=s","bind_password_file":"`+pwFile+`","user_search":{"base":"dc=x"}}`)
	for _, w := range s.Warnings {
		if strings.Contains(w, "file-secret-9d2c") {
			t.Errorf("the password is in the warning %q", w)
		}
	}
}

// Over gRPC, as the host starts the plugin: Configure's problems come
// back as a *sdk.ConfigError at their paths, and an unconfigured plugin
// decides nothing.
func TestConfigureOverTheWire(t *testing.T) {
	r := sdktest.StartUnconfigured(t, New(), nil)
	var resp sdk.AuthenticateResponse
	if err := r.Authenticator().Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "alice", Password: "x"}, &resp); err == nil || resp.Decision == sdk.DecisionIdentity {
		t.Errorf("an unconfigured plugin answered %v, %v", resp.Decision, err)
	}
	err := r.Configure(context.Background(), "corp", json.RawMessage(`{"url":"ldap://ldap.example.org","user_dn":"uid=alice","timeout":"forever","roles":{"g":["r"]}}`))
	var cfgErr *sdk.ConfigError
	if !errors.As(err, &cfgErr) {
		t.Fatalf("Configure: %v, want a *sdk.ConfigError", err)
	}
	var paths []string
	for _, p := range cfgErr.Problems {
		paths = append(paths, p.Path)
	}
	slices.Sort(paths)
	if want := []string{"roles", "timeout", "url", "user_dn"}; !slices.Equal(paths, want) {
		t.Errorf("problems at %q, want %q: %v", paths, want, err)
	}
}

// writeCA writes a self-signed CA certificate to path, for ca_file.
func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
