package mobiledevice

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

func TestRegister(t *testing.T) {
	g := newRig(t, nil)
	r := g.register(map[string]any{"user_id": "u-alice", "username": "alice", "name": "Alice's phone", "device_id": "phone-1", "user_agent": "App/1.0"})
	if r.DeviceID != "phone-1" || len(r.DeviceToken) != TokenLength || !r.Primary || r.Reactivated || r.KeyType != KeyToken {
		t.Fatalf("result %+v", r)
	}
	if strings.Trim(r.DeviceToken, tokenAlphabet) != "" {
		t.Errorf("token %q is not of [A-Za-z0-9]", r.DeviceToken)
	}
	d := g.record("phone-1")
	want := device{view: view{DeviceID: "phone-1", UserID: "u-alice", Username: "alice", Name: "Alice's phone", Primary: true, Active: true,
		KeyType: KeyToken, CreatedAt: t0}, TokenHash: hashToken(r.DeviceToken), UserAgent: "App/1.0"}
	if d.CreatedAt.Equal(t0) {
		d.CreatedAt = t0
	}
	if d.LastUsedAt != nil || d.RevokedAt != nil || d.PublicKey != "" {
		t.Errorf("record %+v", d)
	}
	d.LastUsedAt, d.RevokedAt = nil, nil
	if d != want {
		t.Errorf("record %+v, want %+v", d, want)
	}
	if _, err := g.host.Storage().Get(context.Background(), indexKey("u-alice", "phone-1")); err != nil {
		t.Errorf("no index entry: %v", err)
	}

	// Defaults: a new uuid v4, the name "device"; primary false kept; a
	// long user agent cut.
	r = g.register(map[string]any{"user_id": "u-alice", "username": "alice", "primary": false, "user_agent": strings.Repeat("é", 200)})
	id, err := uuid.Parse(r.DeviceID)
	if err != nil || id.Version() != 4 || r.Primary {
		t.Fatalf("result %+v (%v)", r, err)
	}
	if d := g.record(r.DeviceID); d.Name != defaultName || len(d.UserAgent) != maxUserAgent || d.Primary {
		t.Errorf("defaults: name %q, user agent of %d bytes, primary %v", d.Name, len(d.UserAgent), d.Primary)
	}
	if g.view("phone-1").Primary != true {
		t.Error("a device registered not primary demoted the primary one")
	}

	sig := g.host.Emitted()
	if len(sig) != 2 || sig[0].Name != SignalDeviceRegistered {
		t.Fatalf("signals %+v", sig)
	}
	var args signals.DeviceRegistered
	if err := signals.Decode(&sig[0], &args); err != nil {
		t.Fatal(err)
	}
	if args != (signals.DeviceRegistered{DeviceID: "phone-1", UserID: "u-alice", Name: "Alice's phone", Primary: true, KeyType: KeyToken}) {
		t.Errorf("device_registered %+v", args)
	}
}

func TestRegisterConflicts(t *testing.T) {
	g := newRig(t, nil)
	first := g.tokenDevice("u-alice", "alice", "phone")

	// An active device of that id: a conflict, nothing changed.
	_, err := g.run(CommandRegister, map[string]any{"user_id": "u-alice", "username": "alice", "device_id": "phone"}, "")
	if !errors.Is(err, sdk.ErrConflict) || !strings.Contains(err.Error(), "device already registered") {
		t.Fatalf("registering an active device again: %v", err)
	}
	if g.record("phone").TokenHash != hashToken(first) {
		t.Error("a refused registration changed the token")
	}

	// Another user's device id, active or not: a conflict, and no
	// index entry left for the other user.
	for _, revoked := range []bool{false, true} {
		if revoked {
			g.must(CommandRevoke, map[string]any{"device_id": "phone"}, "", nil)
		}
		_, err = g.run(CommandRegister, map[string]any{"user_id": "u-bob", "username": "bob", "device_id": "phone"}, "")
		if !errors.Is(err, sdk.ErrConflict) {
			t.Fatalf("registering alice's device (revoked %v) for bob: %v", revoked, err)
		}
		if _, err := g.host.Storage().Get(context.Background(), indexKey("u-bob", "phone")); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("bob's index keeps alice's device: %v", err)
		}
		if d := g.record("phone"); d.UserID != "u-alice" {
			t.Fatalf("the device went to %s", d.UserID)
		}
	}
	var bobs listResult
	g.must(CommandList, map[string]any{"user_id": "u-bob"}, "", &bobs)
	if len(bobs.Devices) != 0 {
		t.Errorf("bob lists %+v", bobs.Devices)
	}
}

