package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/portcullis-auth/portcullis/host/internal/netaddr"
	"github.com/portcullis-auth/portcullis/sdk"
)

// clientBody is the optional "client" object of a login.
type clientBody struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// trustedProxies decides whose word about the end user's address counts.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the connection's other end.
func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// clientFacts establishes the end user's IP and user agent. Only a peer in
// the trusted proxies may speak for someone else: a proxy through
// X-Forwarded-For, read from the right and taking the first address that
// is not itself a trusted proxy; an application beside the host, which
// sends no X-Forwarded-For, through the login's "client" object. Anyone
// else's claims are ignored. ok is false when a trusted peer's client.ip
// that counts is invalid.
//
// A trusted peer that sends X-Forwarded-For is a proxy, and the body it
// passes on is its end user's: a "client" in it is ignored, or anyone
// behind the proxy could name an address of their choosing and escape the
// lockout's address groups (or fill another address's counter).
func (t trustedProxies) clientFacts(r *http.Request, body *clientBody) (c sdk.Client, ok bool) {
	return t.clientFactsFor(r, body, false)
}

// clientFactsFor is clientFacts for a caller that may also speak for its
// end user through body because it presented an app key (app).
func (t trustedProxies) clientFactsFor(r *http.Request, body *clientBody, app bool) (c sdk.Client, ok bool) {
	peer := peerAddr(r)
	c = sdk.Client{UserAgent: r.UserAgent()}
	trusted := peer.IsValid() && t.contains(peer)
	if !trusted && !app {
		c.IP = addrString(peer)
		return c, true
	}
	forwarded := r.Header.Values("X-Forwarded-For")
	if !app && forwards(forwarded) {
		body = nil // a proxy's: the body is its end user's own word
	}
	if body != nil && body.UserAgent != "" {
		c.UserAgent = body.UserAgent
	}
	if body != nil && body.IP != "" {
		a, err := netip.ParseAddr(body.IP)
		if err != nil {
			return c, false
		}
		c.IP = netaddr.Text(a.Unmap().WithZone(""), body.IP)
		return c, true
	}
	c.IP = addrString(peer) // unless the proxy names another below
	if !trusted {
		return c, true
	}
	if a, found := t.fromForwardedFor(forwarded); found {
		c.IP = addrString(a)
	}
	return c, true
}

// forwards reports whether X-Forwarded-For lines say anything: a peer that
// sends one that is not blank is a proxy.
func forwards(lines []string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return true
		}
	}
	return false
}

// fromForwardedFor walks the X-Forwarded-For chain right to left. An entry
// that does not parse ends the walk with no answer: a chain someone has
// tampered with is not evidence.
func (t trustedProxies) fromForwardedFor(headers []string) (netip.Addr, bool) {
	var hops []string
	for _, h := range headers {
		for _, part := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return netip.Addr{}, false
		}
		a = a.Unmap().WithZone("")
		if !t.contains(a) {
			return a, true
		}
		last = a
	}
	return last, last.IsValid()
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
