package cli

import (
	"bytes"
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// rolesFixture is a configuration on a fresh SQLite database holding the
// users alice and bob.
type rolesFixture struct {
	*usersFixture
	aliceID string
}

func newRolesFixture(t *testing.T) *rolesFixture {
	t.Helper()
	f := &rolesFixture{usersFixture: newUsersFixture(t)}
	s := f.open(t)
	alice, err := s.CreateUser(context.Background(), "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	f.aliceID = alice.ID
	if _, err := s.CreateUser(context.Background(), "bob", "h"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *rolesFixture) open(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), storage.SQLite, f.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// runAll runs a command and returns its exit status, stdout and stderr.
func (f *rolesFixture) runAll(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := NewRoot(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs(append(args, "--config", f.config))
	err := root.ExecuteContext(t.Context())
	if err != nil {
		stderr.WriteString("portcullis: " + err.Error() + "\n")
	}
	return exitStatus(err), stdout.String(), stderr.String()
}

// must runs a command that must succeed and print want (a regular
// expression matching the whole output).
func (f *rolesFixture) must(t *testing.T, want string, args ...string) {
	t.Helper()
	code, out, errOut := f.runAll(t, args...)
	if code != 0 {
		t.Fatalf("portcullis %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	if !regexp.MustCompile(`^(?s)` + want + `$`).MatchString(out) {
		t.Errorf("portcullis %s printed\n%s\nwant\n%s", strings.Join(args, " "), out, want)
	}
}

// TestRolesCommands: each command says what it did, and the database
// holds what it said.
func TestRolesCommands(t *testing.T) {
	f := newRolesFixture(t)
	f.must(t, `Role "billing" created \(id [0-9a-f-]{36}\)\.\n`, "roles", "create", "billing")
	f.must(t, `Role "support" created \(id [0-9a-f-]{36}\)\.\n`, "roles", "create", "support")
	f.must(t, `2 permissions granted to role "billing"\.\n`, "roles", "grant", "billing", "orders.read", "invoices.write")
	f.must(t, `1 permission granted to role "billing" \(1 it already held\)\.\n`, "roles", "grant", "billing", "orders.read", "refunds.issue", "refunds.issue")
	f.must(t, `1 permission revoked from role "billing" \(1 it did not hold\)\.\n`, "roles", "revoke", "billing", "refunds.issue", "never.held")
	f.must(t, `1 permission granted to role "support"\.\n`, "roles", "grant", "support", "tickets.read")
	f.must(t, `Role "billing" given to user "alice"\.\n`, "users", "roles", "add", "alice", "billing")
	f.must(t, `User "alice" already holds role "billing"\.\n`, "users", "roles", "add", "alice", "billing")
	f.must(t, `Role "support" given to user "alice"\.\n`, "users", "roles", "add", "alice", "support")
	f.must(t, `Role "support" given to user "bob"\.\n`, "users", "roles", "add", "bob", "support")
	f.must(t, `User "alice" is now a superuser: every permission check passes from its next token\.\n`, "users", "superuser", "alice", "on")
	f.must(t, `User "alice" was already a superuser\.\n`, "users", "superuser", "alice", "on")

	f.must(t, `NAME +USERS +CREATED +PERMISSIONS\n`+
		`billing +1 +\S+ \S+ +invoices\.write orders\.read\n`+
		`support +2 +\S+ \S+ +tickets\.read\n`+
		`2 role\(s\)\.\n`, "roles", "list")
	f.must(t, `ROLE +PERMISSIONS\n`+
		`billing +invoices\.write orders\.read\n`+
		`support +tickets\.read\n`+
		`User "alice" holds 2 role\(s\) and 3 permission\(s\); it is a superuser \(every permission check passes\)\.\n`, "users", "roles", "list", "alice")

	a, err := f.open(t).UserAuthz(context.Background(), f.aliceID)
	want := storage.Authz{Roles: []string{"billing", "support"}, Permissions: []string{"invoices.write", "orders.read", "tickets.read"}, Superuser: true}
	if err != nil || !reflect.DeepEqual(a, want) {
		t.Fatalf("alice's authorization = %+v, %v; want %+v", a, err, want)
	}

	f.must(t, `User "alice" is no longer a superuser, from its next token\.\n`, "users", "superuser", "alice", "off")
	f.must(t, `User "alice" was not a superuser\.\n`, "users", "superuser", "alice", "off")
	f.must(t, `Role "support" taken from user "alice"\.\n`, "users", "roles", "remove", "alice", "support")
	f.must(t, `User "alice" does not hold role "support"\.\n`, "users", "roles", "remove", "alice", "support")
	f.must(t, `Role "billing" deleted; 1 user held it, with 2 permissions\.\n`, "roles", "delete", "billing")
	f.must(t, `ROLE +PERMISSIONS\nUser "alice" holds 0 role\(s\) and 0 permission\(s\); it is not a superuser\.\n`, "users", "roles", "list", "alice")
	f.must(t, `NAME +USERS +CREATED +PERMISSIONS\nsupport +1 +\S+ \S+ +tickets\.read\n1 role\(s\)\.\n`, "roles", "list")
}

// TestRolesCommandsRefuseMistakes: a mistake is an error, exit status 1,
// that says what is wrong, and changes nothing.
func TestRolesCommandsRefuseMistakes(t *testing.T) {
	f := newRolesFixture(t)
	f.must(t, `Role "billing" created .*`, "roles", "create", "billing")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"roles", "create", "billing"}, `role "billing" already exists: conflict`},
		{[]string{"roles", "create", "my role"}, `role name "my role" holds U+0020`},
		{[]string{"roles", "delete", "nobody"}, `no role "nobody" (see portcullis roles list)`},
		{[]string{"roles", "grant", "billing", "orders.read", "orders read"}, `permission "orders read" holds a space`},
		{[]string{"roles", "grant", "billing", "caf\u00e9"}, `holds the byte 0xC3`},
		{[]string{"roles", "grant", "billing"}, `requires at least 2 arg(s)`},
		{[]string{"roles", "grant", "nobody", "orders.read"}, `no role "nobody"`},
		{[]string{"roles", "revoke", "nobody", "orders.read"}, `no role "nobody"`},
		{[]string{"users", "roles", "add", "nobody", "billing"}, `no user "nobody"`},
		{[]string{"users", "roles", "add", "alice", "nobody"}, `no role "nobody"`},
		{[]string{"users", "roles", "add", "alice", "bad/name"}, `role name "bad/name" holds '/'`},
		{[]string{"users", "roles", "remove", "alice", "nobody"}, `no role "nobody"`},
		{[]string{"users", "roles", "list", "nobody"}, `no user "nobody"`},
		{[]string{"users", "superuser", "alice", "yes"}, `say on or off, not "yes"`},
		{[]string{"users", "superuser", "nobody", "on"}, `no user "nobody"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := f.runAll(t, tt.args...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 saying %q", code, out, errOut, tt.want)
			}
		})
	}
	s := f.open(t)
	if r, err := s.RoleByName(context.Background(), "billing"); err != nil || len(r.Permissions) != 0 || r.Users != 0 {
		t.Fatalf("billing after the mistakes = %+v, %v; want it as made", r, err)
	}
	if roles, _ := s.ListRoles(context.Background()); len(roles) != 1 {
		t.Fatalf("roles after the mistakes: %+v", roles)
	}
	if u, _ := s.UserByUsername(context.Background(), "alice"); u.Superuser {
		t.Fatal("alice became a superuser")
	}
}

// TestGrantWarnsOfOverflow: a role with more permissions than a token
// carries is granted, with a warning that its users' tokens carry none.
func TestGrantWarnsOfOverflow(t *testing.T) {
	f := newRolesFixture(t)
	f.must(t, `Role "big" created .*`, "roles", "create", "big")
	perms := make([]string, 257)
	for i := range perms {
		perms[i] = "p" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("0", i/26)
	}
	code, out, errOut := f.runAll(t, append([]string{"roles", "grant", "big"}, perms...)...)
	if code != 0 || !strings.HasPrefix(out, "257 permissions granted") || !strings.Contains(errOut, "Warning: role \"big\" holds 257 permissions; an access token carries at most 256") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