func TestReactivate(t *testing.T) {
	g := newRig(t, nil)
	old := g.tokenDevice("u-alice", "alice", "phone")
	g.clock.Advance(time.Hour)
	var rv revokeResult
	g.must(CommandRevoke, map[string]any{"device_id": "phone"}, "", &rv)
	if !rv.Revoked || rv.UserID != "u-alice" {
		t.Fatalf("revoke %+v", rv)
	}
	if _, err := g.run(CommandAuthenticate, map[string]any{"device_id": "phone"}, old); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Fatalf("a revoked device authenticated: %v", err)
	}

	g.clock.Advance(time.Hour)
	r := g.register(map[string]any{"user_id": "u-alice", "username": "alice", "device_id": "phone", "name": "new name"})
	if !r.Reactivated || r.DeviceToken == "" || r.DeviceToken == old || !r.Primary {
		t.Fatalf("reactivation %+v", r)
	}
	d := g.record("phone")
	if !d.Active || d.RevokedAt != nil || d.Name != "new name" || !d.CreatedAt.Equal(t0) {
		t.Errorf("reactivated record %+v", d)
	}
	if _, err := g.run(CommandAuthenticate, map[string]any{"device_id": "phone"}, old); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("the old token works after reactivation: %v", err)
	}
	g.must(CommandAuthenticate, map[string]any{"device_id": "phone"}, r.DeviceToken, nil)

	// Reactivated as an ed25519 device: no token any more, the new key.
	g.must(CommandRevoke, map[string]any{"device_id": "phone"}, "", nil)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	r = g.register(map[string]any{"user_id": "u-alice", "username": "alice", "device_id": "phone", "public_key": base64.RawURLEncoding.EncodeToString(pub)})
	if !r.Reactivated || r.DeviceToken != "" || r.KeyType != KeyEd25519 {
		t.Fatalf("reactivation with a key %+v", r)
	}
	if d := g.record("phone"); d.TokenHash != "" || d.PublicKey != base64.StdEncoding.EncodeToString(pub) {
		t.Errorf("record %+v", d)
	}
	var reg signals.DeviceRegistered
	sigs := g.host.Emitted()
	if err := signals.Decode(&sigs[len(sigs)-1], &reg); err != nil || !reg.Reactivated || reg.KeyType != KeyEd25519 {
		t.Errorf("device_registered %+v, %v", reg, err)
	}
}

func TestPrimaryDemotesTheOthers(t *testing.T) {
	g := newRig(t, nil)
	g.tokenDevice("u-alice", "alice", "one")
	g.clock.Advance(time.Second)
	g.tokenDevice("u-alice", "alice", "two")
	g.tokenDevice("u-bob", "bob", "bobs")
	if g.view("one").Primary || !g.view("two").Primary || !g.view("bobs").Primary {
		t.Fatalf("after two: one %v, two %v, bob's %v", g.view("one").Primary, g.view("two").Primary, g.view("bobs").Primary)
	}
	g.clock.Advance(time.Second)
	g.register(map[string]any{"user_id": "u-alice", "username": "alice", "device_id": "three", "primary": false})
	if !g.view("two").Primary || g.view("three").Primary {
		t.Error("a device registered not primary changed the primary")
	}
	g.clock.Advance(time.Second)
	g.tokenDevice("u-alice", "alice", "four")
	var list listResult
	g.must(CommandList, map[string]any{"user_id": "u-alice"}, "", &list)
	var primaries []string
	var order []string
	for _, v := range list.Devices {
		order = append(order, v.DeviceID)
		if v.Primary {
			primaries = append(primaries, v.DeviceID)
		}
	}
	if strings.Join(primaries, ",") != "four" || strings.Join(order, ",") != "one,two,three,four" {
		t.Errorf("primaries %v, order %v", primaries, order)
	}
	// A revoked device loses primary.
	g.must(CommandRevoke, map[string]any{"device_id": "four"}, "", nil)
	if v := g.view("four"); v.Primary || v.Active || v.RevokedAt == nil {
		t.Errorf("revoked %+v", v)
	}
}

