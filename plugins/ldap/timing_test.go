package ldap

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// An unknown user, and an ambiguous one, costs a bind as a known user
// with a wrong password does: the plugin binds the decoy with the
// password. With a real entry as the decoy, whose password the attacker
// happens to know, the login is still refused.
func TestUnknownUserBindsTheDecoy(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	carolDN := "uid=carol," + peopleBase
	b, _ := configured(t, with(searchConfig(d.LDAPURL), map[string]any{
		"pool_size":   1,
		"user_search": map[string]any{"base": "dc=example,dc=org", "decoy_dn": carolDN},
	}))
	for _, username := range []string{"nobody", "twin"} {
		mustRefuse(t, b, username, carolPW)
		if who := whoami(t, b.binds); !strings.EqualFold(who, "dn:"+carolDN) {
			t.Errorf("after %s's login the bind connection is %q, want the decoy's bind", username, who)
		}
	}
	// The default decoy is a DN nobody chose, under the users' base.
	b, _ = configured(t, searchConfig(d.LDAPURL))
	if !strings.HasPrefix(b.decoyDN, "cn=portcullis-decoy-") || !strings.HasSuffix(b.decoyDN, ",dc=example,dc=org") {
		t.Errorf("default decoy %q", b.decoyDN)
	}
}

// Over many interleaved tries, an unknown user's answer is not much
// sooner than a known user's with a wrong password. The bound is loose:
// it catches a plugin that skips the bind for unknown users (about half
// the time), not the tens of microseconds the directory spends sending a
// found entry back (docs/ldap.md, timing).
func TestUnknownUsersCostAsMuch(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	for name, config := range map[string]map[string]any{"search": searchConfig(d.LDAPURL), "bind": bindConfig(d.LDAPURL)} {
		t.Run(name, func(t *testing.T) {
			auth := start(t, config)
			mustRefuse(t, auth, "alice", "warm-up")
			var known, unknown []time.Duration
			for range 150 {
				order := []string{"alice", "nobody-here"}
				rand.Shuffle(2, func(i, j int) { order[i], order[j] = order[j], order[i] })
				for _, u := range order {
					began := time.Now()
					mustRefuse(t, auth, u, "wrong-password")
					if u == "alice" {
						known = append(known, time.Since(began))
					} else {
						unknown = append(unknown, time.Since(began))
					}
				}
			}
			slices.Sort(known)
			slices.Sort(unknown)
			k, u := known[len(known)/2], unknown[len(unknown)/2]
			t.Logf("median answer: known user %v, unknown user %v", k, u)
			if float64(u) < 0.75*float64(k) {
				t.Errorf("unknown users are answered in %v, known users with a wrong password in %v: the time tells which users exist", u, k)
			}
		})
	}
}
