// Package netaddr writes addresses as the host keys and reports them.
package netaddr

import "net/netip"

// Text is a's text (netip.Addr.String), given as s itself when s already
// is that text: an address that arrives in its canonical form, as most
// do, costs no new string.
func Text(a netip.Addr, s string) string {
	var room [64]byte
	if b := a.AppendTo(room[:0]); string(b) == s {
		return s
	}
	return a.String()
}
