package ldap

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Both modes, over gRPC as the host runs the plugin: the right password
// gives the directory's user, with its id, its spelling of the name and
// the roles of its groups; a wrong password and an unknown user abstain.
func TestModes(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	aliceSubject := "ldap:" + entryUUID(t, d, aliceDN)
	for name, config := range map[string]map[string]any{
		"bind as user":       bindConfig(d.LDAPURL),
		"search then bind":   searchConfig(d.LDAPURL),
		"search, memberOf":   with(searchConfig(d.LDAPURL), map[string]any{"groups": map[string]any{"attribute": "memberOf"}}),
		"bind, group search": with(bindConfig(d.LDAPURL), map[string]any{"groups": map[string]any{"base": groupsBase, "filter": "(&(objectClass=groupOfNames)(member={dn}))"}}),
	} {
		t.Run(name, func(t *testing.T) {
			auth := start(t, config)
			id := mustGrant(t, auth, "alice", alicePW)
			if id.Subject != aliceSubject || id.Username != "alice" || !slices.Equal(id.Roles, []string{"admin", "reader", "writer"}) {
				t.Errorf("alice's identity %+v, want subject %s, username alice, roles [admin reader writer]", id, aliceSubject)
			}
			// The directory matches uid without regard to case, and the
			// identity spells the name as the directory does.
			if id := mustGrant(t, auth, "ALICE", alicePW); id.Subject != aliceSubject || id.Username != "alice" {
				t.Errorf("ALICE's identity %+v, want alice's", id)
			}
			if id := mustGrant(t, auth, "bob", bobPW); !slices.Equal(id.Roles, []string{"reader", "writer"}) || id.Username != "bob" {
				t.Errorf("bob's identity %+v, want roles [reader writer]", id)
			}
			if id := mustGrant(t, auth, "carol", carolPW); id.Roles != nil || !strings.HasPrefix(id.Subject, "ldap:") {
				t.Errorf("carol's identity %+v, want an ldap: subject and no roles", id)
			}
			mustRefuse(t, auth, "alice", "wrong-password")
			mustRefuse(t, auth, "alice", bobPW)
			mustRefuse(t, auth, "nobody", alicePW)
			mustRefuse(t, auth, "", alicePW)
		})
	}
}

// The subject may be the DN, or another attribute.
func TestSubjectAttribute(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	id := mustGrant(t, start(t, with(bindConfig(d.LDAPURL), map[string]any{"subject_attribute": "dn"})), "alice", alicePW)
	if id.Subject != "ldap:"+aliceDN {
		t.Errorf("subject %q, want ldap:%s", id.Subject, aliceDN)
	}
	id = mustGrant(t, start(t, with(searchConfig(d.LDAPURL), map[string]any{"subject_attribute": "mail"})), "bob", bobPW)
	if id.Subject != "ldap:bob@example.org" {
		t.Errorf("subject %q, want ldap:bob@example.org", id.Subject)
	}
	// An entry without the attribute cannot be given an id: an error,
	// not a grant under another id.
	mustFail(t, start(t, with(searchConfig(d.LDAPURL), map[string]any{"subject_attribute": "employeeNumber"})), "bob", bobPW)
}

// The classic hole: a simple bind with a DN and an empty password is an
// unauthenticated bind, which this directory (like many) answers with
// success. The plugin refuses an empty password without a bind.
func TestEmptyPasswordIsRefusedWithoutABind(t *testing.T) {
	t.Parallel()
	d := directory(t, true)
	c, err := goldap.DialURL(d.LDAPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.SimpleBind(&goldap.SimpleBindRequest{Username: aliceDN, AllowEmptyPassword: true}); err != nil {
		t.Fatalf("the directory should accept an unauthenticated bind for the test to mean anything: %v", err)
	}
	for _, config := range []map[string]any{bindConfig(d.LDAPURL), searchConfig(d.LDAPURL)} {
		auth := start(t, config)
		mustRefuse(t, auth, "alice", "")
		mustGrant(t, auth, "alice", alicePW) // the same backend works
	}

	// Against a directory that is not there, an empty password is still
	// an abstain and a real one an error: the empty one never reached
	// the network.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "ldap://" + ln.Addr().String()
	ln.Close()
	for _, config := range []map[string]any{bindConfig(gone), searchConfig(gone)} {
		auth := start(t, config)
		mustRefuse(t, auth, "alice", "")
		mustFail(t, auth, "alice", alicePW)
	}
}

// A login name is a value, never part of a DN's or a filter's structure:
// names that would reach another entry, or match by wildcard, if they
// were pasted in as they are, match nothing, even with the right
// password of the entry they aim at.
func TestInjection(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	// What the names below aim at is there: pasted in as they are, they
	// would reach admin under ou=x, or alice by wildcard.
	admin := d.Admin(t)
	if err := admin.Bind("uid=admin,ou=x,"+peopleBase, adminPW); err != nil {
		t.Fatalf("admin's own bind: %v", err)
	}
	res, err := admin.Search(goldap.NewSearchRequest("dc=example,dc=org", goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=inetOrgPerson)(uid=alic*))", nil, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("the wildcard filter: %v, %d entries, want alice's", err, len(res.Entries))
	}
	bind := start(t, bindConfig(d.LDAPURL))
	search := start(t, with(searchConfig(d.LDAPURL), map[string]any{
		"user_search": map[string]any{"base": "dc=example,dc=org", "filter": "(&(objectClass=inetOrgPerson)(uid={username}))"},
	}))
	for _, tt := range []struct {
		auth     sdk.Authenticator
		username string
		password string
	}{
		{bind, "admin,ou=x", adminPW},
		{bind, "admin\\,ou=x", adminPW},
		{bind, "alice+cn=alice", alicePW},
		{bind, "*", alicePW},
		{search, "*", alicePW},
		{search, "alic*", alicePW},
		{search, "alice)(objectClass=*", alicePW},
		{search, ")(uid=*", alicePW},
		{search, "*)(uid=alice", alicePW},
		{search, "alice\\29", alicePW},
		{search, "alice\x00", alicePW},
	} {
		mustRefuse(t, tt.auth, tt.username, tt.password)
	}
	// The admin under ou=x exists and its password works for the name the
	// directory knows it by, in the mode that can find it.
	mustGrant(t, search, "admin", adminPW)
}

