package limiter

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/host/internal/netaddr"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// Counter key layout, in the rule's backend's namespace:
//
//	c|<group>|<value>|<value>...   the counter of one group's values
//	h|<group>|<sha256>             the same, for values too long to spell out
//
// <group> is the group's fields sorted and joined with '+', e.g.
// "ip_address+username". Values are escaped so that no two value lists
// make the same key: ("ab","c") and ("a","bc") differ because '|'
// separates and is itself escaped ("%7C"), as is '%' ("%25"). An IPv6
// address is counted by its prefix (e.g. "2001:db8:1:2::/64").
const (
	prefixCounter = "c|"
	prefixHashed  = "h|"
	maxKeyBytes   = 1000
	// maxUserAgentBytes is how much of a user agent counts (as django-axes).
	maxUserAgentBytes = 255
)

var (
	escaper   = strings.NewReplacer("%", "%25", "|", "%7C")
	unescaper = strings.NewReplacer("%7C", "|", "%25", "%")
)

func unescape(s string) string { return unescaper.Replace(s) }

// Client is what a counter is keyed by: the login's values, normalized.
type Client struct {
	Username  string
	IPAddress string
	UserAgent string
}

func (c Client) value(field string) string {
	switch field {
	case attempts.FieldUsername:
		return c.Username
	case attempts.FieldIPAddress:
		return c.IPAddress
	}
	return c.UserAgent
}

// group is a counter's fields, sorted.
type group []string

// name is the group's stable name, e.g. "ip_address+username".
func (g group) name() string { return strings.Join(g, "+") }

// same reports whether g and h are one group (as their names would, without
// making them: the fields are sorted, and no field name holds a "+").
func (g group) same(h group) bool { return slices.Equal(g, h) }

func (g group) has(field string) bool {
	for _, f := range g {
		if f == field {
			return true
		}
	}
	return false
}

var knownFields = map[string]bool{attempts.FieldUsername: true, attempts.FieldIPAddress: true, attempts.FieldUserAgent: true}

// counterKey is the key of g's counter for client c, and whether the group
// applies (a group with a username has no counter for a login without
// one).
func counterKey(g group, c Client) (string, bool) {
	size := len(prefixCounter)
	for _, f := range g {
		v := c.value(f)
		if f == attempts.FieldUsername && v == "" {
			return "", false
		}
		size += len(f) + 2 + len(v) // "+" or the prefix's end, "|", the value unescaped
	}
	// Made in one allocation: a flood of refusals makes a key per group
	// per attempt.
	var b strings.Builder
	b.Grow(size)
	b.WriteString(prefixCounter)
	for i, f := range g {
		if i > 0 {
			b.WriteByte('+')
		}
		b.WriteString(f)
	}
	for _, f := range g {
		b.WriteByte('|')
		b.WriteString(escaper.Replace(c.value(f)))
	}
	key := b.String()
	if len(key) > maxKeyBytes {
		sum := sha256.Sum256([]byte(key))
		return prefixHashed + g.name() + "|" + hex.EncodeToString(sum[:]), true
	}
	return key, true
}

// parsedKey is a counter key read back.
type parsedKey struct {
	Group  group
	Values map[string]string // nil for a hashed key
}

func parseCounterKey(key string) (parsedKey, bool) {
	hashed := strings.HasPrefix(key, prefixHashed)
	if !hashed && !strings.HasPrefix(key, prefixCounter) {
		return parsedKey{}, false
	}
	parts := strings.Split(key[2:], "|")
	g := group(strings.Split(parts[0], "+"))
	for _, f := range g {
		if !knownFields[f] {
			return parsedKey{}, false
		}
	}
	if hashed {
		return parsedKey{Group: g}, len(parts) == 2
	}
	if len(parts) != len(g)+1 {
		return parsedKey{}, false
	}
	p := parsedKey{Group: g, Values: map[string]string{}}
	for i, f := range g {
		p.Values[f] = unescape(parts[i+1])
	}
	return p, true
}

// addressKey is how a client address keys a counter: an IPv4 address
// whole, an IPv6 address by its first bits (a single host often owns a
// whole /64). Something that is not an address is kept as it is.
func addressKey(ip string, ipv6Bits int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() || ipv6Bits >= 128 {
		return netaddr.Text(a, ip)
	}
	p, err := a.Prefix(ipv6Bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// addressMatches reports whether an address as an operator typed it (an
// address or a prefix) names the counter value v.
func addressMatches(typed, v string) bool {
	if typed == v {
		return true
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return false
	}
	if a, err := netip.ParseAddr(typed); err == nil {
		return p.Contains(a.Unmap())
	}
	if tp, err := netip.ParsePrefix(typed); err == nil {
		return tp.Masked() == p.Masked()
	}
	return false
}

// validUTF8 replaces each run of bytes of s that is not UTF-8 by U+FFFD.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// itoa is strconv.FormatInt for log lines.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
