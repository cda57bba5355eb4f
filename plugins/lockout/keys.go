package lockout

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Storage key layout (all in the plugin instance's own namespace):
//
//	c|<group>|<value>|<value>...   attempt counter of one group's values
//	h|<group>|<sha256>             the same, for values too long to spell out
//	a|<unix ms>|<id>               access log record (successful login)
//	as|<session id>                the access log key of a session
//	x|<username>|<unix ms>|<id>    access failure log record
//
// Values are escaped so that no two value lists make the same key:
// ("ab","c") and ("a","bc") differ because '|' separates and is itself
// escaped ("%7C"), as is '%' ("%25").
const (
	prefixCounter = "c|"
	prefixHashed  = "h|"
	maxKeyBytes   = 1000
	// maxUserAgentBytes is how much of a user agent counts (as django-axes).
	maxUserAgentBytes = 255
)

var escaper = strings.NewReplacer("%", "%25", "|", "%7C")

func unescape(s string) string {
	return strings.NewReplacer("%7C", "|", "%25", "%").Replace(s)
}

// Client is what a lockout group is made of.
type Client struct {
	Username  string
	IPAddress string
	UserAgent string
}

func (c Client) value(field string) string {
	switch field {
	case FieldUsername:
		return c.Username
	case FieldIPAddress:
		return c.IPAddress
	}
	return c.UserAgent
}

// counterKey is the storage key of g's counter for client c, and whether
// the group applies (a group with a username has no counter for a login
// without one).
func counterKey(g Group, c Client) (string, bool) {
	var b strings.Builder
	b.WriteString(prefixCounter + g.Name())
	for _, f := range g {
		v := c.value(f)
		if f == FieldUsername && v == "" {
			return "", false
		}
		b.WriteString("|" + escaper.Replace(v))
	}
	key := b.String()
	if len(key) > maxKeyBytes {
		sum := sha256.Sum256([]byte(key))
		return prefixHashed + g.Name() + "|" + hex.EncodeToString(sum[:]), true
	}
	return key, true
}

// parsedKey is a counter key read back.
type parsedKey struct {
	Group  Group
	Values map[string]string // nil for a hashed key
}

func parseCounterKey(key string) (parsedKey, bool) {
	hashed := strings.HasPrefix(key, prefixHashed)
	if !hashed && !strings.HasPrefix(key, prefixCounter) {
		return parsedKey{}, false
	}
	parts := strings.Split(key[2:], "|")
	g := Group(strings.Split(parts[0], "+"))
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
