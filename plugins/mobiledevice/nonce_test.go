package mobiledevice

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

func TestNonceLayout(t *testing.T) {
	key := bytes.Repeat([]byte{7}, nonceKeyBytes)
	expires := t0.Add(time.Minute)
	n, err := issueNonce(key, rand.Reader, "phone", expires)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(raw) != 40 || len(n) != nonceTextLength {
		t.Fatalf("nonce %q: %d bytes, %v", n, len(raw), err)
	}
	if got := int64(binary.BigEndian.Uint64(raw)); got != expires.Unix() {
		t.Errorf("expiry %d, want %d", got, expires.Unix())
	}
	if !bytes.Equal(raw[24:], nonceMAC(key, "phone", raw[:24])) {
		t.Error("the MAC is not HMAC(key, device id ‖ 0 ‖ the first 24 bytes)")
	}
	if at, ok := checkNonce(key, "phone", n, t0); !ok || !at.Equal(expires) {
		t.Errorf("check: %v, %v", at, ok)
	}
	for name, tt := range map[string]struct {
		key []byte
		id  string
		at  time.Time
	}{
		"another key":    {bytes.Repeat([]byte{8}, nonceKeyBytes), "phone", t0},
		"another device": {key, "phone2", t0},
		"a prefix id":    {key, "phon", t0},
		"at its expiry":  {key, "phone", expires},
		"after it":       {key, "phone", expires.Add(time.Hour)},
	} {
		if _, ok := checkNonce(tt.key, tt.id, n, tt.at); ok {
			t.Errorf("%s: the nonce checks", name)
		}
	}
	// A nonce whose expiry is further than any nonce_ttl allows is not
	// one this plugin made, even with a valid MAC.
	far, _ := issueNonce(key, rand.Reader, "phone", t0.Add(time.Hour))
	if _, ok := checkNonce(key, "phone", far, t0); ok {
		t.Error("a nonce good for an hour checks")
	}
	other, _ := issueNonce(key, rand.Reader, "phone", expires)
	if other == n || usedKey(other) == usedKey(n) {
		t.Error("two nonces are the same")
	}
}

func TestNonceKeyRace(t *testing.T) {
	ctx := context.Background()
	host := sdktest.NewMemoryHost()
	keys := make(chan []byte, 8)
	for range cap(keys) {
		go func() {
			k, err := loadOrCreateKey(ctx, host.Storage())
			if err != nil {
				t.Error(err)
			}
			keys <- k
		}()
	}
	first := <-keys
	for range cap(keys) - 1 {
		if k := <-keys; !bytes.Equal(k, first) {
			t.Fatal("two hosts made different keys")
		}
	}
	if err := host.Storage().Put(ctx, nonceKeyName, []byte("short"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateKey(ctx, host.Storage()); err == nil {
		t.Fatal("a 5-byte stored key was used")
	}
}

// Devices made at the same time are listed by id; index entries without
// their device, or of another user's device, are skipped.
func TestListingOrderAndStrayIndex(t *testing.T) {
	g := newRig(t, nil)
	g.tokenDevice("u-carol", "carol", "zz")
	g.tokenDevice("u-carol", "carol", "aa")
	ctx := context.Background()
	for _, stray := range []string{indexKey("u-carol", "missing"), indexKey("u-carol", "dd")} {
		if err := g.host.Storage().Put(ctx, stray, []byte{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	g.tokenDevice("u-dave", "dave", "dd")
	var list listResult
	g.must(CommandList, map[string]any{"user_id": "u-carol"}, "", &list)
	if len(list.Devices) != 2 || list.Devices[0].DeviceID != "aa" || list.Devices[1].DeviceID != "zz" {
		t.Errorf("carol's devices %+v", list.Devices)
	}
	// A user id that is a prefix of another's sees only its own.
	g.tokenDevice("u-carol/x", "carolx", "cx")
	g.must(CommandList, map[string]any{"user_id": "u-carol"}, "", &list)
	if len(list.Devices) != 2 {
		t.Errorf("carol's devices with u-carol/x's: %+v", list.Devices)
	}
	if _, err := g.b.PrepareChallenge(ctx, request("r", 0)); err == nil {
		t.Error("alice, without devices, got a challenge")
	}
}
