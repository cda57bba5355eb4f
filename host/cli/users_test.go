package cli

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/portcullis-auth/portcullis/host/storage"
)

// usersFixture is a configuration on a fresh SQLite database.
type usersFixture struct {
	config, db string
}

func newUsersFixture(t *testing.T) *usersFixture {
	t.Helper()
	dir := t.TempDir()
	f := &usersFixture{config: filepath.Join(dir, "portcullis.yaml"), db: filepath.Join(dir, "portcullis.db")}
	if err := os.WriteFile(f.config, fmt.Appendf(nil, "storage: {driver: sqlite, dsn: %q}\n", f.db), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(context.Background(), storage.SQLite, f.db)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return f
}

// legacy stores a user as an older host could have, under a name that is
// not a username by today's rules.
func (f *usersFixture) legacy(t *testing.T, id, name string) {
	t.Helper()
	db, err := sql.Open("sqlite", f.db+"?_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec("INSERT INTO users (id, username, password_hash, disabled, created_at, updated_at) VALUES (?, ?, 'h', false, ?, ?)",
		id, name, time.Now().UTC(), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
}

func (f *usersFixture) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	_, stdout, err := execute(t, append(args, "--config", f.config)...)
	return stdout, err
}

// TestUsersOutputEscapesNames: a name stored before today's username rules
// may hold characters that rewrite a terminal line; the commands print it
// escaped, and can still find it to remove it.
func TestUsersOutputEscapesNames(t *testing.T) {
	f := newUsersFixture(t)
	hidden := map[string]string{ // stored name: how it is printed
		"ali\u200bce":        `"ali\u200bce"`,
		"admin\u202etxt.exe": `"admin\u202etxt.exe"`,
		"\x1b[31mred":        `"\x1b[31mred"`,
		"\u0430lice":         `"\u0430lice"`,
		"bob ":               `"bob "`,
	}
	i := 0
	for name := range hidden {
		i++
		f.legacy(t, fmt.Sprintf("legacy-%d", i), name)
	}
	f.legacy(t, "plain", "alice")

	out, err := f.run(t, "users", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\u200b", "\u202e", "\x1b", "\u0430"} {
		if strings.Contains(out, bad) {
			t.Errorf("users list printed %+q raw:\n%s", bad, out)
		}
	}
	for name, printed := range hidden {
		if !strings.Contains(out, printed+" (!)") {
			t.Errorf("users list does not show %+q as %s, marked:\n%s", name, printed, out)
		}
	}
	if !strings.Contains(out, "\nalice ") || strings.Contains(out, "alice (!)") {
		t.Errorf("users list does not show alice plainly:\n%s", out)
	}
	if !strings.Contains(out, "(!) 5 names were stored before today's username rules and cannot log in") {
		t.Errorf("users list does not explain the mark:\n%s", out)
	}

	for name, printed := range hidden {
		t.Run("remove "+printed, func(t *testing.T) {
			out, err := f.run(t, "users", "remove", name)
			if err != nil || out != "User "+printed+" removed.\n" {
				t.Fatalf("users remove: %q, %v; want %q", out, err, "User "+printed+" removed.\n")
			}
		})
	}
	if _, err := f.run(t, "users", "remove", "ali\u200bce"); err == nil || err.Error() != `no user "ali\u200bce" (see portcullis users list)` {
		t.Errorf("removing a gone user: %v", err)
	}
}

// TestUsersAddRefusesWhatIsNoUsername: the name is checked before the
// password is read or anything is stored.
func TestUsersAddRefusesWhatIsNoUsername(t *testing.T) {
	f := newUsersFixture(t)
	tests := []struct {
		name, arg, want string
	}{
		{"Latin with a Cyrillic а", "\u0430lice", `"\u0430lice": username mixes scripts: Cyrillic (U+0430 CYRILLIC SMALL LETTER A) with Latin (U+006C LATIN SMALL LETTER L); write a name in one script`},
		{"zero width space", "ali\u200bce", `"ali\u200bce": username must not contain invisible characters (U+200B ZERO WIDTH SPACE)`},
		{"right-to-left override", "ali\u202ece", `"ali\u202ece": username must not contain bidirectional control characters (U+202E RIGHT-TO-LEFT OVERRIDE)`},
		{"trailing space", "alice ", `"alice ": username must not contain spaces (U+0020 SPACE)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.run(t, "users", "add", tt.arg, "--password-stdin")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("users add %+q: %v\nwant: %s", tt.arg, err, tt.want)
			}
		})
	}
	if out, err := f.run(t, "users", "list"); err != nil || !strings.HasSuffix(out, "0 user(s).\n") {
		t.Errorf("users list after refused adds: %q, %v", out, err)
	}
}

// TestUsersDisableAndEnable: each command says what it did, the state
// shows in users list, and an unknown user is an error that changes
// nothing.
func TestUsersDisableAndEnable(t *testing.T) {
	f := newUsersFixture(t)
	s, err := storage.Open(t.Context(), storage.SQLite, f.db)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s.CreateUser(t.Context(), "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(t.Context(), "Jos\u00e9", "h"); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := s.SaveTokens(t.Context(),
		storage.Token{ID: "t1", Hash: "h1", Kind: "access", Subject: alice.ID, Username: "alice", FamilyID: "session-1", ExpiresAt: exp},
		storage.Token{ID: "t2", Hash: "h2", Kind: "refresh", Subject: alice.ID, Username: "alice", FamilyID: "session-1", ExpiresAt: exp},
	); err != nil {
		t.Fatal(err)
	}
	s.Close()

	steps := []struct {
		args    []string
		out     string // stdout, when it works
		err     string // the error, when it fails
		aliceIs string // alice's state in users list afterwards
	}{
		{args: []string{"disable", "alice"}, out: "User \"alice\" disabled; 1 session ended.\n", aliceIs: "disabled"},
		{args: []string{"disable", "alice"}, out: "User \"alice\" was already disabled.\n", aliceIs: "disabled"},
		{args: []string{"disable", "bob"}, err: `no user "bob" (see portcullis users list)`, aliceIs: "disabled"},
		{args: []string{"enable", "bob"}, err: `no user "bob" (see portcullis users list)`, aliceIs: "disabled"},
		{args: []string{"disable", "ali\u200bce"}, err: `no user "ali\u200bce" (see portcullis users list)`, aliceIs: "disabled"},
		{args: []string{"disable"}, err: "accepts 1 arg(s), received 0", aliceIs: "disabled"},
		{args: []string{"enable", "alice", "bob"}, err: "accepts 1 arg(s), received 2", aliceIs: "disabled"},
		{args: []string{"enable", "alice"}, out: "User \"alice\" enabled.\n", aliceIs: "active"},
		{args: []string{"enable", "alice"}, out: "User \"alice\" was not disabled.\n", aliceIs: "active"},
		{args: []string{"disable", "alice"}, out: "User \"alice\" disabled.\n", aliceIs: "disabled"},
		// The decomposed form of a stored name finds it.
		{args: []string{"disable", "Jose\u0301"}, out: "User \"José\" disabled.\n", aliceIs: "disabled"},
	}
	for _, st := range steps {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			out, err := f.run(t, append([]string{"users"}, st.args...)...)
			switch {
			case st.err != "" && (err == nil || err.Error() != st.err || exitStatus(err) != 1):
				t.Fatalf("got %q, %v; want the error %q, exit status 1", out, err, st.err)
			case st.err == "" && (err != nil || out != st.out):
				t.Fatalf("got %q, %v; want %q", out, err, st.out)
			}
			list, err := f.run(t, "users", "list")
			if err != nil {
				t.Fatal(err)
			}
			if want := "\nalice "; !strings.Contains(list, want) || !strings.Contains(lineOf(list, "alice"), "  "+st.aliceIs+"  ") {
				t.Fatalf("users list shows alice as %q, want %s:\n%s", lineOf(list, "alice"), st.aliceIs, list)
			}
		})
	}
}

// lineOf returns the line of a table that starts with name.
func lineOf(table, name string) string {
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}
