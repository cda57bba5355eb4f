package ldap

import (
	"strings"
	"testing"
)

// LDAPS and StartTLS with the directory's CA work; with a CA that did not
// sign the directory's certificate, or a name the certificate does not
// hold, every login is an error, never a grant.
func TestTLS(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	ldaps := map[string]any{"url": d.LDAPSURL, "ca_file": d.CAFile}
	startTLS := map[string]any{"url": d.LDAPURL, "start_tls": true, "ca_file": d.CAFile}
	for name, tls := range map[string]map[string]any{"ldaps": ldaps, "starttls": startTLS} {
		t.Run(name, func(t *testing.T) {
			for _, config := range []map[string]any{bindConfig(""), searchConfig("")} {
				auth := start(t, with(config, tls))
				if id := mustGrant(t, auth, "alice", alicePW); id.Username != "alice" {
					t.Errorf("identity %+v", id)
				}
				mustRefuse(t, auth, "alice", "wrong-password")

				wrongCA := start(t, with(with(config, tls), map[string]any{"ca_file": d.OtherCAFile}))
				err := mustFail(t, wrongCA, "alice", alicePW)
				if !strings.Contains(err.Error(), "certificate") {
					t.Errorf("with another CA: %v, want a certificate error", err)
				}
				mustFail(t, wrongCA, "alice", "wrong-password")

				// The certificate is for 127.0.0.1, ::1 and localhost.
				wrongName := start(t, with(with(config, tls), map[string]any{"tls_server_name": "ldap.example.org"}))
				mustFail(t, wrongName, "alice", alicePW)
				// localhost is in the certificate.
				mustGrant(t, start(t, with(with(config, tls), map[string]any{"tls_server_name": "localhost"})), "alice", alicePW)
			}
		})
	}
	// Without ca_file the system's roots are used, which do not know the
	// test CA.
	mustFail(t, start(t, with(bindConfig(d.LDAPSURL), nil)), "alice", alicePW)
}