// A filter that matches more than one entry is an unknown user: the plugin
// never guesses which entry is meant.
func TestAmbiguousUserIsUnknown(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	b, log := configured(t, searchConfig(d.LDAPURL))
	mustRefuse(t, b, "twin", twinPW)
	if !strings.Contains(log.String(), "more than one entry") {
		t.Errorf("the ambiguous filter is not logged:\n%s", log)
	}
	// Scoped to one level of ou=people, the filter finds one twin.
	one := with(searchConfig(d.LDAPURL), map[string]any{"user_search": map[string]any{"base": peopleBase, "scope": "one"}})
	mustGrant(t, start(t, one), "twin", twinPW)
}

// The directory going away, mid-test, fails closed: an error, never a
// grant and never an abstain that a later backend could turn into one;
// when it comes back, logins work again on new connections.
func TestDirectoryStoppedFailsClosed(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	for _, config := range []map[string]any{bindConfig(d.LDAPURL), searchConfig(d.LDAPURL)} {
		auth := start(t, config)
		mustGrant(t, auth, "alice", alicePW)
		d.Stop()
		mustFail(t, auth, "alice", alicePW)
		mustFail(t, auth, "alice", "wrong-password")
		mustFail(t, auth, "nobody", "x")
		d.Start()
		mustGrant(t, auth, "alice", alicePW)
		mustRefuse(t, auth, "alice", "wrong-password")
	}
}

// silentServer accepts connections and never answers, like a directory
// that hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return "ldap://" + ln.Addr().String()
}

// A directory that does not answer costs a login the timeout, or the
// host's deadline if that is sooner, and then an error.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	url := silentServer(t)
	for _, config := range []map[string]any{bindConfig(url), searchConfig(url)} {
		auth := start(t, with(config, map[string]any{"timeout": "300ms"}))
		began := time.Now()
		mustFail(t, auth, "alice", alicePW)
		if took := time.Since(began); took < 250*time.Millisecond || took > 3*time.Second {
			t.Errorf("a silent directory took %v, want about the 300ms timeout", took)
		}

		auth = start(t, with(config, map[string]any{"timeout": "30s"}))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var resp sdk.AuthenticateResponse
		began = time.Now()
		err := auth.Authenticate(ctx, &sdk.AuthenticateRequest{Username: "alice", Password: alicePW}, &resp)
		cancel()
		if err == nil || resp.Decision == sdk.DecisionIdentity {
			t.Errorf("past the host's deadline: decision %v, error %v", resp.Decision, err)
		}
		if took := time.Since(began); took > 3*time.Second {
			t.Errorf("the host's 200ms deadline was honoured only after %v", took)
		}
	}
	// A StartTLS that never completes is bounded by dial_timeout.
	auth := start(t, with(bindConfig(url), map[string]any{"start_tls": true, "dial_timeout": "300ms", "timeout": "10s"}))
	began := time.Now()
	mustFail(t, auth, "alice", alicePW)
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("a StartTLS without an answer took %v, want about the 300ms dial_timeout", took)
	}
}

// A wrong service account password is an error that names the account's
// setting, and holds no password.
func TestServiceAccountRefused(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	b, log := configured(t, with(searchConfig(d.LDAPURL), map[string]any{"bind_password": "not-the-service-password"}))
	err := mustFail(t, b, "alice", alicePW)
	if !strings.Contains(err.Error(), "bind_dn") || !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		t.Errorf("error %v, want the service account's invalid credentials", err)
	}
	for _, secret := range []string{"not-the-service-password", alicePW} {
		if strings.Contains(err.Error(), secret) || strings.Contains(log.String(), secret) {
			t.Errorf("%q is in the error or the log: %v\n%s", secret, err, log)
		}
	}
}
