package limiter

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestCounterKeyRoundTrip(t *testing.T) {
	tests := []Client{
		{Username: "alice", IPAddress: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux)"},
		{Username: "a|b", IPAddress: "2001:db8::/64", UserAgent: "x|y|z"},
		{Username: "100%", IPAddress: "192.0.2.1", UserAgent: "%7C%25|%"},
		{Username: "+", IPAddress: "", UserAgent: ""},
		{Username: "ünïcødé", IPAddress: "192.0.2.1", UserAgent: "ｂｏｔ"},
	}
	g := group{"ip_address", "user_agent", "username"}
	seen := map[string]Client{}
	for _, c := range tests {
		key, ok := counterKey(g, c)
		if !ok {
			t.Fatalf("counterKey(%+v) not applicable", c)
		}
		if prev, dup := seen[key]; dup {
			t.Fatalf("%+v and %+v share the key %q", prev, c, key)
		}
		seen[key] = c
		pk, ok := parseCounterKey(key)
		if !ok || pk.Group.name() != g.name() {
			t.Fatalf("parseCounterKey(%q) = %+v, %v", key, pk, ok)
		}
		if pk.Values["username"] != c.Username || pk.Values["ip_address"] != c.IPAddress || pk.Values["user_agent"] != c.UserAgent {
			t.Fatalf("round trip of %+v gave %+v", c, pk.Values)
		}
	}
	if _, ok := counterKey(group{"username"}, Client{IPAddress: "192.0.2.1"}); ok {
		t.Fatal("a username group applies to a login without a username")
	}
	for _, bad := range []string{"", "c|", "c|email|x", "x|alice|1|2", "c|ip_address", "c|ip_address|a|b", "h|username"} {
		if pk, ok := parseCounterKey(bad); ok {
			t.Errorf("parseCounterKey(%q) = %+v, want not a counter", bad, pk)
		}
	}
}

func TestISODuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Minute, "PT30M"},
		{90 * time.Minute, "PT1H30M"},
		{26 * time.Hour, "P1DT2H"},
		{45 * time.Second, "PT45S"},
		{0, "PT0S"},
		{-time.Minute, "PT0S"},
		{400 * time.Millisecond, "PT0S"},
		{1500 * time.Millisecond, "PT2S"},
		{time.Hour, "PT1H"},
		{24 * time.Hour, "P1D"},
		{48*time.Hour + time.Second, "P2DT1S"},
		{time.Hour + time.Second, "PT1H1S"},
		{25*time.Hour + 61*time.Second, "P1DT1H1M1S"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.d.String(), func(t *testing.T) {
			if got := isoDuration(tt.d); got != tt.want {
				t.Fatalf("isoDuration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

// TestCounterKeysAsStored pins the keys' text: counters are stored under
// it, so a key made differently after an upgrade would start every client
// again from zero.
func TestCounterKeysAsStored(t *testing.T) {
	for _, tt := range []struct {
		g    group
		c    Client
		want string
	}{
		{group{"ip_address", "username"}, Client{Username: "victim", IPAddress: "203.0.113.7"}, "c|ip_address+username|203.0.113.7|victim"},
		{group{"ip_address"}, Client{IPAddress: "2001:db8::/64"}, "c|ip_address|2001:db8::/64"},
		{group{"user_agent", "username"}, Client{Username: "a|b%", UserAgent: ""}, "c|user_agent+username||a%7Cb%25"},
	} {
		if got, ok := counterKey(tt.g, tt.c); !ok || got != tt.want {
			t.Errorf("counterKey(%v, %+v) = %q, %v; want %q", tt.g, tt.c, got, ok, tt.want)
		}
	}
	long := Client{Username: strings.Repeat("x", maxKeyBytes)}
	got, ok := counterKey(group{"username"}, long)
	sum := sha256.Sum256([]byte("c|username|" + long.Username))
	if want := "h|username|" + hex.EncodeToString(sum[:]); !ok || got != want {
		t.Errorf("a key over %d bytes = %q, %v; want %q", maxKeyBytes, got, ok, want)
	}
}
