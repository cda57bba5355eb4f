package netaddr

import (
	"net/netip"
	"testing"
)

func TestText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"2001:DB8::1", "2001:db8::1"},
		{"2001:0db8:0:0::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
	} {
		a := netip.MustParseAddr(tt.in)
		if got := Text(a, tt.in); got != tt.want {
			t.Errorf("Text(%s, %q) = %q, want %q", a, tt.in, got, tt.want)
		}
		if got := Text(a, "something else"); got != tt.want {
			t.Errorf("Text(%s, another string) = %q, want %q", a, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Text(netip.MustParseAddr("203.0.113.7"), "203.0.113.7") }); n != 0 {
		t.Errorf("%v allocations for an address in canonical form, want 0", n)
	}
}
