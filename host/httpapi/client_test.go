package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

func prefixes(ss ...string) trustedProxies {
	var t trustedProxies
	for _, s := range ss {
		t = append(t, netip.MustParsePrefix(s))
	}
	return t
}

func TestClientFacts(t *testing.T) {
	proxies := prefixes("10.0.0.0/8", "127.0.0.1/32", "::1/128", "2001:db8:ffff::/48")
	tests := []struct {
		name    string
		trusted trustedProxies // proxies when nil
		peer    string
		xff     []string
		ua      string
		body    *clientBody
		want    sdk.Client
		wantOK  bool
	}{
		// Untrusted peers speak only for themselves.
		{name: "untrusted peer ignores X-Forwarded-For",
			peer: "203.0.113.5:4321", xff: []string{"198.51.100.7"}, ua: "curl/8",
			want: sdk.Client{IP: "203.0.113.5", UserAgent: "curl/8"}, wantOK: true},
		{name: "untrusted peer ignores body client",
			peer: "203.0.113.5:4321", xff: []string{"198.51.100.7"}, ua: "curl/8", body: &clientBody{IP: "198.51.100.8", UserAgent: "spoofed"},
			want: sdk.Client{IP: "203.0.113.5", UserAgent: "curl/8"}, wantOK: true},
		{name: "untrusted peer's invalid client.ip is ignored, not refused",
			peer: "203.0.113.5:4321", body: &clientBody{IP: "not-an-ip"},
			want: sdk.Client{IP: "203.0.113.5"}, wantOK: true},
		{name: "nobody is trusted, not even loopback", trusted: trustedProxies{},
			peer: "127.0.0.1:1", xff: []string{"198.51.100.7"}, body: &clientBody{IP: "198.51.100.8", UserAgent: "app"}, ua: "hdr",
			want: sdk.Client{IP: "127.0.0.1", UserAgent: "hdr"}, wantOK: true},
		{name: "untrusted IPv4-mapped peer is unmapped",
			peer: "[::ffff:203.0.113.5]:4321",
			want: sdk.Client{IP: "203.0.113.5"}, wantOK: true},
		{name: "untrusted peer's zone is stripped",
			peer: "[fe80::1%eth0]:4321", xff: []string{"198.51.100.7"},
			want: sdk.Client{IP: "fe80::1"}, wantOK: true},
		{name: "unparseable peer address",
			peer: "somewhere", xff: []string{"198.51.100.7"},
			want: sdk.Client{IP: ""}, wantOK: true},

		// A trusted peer that sends no X-Forwarded-For (an app beside the
		// host) speaks through the body's client.
		{name: "an app's body client",
			peer: "10.0.0.1:4321", ua: "app/1", body: &clientBody{IP: "198.51.100.8", UserAgent: "Firefox"},
			want: sdk.Client{IP: "198.51.100.8", UserAgent: "Firefox"}, wantOK: true},
		{name: "body client.ip may itself be a trusted address",
			peer: "10.0.0.1:4321", body: &clientBody{IP: "10.9.9.9"},
			want: sdk.Client{IP: "10.9.9.9"}, wantOK: true},
		{name: "invalid body client.ip is refused",
			peer: "10.0.0.1:4321", body: &clientBody{IP: "198.51.100.300"},
			wantOK: false},
		// A trusted peer that sends X-Forwarded-For is a proxy: the body
		// it passes on is its end user's, and a client in it is ignored.
		{name: "a proxy's X-Forwarded-For, not the client of the body it passes on",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7"}, ua: "proxy/1", body: &clientBody{IP: "198.51.100.8", UserAgent: "Firefox"},
			want: sdk.Client{IP: "198.51.100.7", UserAgent: "proxy/1"}, wantOK: true},
		{name: "a proxy's body with an invalid client.ip is not refused",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7"}, body: &clientBody{IP: "198.51.100.300"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "a proxy's malformed X-Forwarded-For still makes the body its end user's",
			peer: "10.0.0.1:4321", xff: []string{"garbage"}, body: &clientBody{IP: "198.51.100.8"},
			want: sdk.Client{IP: "10.0.0.1"}, wantOK: true},
		{name: "a blank X-Forwarded-For is none",
			peer: "10.0.0.1:4321", xff: []string{" "}, body: &clientBody{IP: "198.51.100.8"},
			want: sdk.Client{IP: "198.51.100.8"}, wantOK: true},
		{name: "body client.ip with a port is refused",
			peer: "127.0.0.1:4321", body: &clientBody{IP: "198.51.100.8:80"},
			wantOK: false},
		{name: "body client.ip zone is stripped",
			peer: "10.0.0.1:4321", body: &clientBody{IP: "fe80::2%en0"},
			want: sdk.Client{IP: "fe80::2"}, wantOK: true},
		{name: "body client.ip IPv4-mapped is unmapped",
			peer: "10.0.0.1:4321", body: &clientBody{IP: "::ffff:198.51.100.8"},
			want: sdk.Client{IP: "198.51.100.8"}, wantOK: true},
		{name: "a proxy's body user agent is ignored too",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7"}, ua: "proxy/1", body: &clientBody{UserAgent: "Safari"},
			want: sdk.Client{IP: "198.51.100.7", UserAgent: "proxy/1"}, wantOK: true},
		{name: "empty body user agent keeps the header's",
			peer: "10.0.0.1:4321", ua: "proxy/1", body: &clientBody{IP: "198.51.100.8"},
			want: sdk.Client{IP: "198.51.100.8", UserAgent: "proxy/1"}, wantOK: true},

		// X-Forwarded-For from a trusted peer, right to left.
		{name: "no X-Forwarded-For keeps the peer",
			peer: "10.0.0.1:4321",
			want: sdk.Client{IP: "10.0.0.1"}, wantOK: true},
		{name: "single hop",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "first untrusted from the right",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7, 10.0.0.2"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "spoofed left-most entry is not believed",
			peer: "10.0.0.1:4321", xff: []string{"1.1.1.1, 198.51.100.7, 10.0.0.3, 10.0.0.2"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "all trusted gives the left-most",
			peer: "10.0.0.1:4321", xff: []string{"10.0.0.4, 10.0.0.3,10.0.0.2"},
			want: sdk.Client{IP: "10.0.0.4"}, wantOK: true},
		{name: "malformed entry gives no answer",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7, garbage, 10.0.0.2"},
			want: sdk.Client{IP: "10.0.0.1"}, wantOK: true},
		{name: "malformed right-most entry gives no answer",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7, unknown"},
			want: sdk.Client{IP: "10.0.0.1"}, wantOK: true},
		{name: "entry with a port is malformed",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7:5555"},
			want: sdk.Client{IP: "10.0.0.1"}, wantOK: true},
		{name: "empty entry is malformed",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.7, , 10.0.0.2"},
			want: sdk.Client{IP: "10.0.0.1"}, wantOK: true},
		{name: "malformed entry beyond the answer does not matter",
			peer: "10.0.0.1:4321", xff: []string{"garbage, 198.51.100.7, 10.0.0.2"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "multiple headers are one list in order",
			peer: "10.0.0.1:4321", xff: []string{"198.51.100.9", "198.51.100.7, 10.0.0.3", "10.0.0.2"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "multiple headers all trusted",
			peer: "10.0.0.1:4321", xff: []string{"10.0.0.5", "10.0.0.2"},
			want: sdk.Client{IP: "10.0.0.5"}, wantOK: true},
		{name: "malformed entry in an earlier header",
			peer: "10.0.0.1:4321", xff: []string{"x, 10.0.0.4", "10.0.0.2"},
			want: sdk.Client{IP: "10.0.0.1"}, wantOK: true},
		{name: "IPv6 entries",
			peer: "10.0.0.1:4321", xff: []string{"2001:db8::7, 2001:db8:ffff::2"},
			want: sdk.Client{IP: "2001:db8::7"}, wantOK: true},
		{name: "IPv4-mapped entries are unmapped before the trust check",
			peer: "10.0.0.1:4321", xff: []string{"::ffff:198.51.100.7, ::ffff:10.0.0.2"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "zoned entries lose the zone",
			peer: "10.0.0.1:4321", xff: []string{"fe80::7%eth1"},
			want: sdk.Client{IP: "fe80::7"}, wantOK: true},

		// Peers of every address form.
		{name: "trusted IPv6 loopback peer",
			peer: "[::1]:4321", xff: []string{"2001:db8::7"},
			want: sdk.Client{IP: "2001:db8::7"}, wantOK: true},
		{name: "trusted IPv6 peer in a prefix",
			peer: "[2001:db8:ffff::9]:4321", xff: []string{"198.51.100.7"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "trusted IPv4-mapped IPv6 peer",
			peer: "[::ffff:10.0.0.1]:4321", xff: []string{"198.51.100.7"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "peer without a port",
			peer: "10.0.0.1", xff: []string{"198.51.100.7"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
		{name: "trusted zoned peer",
			trusted: prefixes("fe80::/64"),
			peer:    "[fe80::1%eth0]:4321", xff: []string{"198.51.100.7"},
			want: sdk.Client{IP: "198.51.100.7"}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trusted := tt.trusted
			if trusted == nil {
				trusted = proxies
			}
			r := httptest.NewRequest("POST", "/v1/login", nil)
			r.RemoteAddr = tt.peer
			r.Header.Del("User-Agent")
			if tt.ua != "" {
				r.Header.Set("User-Agent", tt.ua)
			}
			for _, h := range tt.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			got, ok := trusted.clientFacts(r, tt.body)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v (client %+v)", ok, tt.wantOK, got)
			}
			if ok && got != tt.want {
				t.Errorf("client = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFromForwardedFor(t *testing.T) {
	trusted := prefixes("10.0.0.0/8")
	tests := []struct {
		name    string
		headers []string
		want    string // "" for no answer
	}{
		{"none", nil, ""},
		{"empty header", []string{""}, ""},
		{"spaces around entries", []string{"  198.51.100.7 ,10.0.0.2  "}, "198.51.100.7"},
		{"right-most untrusted", []string{"198.51.100.1, 198.51.100.2"}, "198.51.100.2"},
		{"all trusted", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"malformed", []string{"198.51.100.1, nope"}, ""},
		{"trailing comma", []string{"198.51.100.1,"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := trusted.fromForwardedFor(tt.headers)
			if found != (tt.want != "") {
				t.Fatalf("found = %v (%v), want %v", found, got, tt.want != "")
			}
			if found && got.String() != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
