package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/testkit/slapd"
)

// The directory of the LDAP test: alice is in the admins group, bob in
// none; the service account searches for them.
const (
	ldapServiceDN = "cn=portcullis,ou=services,dc=example,dc=org"
	ldapServicePW = "ldap-service-secret-5e1b"
	ldapAlicePW   = "alice-in-the-directory"
	ldapBobPW     = "bob-in-the-directory"
)

func ldapFixture() string {
	person := func(uid, pw string) string {
		return fmt.Sprintf("dn: uid=%s,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nuserPassword: %s\n\n",
			uid, uid, uid, uid, slapd.SSHA(pw))
	}
	return "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n" +
		"dn: ou=groups,dc=example,dc=org\nobjectClass: organizationalUnit\nou: groups\n\n" +
		"dn: ou=services,dc=example,dc=org\nobjectClass: organizationalUnit\nou: services\n\n" +
		person("alice", ldapAlicePW) + person("bob", ldapBobPW) +
		fmt.Sprintf("dn: %s\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: portcullis\nuserPassword: %s\n\n",
			ldapServiceDN, slapd.SSHA(ldapServicePW)) +
		"dn: cn=admins,ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\ncn: admins\nmember: uid=alice,ou=people,dc=example,dc=org\n"
}

// ldapBackend is a backend entry of the ldap plugin, over LDAPS with the
// directory's CA, searching as the service account whose password is
// given by password (a config line). Its sandbox lets it read the CA's
// file and the files in read.
func ldapBackend(d *slapd.Server, onError, password string, read ...string) string {
	files, _ := json.Marshal(append([]string{d.CAFile}, read...))
	return fmt.Sprintf(`  - name: corp
    plugin: ldap
    on_error: %s
    sandbox: {read: %s}
    config:
      url: %s
      ca_file: %s
      bind_dn: %q
      %s
      user_search: {base: "ou=people,dc=example,dc=org"}
      groups: {base: "ou=groups,dc=example,dc=org"}
      roles: {admins: [admin]}
      timeout: 2s
`, onError, files, d.LDAPSURL, d.CAFile, ldapServiceDN, password)
}

// TestLDAPLogin: a host with an ldap backend against a real slapd logs a
// directory user in (a token whose subject is the directory's id and whose
// roles come from the user's groups) and refuses a wrong password with
// 401. When the directory stops, the login fails closed with 503 under
// on_error: fail, never 401 and never 200; under on_error: skip, the chain
// goes on to the password backend after it, whose users still log in.
func TestLDAPLogin(t *testing.T) {
	t.Parallel()
	d := slapd.Start(t, slapd.Options{LDIF: ldapFixture()})

	// Host A: the directory alone, failing closed; the service account's
	// password from the environment, as ${ENV}.
	env := []string{"LDAP_BIND_PASSWORD=" + ldapServicePW}
	cfgA := writeConfig(t, t.TempDir(), "storage: {driver: sqlite, dsn: ./portcullis.db}\nbackends:\n"+
		ldapBackend(d, "fail", "bind_password: ${LDAP_BIND_PASSWORD}"))
	a, err := launchEnv(t, cfgA, env...)
	if err != nil {
		t.Fatal(err)
	}

	// Host B: the directory, skipped while it is down, then local users;
	// the service account's password in a file.
	dirB := t.TempDir()
	pwFile := filepath.Join(dirB, "ldap-bind.pw")
	if err := os.WriteFile(pwFile, []byte(ldapServicePW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgB := writeConfig(t, dirB, "storage: {driver: sqlite, dsn: ./portcullis.db}\nbackends:\n"+
		ldapBackend(d, "skip", "bind_password_file: "+pwFile, pwFile)+"  - {name: local, plugin: password}\n")
	mustRun(t, cfgB, "carol-local-pw\n", "users", "add", "carol", "--password-stdin")
	b := startHost(t, cfgB)

	for name, h := range map[string]*host{"on_error fail": a, "on_error skip": b} {
		ok := h.login("alice", ldapAlicePW)
		if ok.status != 200 {
			t.Fatalf("%s: alice's directory password: %d %s", name, ok.status, ok.raw)
		}
		access, _ := ok.body["access_token"].(string)
		_, claims := jwtSegments(t, access)
		if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "ldap:") || len(sub) != len("ldap:")+36 {
			t.Errorf("%s: alice's subject %q, want ldap: and her entryUUID", name, sub)
		}
		if fmt.Sprint(claims["roles"]) != "[admin]" || claims["username"] != "alice" {
			t.Errorf("%s: alice's claims %v, want roles [admin] and username alice", name, claims)
		}
		if r := h.login("bob", ldapBobPW); r.status != 200 {
			t.Errorf("%s: bob: %d %s", name, r.status, r.raw)
		}
		for _, bad := range [][2]string{{"alice", "wrong-password"}, {"alice", ""}, {"nobody", ldapAlicePW}, {"*", ldapAlicePW}} {
			if r := h.login(bad[0], bad[1]); r.status != 401 || r.body["error"] != "invalid_credentials" {
				t.Errorf("%s: %q with a wrong password: %d %s, want 401 invalid_credentials", name, bad[0], r.status, r.raw)
			}
		}
	}
	if r := b.login("carol", "carol-local-pw"); r.status != 200 {
		t.Fatalf("a local user behind the directory: %d %s", r.status, r.raw)
	}

	d.Stop()
	// Fail closed: the directory cannot decide, so neither a right nor a
	// wrong password is answered as such.
	for _, pw := range []string{ldapAlicePW, "wrong-password"} {
		if r := a.login("alice", pw); r.status != 503 || r.body["error"] != "backend_unavailable" {
			t.Errorf("on_error fail, directory down, password %q: %d %s, want 503 backend_unavailable", pw, r.status, r.raw)
		}
	}
	// Skip: the chain goes on to the local users; a directory user is
	// then unknown (401), never let through.
	if r := b.login("carol", "carol-local-pw"); r.status != 200 {
		t.Errorf("on_error skip, directory down: the local user got %d %s, want 200", r.status, r.raw)
	}
	if r := b.login("alice", ldapAlicePW); r.status != 401 {
		t.Errorf("on_error skip, directory down: alice got %d %s, want 401 (the directory was skipped)", r.status, r.raw)
	}

	d.Start()
	for name, h := range map[string]*host{"on_error fail": a, "on_error skip": b} {
		if r := h.login("alice", ldapAlicePW); r.status != 200 {
			t.Errorf("%s: alice after the directory came back: %d %s", name, r.status, r.raw)
		}
	}
	for _, h := range []*host{a, b} {
		for _, secret := range []string{ldapServicePW, ldapAlicePW, ldapBobPW} {
			if strings.Contains(h.output(), secret) {
				t.Errorf("the host's log holds a password")
			}
		}
	}
}
