package e2e

import (
	"strings"
	"testing"
)

// TestUsernamesAreOneForm: the two Unicode forms of one name are one user,
// created as one and logging in as one, and names that look like another
// or hide characters are refused by the command line and at login.
func TestUsernamesAreOneForm(t *testing.T) {
	const joseNFC, joseNFD = "Jos\u00e9", "Jose\u0301"
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHost(t, cfg)

	out := mustRun(t, cfg, "pw-jose\n", "users", "add", joseNFD, "--password-stdin")
	if !strings.Contains(out, `User "José" added (id `) || !strings.Contains(out, `given as "Jose\u0301"`) {
		t.Fatalf("users add of the decomposed name:\n%s", out)
	}
	if out, err := run(t, cfg, "other\n", "users", "add", joseNFC, "--password-stdin"); err == nil || !strings.Contains(out, `user "José" already exists`) {
		t.Fatalf("users add of the composed name beside it: %v\n%s", err, out)
	}
	if out, err := run(t, cfg, "other\n", "users", "add", "JOS\u00c9", "--password-stdin"); err == nil || !strings.Contains(out, `user "JOSÉ" already exists as "José"`) {
		t.Fatalf("users add of the name in capitals: %v\n%s", err, out)
	}
	for _, name := range []string{joseNFC, joseNFD} {
		if r := h.login(name, "pw-jose"); r.status != 200 {
			t.Errorf("login as %+q: %d %s", name, r.status, r.raw)
		}
	}

	refused := []struct {
		name, cli string
	}{
		{"\u0430lice", `"\u0430lice": username mixes scripts: Cyrillic (U+0430 CYRILLIC SMALL LETTER A) with Latin`},
		{"ali\u200bce", `"ali\u200bce": username must not contain invisible characters (U+200B ZERO WIDTH SPACE)`},
		{"alice\u202etxt.exe", `"alice\u202etxt.exe": username must not contain bidirectional control characters (U+202E RIGHT-TO-LEFT OVERRIDE)`},
		{"alice ", `"alice ": username must not contain spaces (U+0020 SPACE)`},
	}
	for _, tt := range refused {
		t.Run(tt.cli[:strings.Index(tt.cli, ":")], func(t *testing.T) {
			out, err := run(t, cfg, "pw\n", "users", "add", tt.name, "--password-stdin")
			if err == nil || !strings.Contains(out, "portcullis: "+tt.cli) {
				t.Errorf("users add %+q: %v\n%s", tt.name, err, out)
			}
			r := h.login(tt.name, "pw")
			if r.status != 400 || r.body["error"] != "invalid_request" || !strings.HasPrefix(r.body["error_description"].(string), "username ") {
				t.Errorf("login as %+q: %d %s; want 400 invalid_request about the username", tt.name, r.status, r.raw)
			}
		})
	}
	if out := mustRun(t, cfg, "", "users", "list"); !strings.Contains(out, "\nJosé ") || !strings.HasSuffix(out, "1 user(s).\n") {
		t.Errorf("users list:\n%s", out)
	}

	// The lockout counts one name whatever form it was sent in, and an
	// operator resets it in either form.
	for _, name := range []string{joseNFD, joseNFC} {
		if r := h.login(name, "wrong"); r.status != 401 {
			t.Fatalf("wrong password as %+q: %d %s", name, r.status, r.raw)
		}
	}
	// The default lockout keeps three records: the name with the address,
	// the address, and the name; each has counted both failures.
	out = mustRun(t, cfg, "", "lockout", "list")
	if strings.Contains(out, joseNFD) || strings.Count(out, " José ") != 2 || !strings.Contains(out, "3 record(s).") {
		t.Errorf("lockout list after wrong passwords as both forms of one name:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n")[1:4] {
		if f := strings.Fields(line); len(f) < 5 || f[4] != "2" {
			t.Errorf("a lockout record did not count both forms as one name: %q", line)
		}
	}
	if out := mustRun(t, cfg, "", "lockout", "reset", "--username", joseNFD); !strings.Contains(out, "2 attempts removed.") {
		t.Errorf("lockout reset --username in the decomposed form:\n%s", out)
	}
}
