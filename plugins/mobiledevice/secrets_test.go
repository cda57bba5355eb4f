package mobiledevice

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// A token, a signature and a nonce are planted in every path the plugin
// has (registration, proofs right and wrong, logins, challenges, answers,
// notices), and then looked for everywhere they must never be: the log,
// the signals, the stored values (but the token's hash), the errors, the
// notices and the states.
func TestPlantedSecrets(t *testing.T) {
	r := newReceiver(t)
	g := newRig(t, r.config())
	ctx := context.Background()
	g.host.AddUser(sdk.User{ID: "u-alice", Username: "alice"})
	token := g.tokenDevice("u-alice", "alice", "phone")
	dev := g.keyedDevice("u-alice", "keyed")
	wrong := strings.Repeat("W", TokenLength)

	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	var nonces, sigs []string

	// Proofs, right and wrong.
	g.must(CommandAuthenticate, map[string]any{"device_id": "phone"}, token, nil)
	for _, args := range []map[string]any{{"device_id": "phone"}, {"device_id": "keyed"}, {"device_id": "ghost"}} {
		_, err := g.run(CommandAuthenticate, args, wrong)
		note(err)
		_, err = g.run(CommandAuthenticate, args, token)
		note(err)
	}
	n := g.nonce("keyed")
	good := dev.signed("keyed", n.Nonce, "POST", "/v1/device/x", []byte(`{}`))
	nonces, sigs = append(nonces, n.Nonce), append(sigs, good["signature"].(string))
	g.must(CommandAuthenticate, good, "", nil)
	_, err := g.run(CommandAuthenticate, good, "") // replayed
	note(err)
	bad := dev.signed("keyed", g.nonce("phone").Nonce, "POST", "/v1/device/x", []byte(`{}`))
	nonces, sigs = append(nonces, bad["nonce"].(string)), append(sigs, bad["signature"].(string))
	_, err = g.run(CommandAuthenticate, bad, "")
	note(err)
	_, err = g.run(CommandAuthenticate, map[string]any{"device_id": "phone", "nonce": n.Nonce, "signature": good["signature"], "method": "POST", "target": "/", "body_sha256": good["body_sha256"]}, token)
	note(err)

	// Logins, right and wrong.
	for _, tok := range []string{token, wrong} {
		var resp sdk.AuthenticateResponse
		note(g.auth.Authenticate(ctx, &sdk.AuthenticateRequest{Username: "alice", Password: tok, Credentials: map[string]string{"device_id": "phone", "device_token": tok}}, &resp))
		if strings.Contains(resp.Reason, tok) || bytes.Contains(resp.Memo, []byte(tok)) {
			t.Error("a token is in a login's answer")
		}
	}

	// A challenge, answered right and wrong.
	req := request("planted", 0)
	ch, err := g.b.PrepareChallenge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{token, wrong} {
		v, err := g.b.CheckAnswer(ctx, req, ch.State, answerOf("phone", tok))
		note(err)
		if strings.Contains(v.Reason, tok) || bytes.Contains(v.State, []byte(tok)) {
			t.Error("a token is in a verdict")
		}
	}

	// The listings show no secret either.
	list, _ := g.run(CommandList, map[string]any{}, "")
	get, _ := g.run(CommandGet, map[string]any{"device_id": "phone"}, "")

	var places []string
	places = append(places, g.log.String(), string(ch.State), string(list), string(get))
	places = append(places, errs...)
	for _, s := range g.host.Emitted() {
		raw, _ := json.Marshal(s)
		places = append(places, string(raw))
	}
	for _, p := range r.notices() {
		places = append(places, string(p.body))
	}
	entries, err := g.host.Storage().List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	hashFound := false
	for _, e := range entries {
		places = append(places, e.Key, string(e.Value))
		if bytes.Contains(e.Value, []byte(hashToken(token))) {
			hashFound = true
		}
	}
	for what, secret := range map[string]string{"the token": token, "the wrong token": wrong} {
		if contains(secret, places...) {
			t.Errorf("%s is in the log, a signal, a stored value, an error, a notice or a state", what)
		}
	}
	for _, secret := range append(nonces, sigs...) {
		if contains(secret, places...) {
			t.Errorf("a nonce or signature %s… is kept or shown somewhere", secret[:8])
		}
	}
	if !hashFound {
		t.Error("the token's hash is not stored: the test looked in the wrong place")
	}
	if len(errs) < 8 {
		t.Errorf("only %d errors collected: the test did not run the failing paths", len(errs))
	}
	if contains(hashToken(token), string(list), string(get)) || contains(hashToken(token), g.log.String()) {
		t.Error("the token's hash is shown")
	}
}

// Tokens are 64 characters of [A-Za-z0-9], every one of them drawn.
func TestNewToken(t *testing.T) {
	seen := map[byte]int{}
	for range 200 {
		tok, err := newToken(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != TokenLength || strings.Trim(tok, tokenAlphabet) != "" {
			t.Fatalf("token %q", tok)
		}
		for i := range len(tok) {
			seen[tok[i]]++
		}
	}
	if len(seen) != len(tokenAlphabet) {
		t.Errorf("%d of %d characters drawn in 12800", len(seen), len(tokenAlphabet))
	}
	// Bytes from 248 up would favour the first characters: they are
	// drawn again, never mapped.
	high := bytes.Repeat([]byte{255}, TokenLength+16)
	src := bytes.NewReader(append(high, bytes.Repeat([]byte{61}, TokenLength+16)...))
	tok, err := newToken(src)
	if err != nil || tok != strings.Repeat("9", TokenLength) {
		t.Errorf("token %q, %v; want the high bytes skipped", tok, err)
	}
	if tokenMatches(hashToken(""), "") || tokenMatches(absentHash, "x") || !tokenMatches(hashToken("x"), "x") || tokenMatches("short", "x") {
		t.Error("tokenMatches")
	}
}
