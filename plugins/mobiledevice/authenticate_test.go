package mobiledevice

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/internal/devicesig"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

func TestTokenAuthentication(t *testing.T) {
	g := newRig(t, nil)
	token := g.tokenDevice("u-alice", "alice", "phone")
	other := g.tokenDevice("u-bob", "bob", "bobs")
	g.tokenDevice("u-alice", "alice", "revoked")
	g.must(CommandRevoke, map[string]any{"device_id": "revoked"}, "", nil)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	g.register(map[string]any{"user_id": "u-alice", "username": "alice", "device_id": "keyed", "public_key": base64.StdEncoding.EncodeToString(pub)})

	var got authenticateResult
	g.must(CommandAuthenticate, map[string]any{"device_id": "phone"}, token, &got)
	if got != (authenticateResult{DeviceID: "phone", UserID: "u-alice", Username: "alice", Name: "phone of alice"}) {
		t.Errorf("result %+v", got)
	}
	for name, tt := range map[string]struct{ id, token string }{
		"wrong token":           {"phone", token[:63] + "x"},
		"another device's":      {"phone", other},
		"unknown device":        {"nope", token},
		"revoked device":        {"revoked", token},
		"token to a keyed one":  {"keyed", token},
		"lower-cased token":     {"phone", strings.ToLower(token)},
		"token with extra char": {"phone", token + "a"},
	} {
		_, err := g.run(CommandAuthenticate, map[string]any{"device_id": tt.id}, tt.token)
		if !errors.Is(err, sdk.ErrPermissionDenied) {
			t.Errorf("%s: %v, want sdk.ErrPermissionDenied", name, err)
			continue
		}
		if err.Error() != errDenied.Error() {
			t.Errorf("%s: the error %q says more than the others", name, err)
		}
	}
}

func TestLastUsed(t *testing.T) {
	g := newRig(t, nil)
	token := g.tokenDevice("u-alice", "alice", "phone")
	if g.record("phone").LastUsedAt != nil {
		t.Fatal("a new device was used")
	}
	g.must(CommandAuthenticate, map[string]any{"device_id": "phone"}, token, nil)
	first := g.record("phone").LastUsedAt
	if first == nil || !first.Equal(t0) {
		t.Fatalf("last used %v, want %v", first, t0)
	}
	g.clock.Advance(30 * time.Second)
	g.must(CommandAuthenticate, map[string]any{"device_id": "phone"}, token, nil)
	if at := g.record("phone").LastUsedAt; !at.Equal(t0) {
		t.Errorf("last used %v within the minute, want %v kept", at, t0)
	}
	g.clock.Advance(31 * time.Second)
	g.must(CommandAuthenticate, map[string]any{"device_id": "phone"}, token, nil)
	if at := g.record("phone").LastUsedAt; !at.Equal(t0.Add(61 * time.Second)) {
		t.Errorf("last used %v after a minute", at)
	}
	if v := g.view("phone"); v.LastUsedAt == nil {
		t.Error("the view has no last use")
	}
}

// signer is an ed25519 device of the tests.
type signer struct {
	id   string
	priv ed25519.PrivateKey
}

func (g *rig) keyedDevice(userID, id string) signer {
	g.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		g.t.Fatal(err)
	}
	r := g.register(map[string]any{"user_id": userID, "username": "name of " + userID, "device_id": id, "public_key": base64.RawURLEncoding.EncodeToString(pub)})
	if r.DeviceToken != "" || r.KeyType != KeyEd25519 {
		g.t.Fatalf("register %s: %+v", id, r)
	}
	return signer{id: id, priv: priv}
}

// nonce asks for a nonce for the device id.
func (g *rig) nonce(id string) nonceResult {
	g.t.Helper()
	var n nonceResult
	g.must(CommandNonce, map[string]any{"device_id": id}, "", &n)
	return n
}

// signed is a signed request's arguments.
func (s signer) signed(id, nonce, method, target string, body []byte) map[string]any {
	h := devicesig.BodyHash(body)
	sig := ed25519.Sign(s.priv, devicesig.Message(method, target, h, nonce))
	return map[string]any{"device_id": id, "nonce": nonce, "signature": base64.RawURLEncoding.EncodeToString(sig),
		"method": method, "target": target, "body_sha256": h}
}