func TestListGetRevoke(t *testing.T) {
	g := newRig(t, nil)
	g.tokenDevice("u-bob", "bob", "b1")
	g.clock.Advance(time.Second)
	g.tokenDevice("u-alice", "alice", "a1")
	var all listResult
	g.must(CommandList, nil, "", &all)
	if len(all.Devices) != 2 || all.Devices[0].DeviceID != "b1" || all.Devices[1].DeviceID != "a1" {
		t.Fatalf("every device %+v", all.Devices)
	}
	raw, _ := g.run(CommandList, map[string]any{}, "")
	if contains("token_hash", string(raw)) || contains("public_key", string(raw)) || contains(g.record("a1").TokenHash, string(raw)) {
		t.Errorf("the listing shows a hash or key: %s", raw)
	}
	var none listResult
	g.must(CommandList, map[string]any{"user_id": "u-nobody"}, "", &none)
	if none.Devices == nil || len(none.Devices) != 0 {
		t.Errorf("nobody's devices %+v", none)
	}
	raw, _ = g.run(CommandList, map[string]any{"user_id": "u-nobody"}, "")
	if string(raw) != `{"devices":[]}` {
		t.Errorf("empty listing %s", raw)
	}

	if v := g.view("a1"); v.UserID != "u-alice" || v.Username != "alice" || !v.Active || v.KeyType != KeyToken || !v.CreatedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("view %+v", v)
	}
	for _, cmd := range []string{CommandGet, CommandRevoke} {
		if _, err := g.run(cmd, map[string]any{"device_id": "nope"}, ""); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("%s of an unknown device: %v", cmd, err)
		}
	}
	var rv revokeResult
	g.must(CommandRevoke, map[string]any{"device_id": "a1"}, "", &rv)
	if !rv.Revoked || rv.UserID != "u-alice" {
		t.Errorf("revoke %+v", rv)
	}
	g.must(CommandRevoke, map[string]any{"device_id": "a1"}, "", &rv)
	if rv.Revoked || rv.UserID != "u-alice" {
		t.Errorf("revoke again %+v", rv)
	}
	var revoked []signals.DeviceRevoked
	for _, s := range g.host.Emitted() {
		if s.Name == SignalDeviceRevoked {
			var a signals.DeviceRevoked
			if err := signals.Decode(&s, &a); err != nil {
				t.Fatal(err)
			}
			revoked = append(revoked, a)
		}
	}
	if len(revoked) != 1 || revoked[0] != (signals.DeviceRevoked{DeviceID: "a1", UserID: "u-alice"}) {
		t.Errorf("device_revoked signals %+v, want one", revoked)
	}
	// A revoked device is still listed, inactive.
	g.must(CommandList, map[string]any{"user_id": "u-alice"}, "", &all)
	if len(all.Devices) != 1 || all.Devices[0].Active || all.Devices[0].RevokedAt == nil {
		t.Errorf("alice's devices %+v", all.Devices)
	}
}

