package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// FuzzClientFacts: whatever X-Forwarded-For and the body's client.ip say,
// an untrusted peer is the client, and a trusted proxy's word names an
// address it gave (in the header or the body) or the proxy itself, never a
// zone, never an address written some other way.
func FuzzClientFacts(f *testing.F) {
	for _, s := range [][2]string{
		{"203.0.113.9", ""}, {"203.0.113.9, 10.0.0.2", ""}, {"nope, 10.0.0.2", ""},
		{"203.0.113.9,,10.0.0.2", ""}, {"::ffff:203.0.113.9", ""}, {"fe80::1%eth0", ""},
		{"10.0.0.3, 10.0.0.2", ""}, {"", "198.51.100.7"}, {"203.0.113.9", "not an ip"},
		{"2001:db8::1", "::ffff:198.51.100.7"}, {strings.Repeat("1.2.3.4,", 100), ""},
	} {
		f.Add(s[0], s[1], true)
		f.Add(s[0], s[1], false)
	}
	proxies := trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff, bodyIP string, fromProxy bool) {
		r := httptest.NewRequest("POST", "/v1/login", nil)
		r.RemoteAddr = "192.0.2.1:40000"
		if fromProxy {
			r.RemoteAddr = "10.0.0.1:40000"
		}
		r.Header.Set("X-Forwarded-For", xff)
		var body *clientBody
		if bodyIP != "" {
			body = &clientBody{IP: bodyIP}
		}
		c, ok := proxies.clientFacts(r, body)
		if !fromProxy {
			if !ok || c.IP != "192.0.2.1" {
				t.Fatalf("untrusted peer with X-Forwarded-For %q, client.ip %q: client %q, %v", xff, bodyIP, c.IP, ok)
			}
			return
		}
		if !ok {
			if _, err := netip.ParseAddr(bodyIP); err == nil {
				t.Fatalf("client.ip %q refused, though it is an address", bodyIP)
			}
			return
		}
		a, err := netip.ParseAddr(c.IP)
		if err != nil || a.Zone() != "" || a.Is4In6() || a.String() != c.IP {
			t.Fatalf("client %q from X-Forwarded-For %q, client.ip %q: not an address as the host writes one", c.IP, xff, bodyIP)
		}
		given := append([]string{"10.0.0.1", bodyIP}, strings.Split(xff, ",")...)
		if strings.TrimSpace(xff) != "" && c.IP == bodyIP && bodyIP != "10.0.0.1" && !slices.ContainsFunc(strings.Split(xff, ","), func(h string) bool { return strings.TrimSpace(h) == bodyIP }) {
			t.Fatalf("client %q from a proxy's body, though it sent X-Forwarded-For %q", c.IP, xff)
		}
		for _, g := range given {
			if b, err := netip.ParseAddr(strings.TrimSpace(g)); err == nil && b.Unmap().WithZone("") == a {
				return
			}
		}
		t.Fatalf("client %q from X-Forwarded-For %q, client.ip %q: an address nobody gave", c.IP, xff, bodyIP)
	})
}