func TestSignedRequests(t *testing.T) {
	g := newRig(t, nil)
	dev := g.keyedDevice("u-alice", "keyed")
	other := g.keyedDevice("u-bob", "other")
	g.tokenDevice("u-alice", "alice", "tokened")
	body := []byte(`{"approve":true}`)
	denied := func(name string, args map[string]any) {
		t.Helper()
		_, err := g.run(CommandAuthenticate, args, "")
		if !errors.Is(err, sdk.ErrPermissionDenied) || err.Error() != errDenied.Error() {
			t.Errorf("%s: %v, want the one sdk.ErrPermissionDenied", name, err)
		}
	}

	n := g.nonce("keyed")
	if !n.ExpiresAt.Equal(t0.Add(DefaultNonceTTL)) || len(n.Nonce) != nonceTextLength {
		t.Fatalf("nonce %+v", n)
	}
	good := dev.signed("keyed", n.Nonce, "POST", "/v1/device/requests/r1/approve?x=1", body)
	var got authenticateResult
	g.must(CommandAuthenticate, good, "", &got)
	if got.DeviceID != "keyed" || got.UserID != "u-alice" {
		t.Fatalf("result %+v", got)
	}
	denied("the same nonce again", good)
	g.clock.Advance(5 * time.Minute) // past the nonce, not past its marker's margin of concern
	denied("the same nonce, expired", good)

	n = g.nonce("keyed")
	denied("a signature over another body", func() map[string]any {
		a := dev.signed("keyed", n.Nonce, "POST", "/v1/device/requests/r1/approve?x=1", body)
		a["body_sha256"] = devicesig.BodyHash([]byte(`{"approve":false}`))
		return a
	}())
	denied("a signature over another target", func() map[string]any {
		a := dev.signed("keyed", n.Nonce, "POST", "/v1/device/requests/r1/approve?x=1", body)
		a["target"] = "/v1/device/requests/r2/approve?x=1"
		return a
	}())
	denied("a signature over another method", func() map[string]any {
		a := dev.signed("keyed", n.Nonce, "POST", "/v1/x", body)
		a["method"] = "PUT"
		return a
	}())
	denied("a signature by another key", other.signed("keyed", n.Nonce, "POST", "/v1/x", body))
	denied("a signature too short", func() map[string]any {
		a := dev.signed("keyed", n.Nonce, "POST", "/v1/x", body)
		a["signature"] = a["signature"].(string)[:80]
		return a
	}())
	denied("a signature not base64url", func() map[string]any {
		a := dev.signed("keyed", n.Nonce, "POST", "/v1/x", body)
		a["signature"] = strings.Repeat("+", 86)
		return a
	}())
	// The failures above spent nothing: the nonce still works, once.
	g.must(CommandAuthenticate, dev.signed("keyed", n.Nonce, "POST", "/v1/x", body), "", nil)

	// A nonce issued for another device, signed by the right key.
	foreign := g.nonce("other")
	denied("another device's nonce", dev.signed("keyed", foreign.Nonce, "POST", "/v1/x", body))
	// ... which the other device can still use.
	g.must(CommandAuthenticate, other.signed("other", foreign.Nonce, "POST", "/v1/x", body), "", nil)

	// Expired.
	n = g.nonce("keyed")
	g.clock.Advance(DefaultNonceTTL)
	denied("an expired nonce", dev.signed("keyed", n.Nonce, "POST", "/v1/x", body))

	// Forged: a nonce with a later expiry, or made up.
	n = g.nonce("keyed")
	raw, _ := base64.RawURLEncoding.DecodeString(n.Nonce)
	raw[7]++
	denied("a nonce with another expiry", dev.signed("keyed", base64.RawURLEncoding.EncodeToString(raw), "POST", "/v1/x", body))
	denied("a made-up nonce", dev.signed("keyed", strings.Repeat("A", nonceTextLength), "POST", "/v1/x", body))
	denied("a nonce of the wrong length", dev.signed("keyed", n.Nonce+"A", "POST", "/v1/x", body))

	// A signature to a token device, an unknown device, a revoked one.
	n = g.nonce("tokened")
	denied("a signature to a token device", dev.signed("tokened", n.Nonce, "POST", "/v1/x", body))
	n = g.nonce("ghost")
	denied("an unknown device", dev.signed("ghost", n.Nonce, "POST", "/v1/x", body))
	g.must(CommandRevoke, map[string]any{"device_id": "keyed"}, "", nil)
	n = g.nonce("keyed")
	denied("a revoked device", dev.signed("keyed", n.Nonce, "POST", "/v1/x", body))

	// Nothing in the log holds a nonce or a signature.
	if contains(n.Nonce, g.log.String()) || contains(good["signature"].(string), g.log.String()) {
		t.Errorf("a nonce or signature is in the log")
	}
	if !strings.Contains(g.log.String(), `"why":"nonce_used"`) || !strings.Contains(g.log.String(), `"why":"bad_nonce"`) {
		t.Errorf("the log does not say why requests were refused:\n%s", g.log.String())
	}
}

