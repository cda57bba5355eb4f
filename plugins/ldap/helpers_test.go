package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
	"github.com/portcullis-auth/portcullis/testkit/slapd"
	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

// The directory's people. alice is in admins and staff, bob in staff,
// carol in no group. admin sits one level further down, under ou=x, so
// that a login name that is not escaped for a DN ("admin,ou=x") would
// reach it. Two entries have uid twin, so that a search for twin is
// ambiguous.
const (
	peopleBase  = "ou=people,dc=example,dc=org"
	groupsBase  = "ou=groups,dc=example,dc=org"
	serviceDN   = "cn=portcullis,ou=services,dc=example,dc=org"
	servicePW   = "service-account-secret-7f3a"
	aliceDN     = "uid=alice,ou=people,dc=example,dc=org"
	alicePW     = "alice-correct-horse"
	bobPW       = "bob-battery-staple"
	carolPW     = "carol-password"
	adminPW     = "admin-under-x-password"
	twinPW      = "twin-password"
	userDNTmpl  = "uid={username},ou=people,dc=example,dc=org"
	adminsGroup = "cn=admins,ou=groups,dc=example,dc=org"
)

func fixture() string {
	person := func(dn, uid, pw string) string {
		return fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.org\nuserPassword: %s\n\n",
			dn, uid, uid, uid, uid, slapd.SSHA(pw))
	}
	ou := func(dn, name string) string {
		return fmt.Sprintf("dn: %s\nobjectClass: organizationalUnit\nou: %s\n\n", dn, name)
	}
	var b strings.Builder
	b.WriteString(ou(peopleBase, "people"))
	b.WriteString(ou("ou=x,"+peopleBase, "x"))
	b.WriteString(ou("ou=others,dc=example,dc=org", "others"))
	b.WriteString(ou("ou=services,dc=example,dc=org", "services"))
	b.WriteString(ou(groupsBase, "groups"))
	b.WriteString(person(aliceDN, "alice", alicePW))
	b.WriteString(person("uid=bob,"+peopleBase, "bob", bobPW))
	b.WriteString(person("uid=carol,"+peopleBase, "carol", carolPW))
	b.WriteString(person("uid=admin,ou=x,"+peopleBase, "admin", adminPW))
	b.WriteString(person("uid=twin,"+peopleBase, "twin", twinPW))
	b.WriteString(person("uid=twin,ou=others,dc=example,dc=org", "twin", twinPW))
	fmt.Fprintf(&b, "dn: %s\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: portcullis\nuserPassword: %s\n\n", serviceDN, slapd.SSHA(servicePW))
	fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\ncn: admins\nmember: %s\n\n", adminsGroup, aliceDN)
	fmt.Fprintf(&b, "dn: cn=staff,%s\nobjectClass: groupOfNames\ncn: staff\nmember: %s\nmember: uid=bob,%s\n\n", groupsBase, aliceDN, peopleBase)
	return b.String()
}

// directory starts a slapd with the fixture; allowUnauthenticated makes
// it accept a bind with a DN and an empty password, as anonymous.
func directory(t *testing.T, allowUnauthenticated bool) *slapd.Server {
	t.Helper()
	return slapd.Start(t, slapd.Options{LDIF: fixture(), AllowUnauthenticatedBind: allowUnauthenticated})
}

// searchConfig is a search-then-bind configuration for d over url, with
// groups searched for and mapped to roles.
func searchConfig(url string) map[string]any {
	return map[string]any{
		"url":           url,
		"bind_dn":       serviceDN,
		"bind_password": servicePW,
		"user_search":   map[string]any{"base": "dc=example,dc=org"},
		"groups":        map[string]any{"base": groupsBase},
		"roles": map[string][]string{
			"admins": {"admin"},
			"staff":  {"reader", "writer"},
			"nobody": {"ghost"},
		},
		"timeout": "3s",
	}
}

// bindConfig is a bind-as-user configuration over url, with groups read
// from memberOf, one of them named by its DN.
func bindConfig(url string) map[string]any {
	return map[string]any{
		"url":     url,
		"user_dn": userDNTmpl,
		"groups":  map[string]any{"attribute": "memberOf"},
		"roles": map[string][]string{
			adminsGroup: {"admin"},
			"staff":     {"reader", "writer"},
		},
		"timeout": "3s",
	}
}

// with returns a copy of config with the settings of edit.
func with(config map[string]any, edit map[string]any) map[string]any {
	out := maps.Clone(config)
	maps.Copy(out, edit)
	return out
}

func raw(t testing.TB, config map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// start serves a plugin configured with config over gRPC, as the host
// would run it.
func start(t *testing.T, config map[string]any) sdk.Authenticator {
	t.Helper()
	return sdktest.Start(t, New(), raw(t, config), nil).Authenticator()
}

// logBuffer is a plugin log the tests read.
type logBuffer = syncbuf.Buffer

// configured returns a backend configured with config in this process,
// logging into the returned buffer, for tests that look inside it.
func configured(t *testing.T, config map[string]any) (*Backend, *logBuffer) {
	t.Helper()
	log := &logBuffer{}
	b := New()
	b.log = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := b.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "corp", Config: raw(t, config), Host: sdktest.NewMemoryHost()}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return b, log
}

// login asks auth about one login, with a deadline that fails a hung call.
func login(t *testing.T, auth sdk.Authenticator, username, password string) (sdk.AuthenticateResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var resp sdk.AuthenticateResponse
	err := auth.Authenticate(ctx, &sdk.AuthenticateRequest{
		RequestID: "test-" + username, Username: username, Password: password,
		Client: sdk.Client{IP: "192.0.2.7", UserAgent: "ldap-test"}, Path: "/v1/login",
	}, &resp)
	return resp, err
}

// mustGrant fails the test unless the login is granted, and returns the
// identity.
func mustGrant(t *testing.T, auth sdk.Authenticator, username, password string) sdk.Identity {
	t.Helper()
	resp, err := login(t, auth, username, password)
	if err != nil {
		t.Fatalf("%q: %v", username, err)
	}
	if resp.Decision != sdk.DecisionIdentity {
		t.Fatalf("%q: decision %v (reason %q), want identity", username, resp.Decision, resp.Reason)
	}
	return resp.Identity
}

// mustRefuse fails the test unless the login abstains with
// invalid_credentials, without an error.
func mustRefuse(t *testing.T, auth sdk.Authenticator, username, password string) {
	t.Helper()
	resp, err := login(t, auth, username, password)
	if err != nil {
		t.Fatalf("%q: %v, want an abstain", username, err)
	}
	if resp.Decision != sdk.DecisionAbstain || resp.Reason != sdk.ReasonInvalidCredentials {
		t.Fatalf("%q: decision %v (reason %q, identity %+v), want abstain with invalid_credentials", username, resp.Decision, resp.Reason, resp.Identity)
	}
}

// mustFail fails the test unless the login is an error (no decision).
func mustFail(t *testing.T, auth sdk.Authenticator, username, password string) error {
	t.Helper()
	resp, err := login(t, auth, username, password)
	if err == nil {
		t.Fatalf("%q: decision %v (reason %q, identity %+v), want an error", username, resp.Decision, resp.Reason, resp.Identity)
	}
	return err
}

// entryUUID reads the entryUUID of dn from the directory.
func entryUUID(t *testing.T, d *slapd.Server, dn string) string {
	t.Helper()
	res, err := d.Admin(t).Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading the entryUUID of %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValue("entryUUID")
}
