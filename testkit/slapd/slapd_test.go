package slapd

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const fixture = `dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
userPassword: %s

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=admins,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=example,dc=org
`

const aliceDN = "uid=alice,ou=people,dc=example,dc=org"

func dial(t *testing.T, url string, tlsConfig *tls.Config) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(url, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}), ldap.DialWithTLSConfig(tlsConfig))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(5 * time.Second)
	return c
}

func caPool(t *testing.T, file string) *tls.Config {
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// TestServer checks what the harness promises: binds and entryUUID and
// memberOf over ldap://, StartTLS and ldaps:// with CAFile, a refusal with
// OtherCAFile, the unauthenticated bind when allowed, and Stop and Start.
func TestServer(t *testing.T) {
	s := Start(t, Options{LDIF: strings.Replace(fixture, "%s", SSHA("alice-pw"), 1), AllowUnauthenticatedBind: true})

	c := dial(t, s.LDAPURL, nil)
	if err := c.Bind(aliceDN, "alice-pw"); err != nil {
		t.Fatalf("alice's bind: %v", err)
	}
	if err := c.Bind(aliceDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("a wrong password: %v, want invalid credentials", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=alice)", []string{"entryUUID", "memberOf"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search: %v, %+v", err, res)
	}
	if e := res.Entries[0]; e.GetAttributeValue("entryUUID") == "" || e.GetAttributeValue("memberOf") != "cn=admins,ou=groups,dc=example,dc=org" {
		t.Fatalf("alice's entry: entryUUID %q, memberOf %q", e.GetAttributeValue("entryUUID"), e.GetAttributeValues("memberOf"))
	}
	// The hole the option opens: a DN and no password is anonymous.
	if _, err := c.SimpleBind(&ldap.SimpleBindRequest{Username: aliceDN, AllowEmptyPassword: true}); err != nil {
		t.Fatalf("an unauthenticated bind with AllowUnauthenticatedBind: %v", err)
	}

	trusted := caPool(t, s.CAFile)
	trusted.ServerName = "127.0.0.1"
	tc := dial(t, s.LDAPURL, nil)
	if err := tc.StartTLS(trusted); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := tc.Bind(aliceDN, "alice-pw"); err != nil {
		t.Fatalf("a bind after StartTLS: %v", err)
	}
	if err := dial(t, s.LDAPSURL, trusted).Bind(aliceDN, "alice-pw"); err != nil {
		t.Fatalf("a bind over ldaps: %v", err)
	}
	if _, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(caPool(t, s.OtherCAFile))); err == nil {
		t.Fatal("ldaps with another CA connected")
	}

	s.Stop()
	if answers(s.LDAPURL) {
		t.Fatal("the server answers after Stop")
	}
	s.Start()
	if err := dial(t, s.LDAPURL, nil).Bind(aliceDN, "alice-pw"); err != nil {
		t.Fatalf("alice's bind after a restart: %v", err)
	}
}

func TestUnauthenticatedBindRefusedByDefault(t *testing.T) {
	s := Start(t, Options{LDIF: strings.Replace(fixture, "%s", SSHA("alice-pw"), 1)})
	c := dial(t, s.LDAPURL, nil)
	_, err := c.SimpleBind(&ldap.SimpleBindRequest{Username: aliceDN, AllowEmptyPassword: true})
	if err == nil {
		t.Fatal("an unauthenticated bind succeeded without AllowUnauthenticatedBind")
	}
}