// A nonce one host issued, another accepts, once.
func TestNonceAcrossHosts(t *testing.T) {
	g := newRig(t, nil)
	dev := g.keyedDevice("u-alice", "keyed")
	n := g.nonce("keyed")
	first := g.admin
	g.start(nil)
	args := dev.signed("keyed", n.Nonce, "GET", "/v1/device/requests", nil)
	g.must(CommandAuthenticate, args, "", nil)
	g.admin = first
	if _, err := g.run(CommandAuthenticate, args, ""); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("the nonce used on one host works on another: %v", err)
	}
}

func TestNonceTTL(t *testing.T) {
	g := newRig(t, []byte(`{"nonce_ttl":"5s"}`))
	dev := g.keyedDevice("u-alice", "keyed")
	n := g.nonce("keyed")
	if !n.ExpiresAt.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("expires %v", n.ExpiresAt)
	}
	g.clock.Advance(4 * time.Second)
	g.must(CommandAuthenticate, dev.signed("keyed", n.Nonce, "GET", "/", nil), "", nil)
	// The used marker outlives the nonce, then goes.
	e, err := g.host.Storage().Get(context.Background(), usedKey(n.Nonce))
	if err != nil || !e.ExpiresAt.After(t0.Add(5*time.Second)) {
		t.Fatalf("marker %+v, %v", e, err)
	}
	g.clock.Advance(2 * time.Minute)
	if _, err := g.host.Storage().Get(context.Background(), usedKey(n.Nonce)); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("the marker outlived its margin: %v", err)
	}
}

// The Authenticator: django-auth-token's DeviceBackend.
func TestAuthenticator(t *testing.T) {
	g := newRig(t, nil)
	alice := g.host.AddUser(sdk.User{ID: "u-alice", Username: "alice"})
	g.host.AddUser(sdk.User{ID: "u-bob", Username: "bob"})
	g.host.AddUser(sdk.User{ID: "u-carol", Username: "carol", Disabled: true})
	token := g.tokenDevice("u-alice", "alice", "phone")
	bobs := g.tokenDevice("u-bob", "bob", "bobs")
	carols := g.tokenDevice("u-carol", "carol", "carols")
	revoked := g.tokenDevice("u-alice", "alice", "old")
	g.must(CommandRevoke, map[string]any{"device_id": "old"}, "", nil)
	g.keyedDevice("u-alice", "keyed")

	login := func(username string, creds map[string]string) sdk.AuthenticateResponse {
		t.Helper()
		var resp sdk.AuthenticateResponse
		req := &sdk.AuthenticateRequest{RequestID: "r", Username: username, Credentials: creds, Path: "/v1/login"}
		if err := g.auth.Authenticate(context.Background(), req, &resp); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		return resp
	}
	resp := login("alice", map[string]string{"device_id": "phone", "device_token": token})
	want := sdk.Identity{Subject: alice.ID, Username: "alice", Attributes: map[string]string{"device_id": "phone"}}
	if resp.Decision != sdk.DecisionIdentity || resp.Identity.Subject != want.Subject || resp.Identity.Username != want.Username || resp.Identity.Attributes["device_id"] != "phone" {
		t.Fatalf("right device: %+v", resp)
	}

	if resp := login("alice", nil); resp.Decision != sdk.DecisionAbstain || resp.Reason != "" {
		t.Errorf("no device credentials: %+v, want abstain without a reason", resp)
	}
	if resp := login("alice", map[string]string{"device_token": token}); resp.Decision != sdk.DecisionAbstain || resp.Reason != "" {
		t.Errorf("a token without a device id: %+v, want abstain without a reason", resp)
	}
	for name, tt := range map[string]struct {
		user  string
		creds map[string]string
	}{
		"wrong token":              {"alice", map[string]string{"device_id": "phone", "device_token": bobs}},
		"no token":                 {"alice", map[string]string{"device_id": "phone"}},
		"another user's device":    {"alice", map[string]string{"device_id": "bobs", "device_token": bobs}},
		"the device for its owner": {"bob", map[string]string{"device_id": "phone", "device_token": token}},
		"a disabled user":          {"carol", map[string]string{"device_id": "carols", "device_token": carols}},
		"a revoked device":         {"alice", map[string]string{"device_id": "old", "device_token": revoked}},
		"an unknown device":        {"alice", map[string]string{"device_id": "nope", "device_token": token}},
		"a malformed device id":    {"alice", map[string]string{"device_id": "no/pe", "device_token": token}},
		"an ed25519 device":        {"alice", map[string]string{"device_id": "keyed", "device_token": token}},
		"an unknown user":          {"mallory", map[string]string{"device_id": "phone", "device_token": token}},
		"no username":              {"", map[string]string{"device_id": "phone", "device_token": token}},
	} {
		if resp := login(tt.user, tt.creds); resp.Decision != sdk.DecisionAbstain || resp.Reason != sdk.ReasonInvalidCredentials {
			t.Errorf("%s: %+v, want abstain with invalid_credentials", name, resp)
		}
	}
}