func TestBadArguments(t *testing.T) {
	g := newRig(t, nil)
	g.tokenDevice("u-alice", "alice", "phone")
	base := func(extra map[string]any) map[string]any {
		a := map[string]any{"user_id": "u-alice", "username": "alice"}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	tests := []struct {
		name, command string
		args          any
		says          string
	}{
		{"unknown key", CommandRegister, base(map[string]any{"nmae": "x"}), "nmae"},
		{"wrong type", CommandRegister, base(map[string]any{"primary": "yes"}), "primary"},
		{"not an object", CommandRegister, []string{"a"}, "arguments"},
		{"null", CommandRegister, nil, "user_id is required"},
		{"no user id", CommandRegister, map[string]any{"username": "alice"}, "user_id"},
		{"no username", CommandRegister, map[string]any{"user_id": "u-alice"}, "username"},
		{"bad device id", CommandRegister, base(map[string]any{"device_id": "a/b"}), "device_id"},
		{"long device id", CommandRegister, base(map[string]any{"device_id": strings.Repeat("d", 65)}), "device_id"},
		{"control in name", CommandRegister, base(map[string]any{"name": "a\nb"}), "name"},
		{"long name", CommandRegister, base(map[string]any{"name": strings.Repeat("n", 101)}), "name"},
		{"short key", CommandRegister, base(map[string]any{"public_key": base64.StdEncoding.EncodeToString(make([]byte, 31))}), "32 bytes"},
		{"not base64", CommandRegister, base(map[string]any{"public_key": "not base64!"}), "public_key"},
		{"nonce without id", CommandNonce, map[string]any{}, "device_id is required"},
		{"nonce of a bad id", CommandNonce, map[string]any{"device_id": "é"}, "device_id"},
		{"get without id", CommandGet, map[string]any{}, "device_id"},
		{"revoke unknown key", CommandRevoke, map[string]any{"device_id": "phone", "force": true}, "force"},
		{"list bad user", CommandList, map[string]any{"user_id": "a\x00b"}, "user_id"},
		{"authenticate without proof", CommandAuthenticate, map[string]any{"device_id": "phone"}, "secret"},
		{"authenticate half signed", CommandAuthenticate, map[string]any{"device_id": "phone", "nonce": "n"}, "signed request"},
		{"authenticate bad body hash", CommandAuthenticate, map[string]any{"device_id": "phone", "nonce": "n", "signature": "s", "method": "GET", "target": "/", "body_sha256": "XYZ"}, "body_sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.run(tt.command, tt.args, "")
			if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("got %v, want sdk.ErrInvalidArgument about %q", err, tt.says)
			}
		})
	}
	// The name of 100 characters, not bytes, is fine.
	g.register(base(map[string]any{"name": strings.Repeat("é", 100)}))
	// Both a token and a signature.
	if _, err := g.run(CommandAuthenticate, map[string]any{"device_id": "phone", "nonce": "n", "signature": "s", "method": "GET", "target": "/", "body_sha256": strings.Repeat("0", 64)}, "token"); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a token and a signature: %v", err)
	}
	if _, err := g.run("device_explode", map[string]any{}, ""); !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("an unknown command: %v", err)
	}
}

func TestUnconfigured(t *testing.T) {
	p := quiet()
	ctx := context.Background()
	if err := p.Admin(ctx, &sdk.AdminRequest{Command: CommandList}, &sdk.AdminResponse{}); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("Admin: %v", err)
	}
	if err := p.Authenticate(ctx, &sdk.AuthenticateRequest{}, &sdk.AuthenticateResponse{}); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("Authenticate: %v", err)
	}
	if _, err := p.PrepareChallenge(ctx, request("r", 0)); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("PrepareChallenge: %v", err)
	}
	if _, err := p.CheckAnswer(ctx, request("r", 0), nil, answerOf("d", "t")); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("CheckAnswer: %v", err)
	}
}

// Twenty hosts registering one new device id at once: one wins, every
// other is told the device is registered, and one device is stored.
func TestConcurrentRegistration(t *testing.T) {
	g := newRig(t, nil)
	const n = 20
	var wg sync.WaitGroup
	results := make(chan error, n)
	tokens := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := g.run(CommandRegister, map[string]any{"user_id": "u-alice", "username": "alice", "device_id": "contested"}, "")
			results <- err
			if err == nil {
				var r registerResult
				_ = json.Unmarshal(raw, &r)
				tokens <- r.DeviceToken
			}
		}()
	}
	wg.Wait()
	close(results)
	close(tokens)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, sdk.ErrConflict):
			t.Errorf("a losing registration: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d registrations succeeded, want 1", won)
	}
	token := <-tokens
	if g.record("contested").TokenHash != hashToken(token) {
		t.Error("the stored device is not the winner's")
	}
	g.must(CommandAuthenticate, map[string]any{"device_id": "contested"}, token, nil)
	n2 := 0
	for _, s := range g.host.Emitted() {
		if s.Name == SignalDeviceRegistered {
			n2++
		}
	}
	if n2 != 1 {
		t.Errorf("%d device_registered signals, want 1", n2)
	}
}