// failingUsers is a host whose user lookups fail: the database is down.
type failingUsers struct{ *sdktest.MemoryHost }

func (f failingUsers) Users() sdk.Users { return f }
func (f failingUsers) LookupUser(context.Context, string) (sdk.User, error) {
	return sdk.User{}, errors.New("the database is down")
}

func TestAuthenticatorFailsClosed(t *testing.T) {
	host := failingUsers{sdktest.NewMemoryHost()}
	remote := sdktest.Start(t, quiet(), nil, host)
	var out registerResult
	var resp sdk.AdminResponse
	if err := remote.Admin().Admin(context.Background(), &sdk.AdminRequest{Command: CommandRegister, Args: []byte(`{"user_id":"u-alice","username":"alice"}`)}, &resp); err != nil {
		t.Fatal(err)
	}
	_ = jsonDecode(resp.Result, &out)
	var ar sdk.AuthenticateResponse
	err := remote.Authenticator().Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "alice", Credentials: map[string]string{"device_id": out.DeviceID, "device_token": out.DeviceToken}}, &ar)
	if err == nil || ar.Decision == sdk.DecisionIdentity {
		t.Fatalf("a failed user lookup: %+v, %v; want an error", ar, err)
	}
	if contains(out.DeviceToken, err.Error()) {
		t.Error("the token is in the error")
	}
}

func TestAuthenticatorConformance(t *testing.T) {
	// One host for the suite's runs, seeded with alice and her device.
	host := sdktest.NewMemoryHost()
	host.AddUser(sdk.User{ID: "u-alice", Username: "alice"})
	host.AddUser(sdk.User{ID: "u-bob", Username: "bob"})
	seed := sdktest.Start(t, quiet(), nil, host).Admin()
	var resp sdk.AdminResponse
	if err := seed.Admin(context.Background(), &sdk.AdminRequest{Command: CommandRegister, Args: []byte(`{"user_id":"u-alice","username":"alice","device_id":"phone"}`)}, &resp); err != nil {
		t.Fatal(err)
	}
	var r registerResult
	if err := jsonDecode(resp.Result, &r); err != nil {
		t.Fatal(err)
	}
	sdktest.AuthenticatorSuite{
		New:  func() sdk.Plugin { return quiet() },
		Host: func(testing.TB) sdk.Host { return host },
		Valid: []sdktest.Credentials{
			{Username: "alice", Credentials: map[string]string{"device_id": "phone", "device_token": r.DeviceToken}},
			{Username: "alice", Password: "ignored", Credentials: map[string]string{"device_id": "phone", "device_token": r.DeviceToken}},
		},
		Invalid: []sdktest.Credentials{
			{Username: "alice", Credentials: map[string]string{"device_id": "phone", "device_token": strings.ToUpper(r.DeviceToken)}},
			{Username: "bob", Credentials: map[string]string{"device_id": "phone", "device_token": r.DeviceToken}},
			{Username: "alice", Credentials: map[string]string{"device_id": "phone"}},
			{Username: "alice", Password: r.DeviceToken},
		},
	}.Run(t)
}
