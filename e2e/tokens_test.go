package e2e

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

var b64url = base64.RawURLEncoding

// TestAccessTokensAreVerifiedByForwardAuthAndTheGoClient: a login's access
// token is a JWT whose kid the host publishes; forward-auth and the Go
// middleware (package client, pointed at the running host) accept it, and
// refuse, each with 401 and for the same reason, every token that is not
// one the host signed for them: alg none, HS256 keyed with the public
// key, a tampered payload, a forged signature under the host's kid, an
// expired token, a token for another audience, an unknown kid, the
// refresh token, garbage.
//
// Hosts B and C share host A's database and key-encryption key, so they
// sign with A's key: B with an access_ttl of 1s (its tokens expire while
// the test runs), C for another audience.
func TestAccessTokensAreVerifiedByForwardAuthAndTheGoClient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	cfgA := writeConfig(t, dir, `
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {name: audit, audit_file: ./audit.jsonl, mode: sync, signals: [jwt_decode_failed]}
`)
	a := startHost(t, cfgA)
	out := mustRun(t, cfgA, "s3cret\n", "users", "add", "alice", "--password-stdin")
	m := regexp.MustCompile(`\(id ([^)]+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("users add printed no id:\n%s", out)
	}
	aliceID := m[1]

	shared := func(name, tokens string) string {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		return writeConfig(t, sub, fmt.Sprintf("data_dir: %q\nstorage: {driver: sqlite, dsn: %q}\ntokens: %s\n",
			filepath.Join(dir, "data"), filepath.Join(dir, "portcullis.db"), tokens))
	}
	var b, c *host
	var wg sync.WaitGroup
	var errB, errC error
	wg.Add(2)
	go func() { defer wg.Done(); b, errB = launch(t, shared("b", "{access_ttl: 1s}")) }()
	go func() { defer wg.Done(); c, errC = launch(t, shared("c", "{audience: elsewhere}")) }()
	wg.Wait()
	if errB != nil || errC != nil {
		t.Fatalf("hosts B and C: %v; %v", errB, errC)
	}

	login := a.login("alice", "s3cret")
	tok := tokensOf(t, login)
	if login.body["expires_in"] != float64(900) {
		t.Errorf("expires_in %v, want 900 (the default access_ttl of 15m)", login.body["expires_in"])
	}
	header, claims := jwtSegments(t, tok.access)
	keys := jwks(t, a)
	kid, _ := header["kid"].(string)
	key, published := keys[kid]
	if !published || header["typ"] != "at+jwt" || header["alg"] != "EdDSA" || key.Algorithm != "EdDSA" {
		t.Fatalf("access token header %v; published keys %v", header, keys)
	}
	issuer := issuerOf(t, a)
	if claims["iss"] != issuer || fmt.Sprint(claims["aud"]) != "[portcullis]" || claims["sub"] != aliceID || claims["username"] != "alice" ||
		claims["sid"] == "" || claims["jti"] == "" || claims["exp"].(float64)-claims["iat"].(float64) != 900 {
		t.Errorf("access token claims %v; want iss %s, aud [portcullis], sub %s, username alice, 15 minutes", claims, issuer, aliceID)
	}

	// B's token is issued first: it expires while the rest runs.
	expiring := mustLogin(t, b, "alice", "s3cret").access
	_, expClaims := jwtSegments(t, expiring)
	expiresAt := time.Unix(int64(expClaims["exp"].(float64)), 0)
	if kidOf(t, expiring) != kid {
		t.Fatalf("host B, sharing A's database, signs with kid %s, not A's %s", kidOf(t, expiring), kid)
	}
	if r := forwardAuth(t, a, expiring); r.status != 200 {
		t.Fatalf("forward-auth of B's token before it expired: %d %s", r.status, r.raw)
	}
	elsewhere := mustLogin(t, c, "alice", "s3cret").access
	if _, cc := jwtSegments(t, elsewhere); fmt.Sprint(cc["aud"]) != "[elsewhere]" {
		t.Fatalf("host C's token has aud %v", cc["aud"])
	}

	app := newApp(t, a, "portcullis")
	otherApp := newApp(t, a, "elsewhere")

	// The real token passes both.
	r := forwardAuth(t, a, tok.access)
	if r.status != 200 || r.header.Get("X-Portcullis-User") != "alice" || r.header.Get("X-Portcullis-User-Id") != aliceID {
		t.Fatalf("forward-auth of the login's token: %d %v %s", r.status, r.header, r.raw)
	}
	if r, ran := app.call(t, tok.access); r.status != 200 || !ran || r.raw != "hello alice" {
		t.Fatalf("the Go middleware refused the login's token: %d %s", r.status, r.raw)
	}
	// The app for the other audience takes C's token, and refuses A's below.
	if r, ran := otherApp.call(t, elsewhere); r.status != 200 || !ran {
		t.Fatalf("the app of audience elsewhere refused host C's token: %d %s", r.status, r.raw)
	}

	// Forgeries.
	parts := strings.Split(tok.access, ".")
	hdr := func(alg, kid string) string {
		j, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "at+jwt"})
		return b64url.EncodeToString(j)
	}
	none := hdr("none", kid) + "." + parts[1] + "."
	hsInput := hdr("HS256", kid) + "." + parts[1]
	mac := hmac.New(sha256.New, key.Public.(ed25519.PublicKey))
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + b64url.EncodeToString(mac.Sum(nil))

	tamperedClaims := map[string]any{}
	for k, v := range claims {
		tamperedClaims[k] = v
	}
	tamperedClaims["username"], tamperedClaims["sub"] = "admin", "00000000-0000-0000-0000-000000000000"
	tp, _ := json.Marshal(tamperedClaims)
	tampered := parts[0] + "." + b64url.EncodeToString(tp) + "." + parts[2]

	var parsed accesstoken.Claims
	raw, _ := b64url.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	_, fresh, _ := ed25519.GenerateKey(rand.Reader)
	wrongSig, err := accesstoken.Sign(&parsed, accesstoken.Key{ID: kid, Algorithm: accesstoken.EdDSA}, fresh)
	if err != nil {
		t.Fatal(err)
	}
	freshKid, _ := accesstoken.KeyID(fresh.Public())
	unknownKid, err := accesstoken.Sign(&parsed, accesstoken.Key{ID: freshKid, Algorithm: accesstoken.EdDSA}, fresh)
	if err != nil {
		t.Fatal(err)
	}

	refusals := []struct {
		name, token, reason string
		waitUntil           time.Time
	}{
		{"alg none", none, accesstoken.ErrInvalidSignature, time.Time{}},
		{"HS256 keyed with the public key", hs256, accesstoken.ErrInvalidSignature, time.Time{}},
		{"tampered payload", tampered, accesstoken.ErrInvalidSignature, time.Time{}},
		{"signed by another key under the host's kid", wrongSig, accesstoken.ErrInvalidSignature, time.Time{}},
		{"unknown kid", unknownKid, accesstoken.ErrUnknownKey, time.Time{}},
		{"another audience", elsewhere, accesstoken.ErrInvalidAudience, time.Time{}},
		{"the refresh token", tok.refresh, accesstoken.ErrMalformed, time.Time{}},
		{"garbage", "garbage", accesstoken.ErrMalformed, time.Time{}},
		{"three segments of garbage", "eyJhbGciOi.eyJzdWIi.c2ln", accesstoken.ErrMalformed, time.Time{}},
		// The host allows 5s of clock skew; the client none.
		{"expired", expiring, accesstoken.ErrExpired, expiresAt.Add(6 * time.Second)},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if d := time.Until(tt.waitUntil); d > 0 {
				time.Sleep(d)
			}
			before := decodeFailures(t, audit)
			r := forwardAuth(t, a, tt.token)
			if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) || r.header.Get("X-Portcullis-User") != "" {
				t.Errorf("forward-auth: %d %v %s; want 401 invalid_token", r.status, r.header, r.raw)
			}
			after := decodeFailures(t, audit)
			if len(after) != len(before)+1 || after[len(after)-1] != tt.reason {
				t.Errorf("forward-auth's jwt_decode_failed error types went from %v to %v; want one more, %s", before, after, tt.reason)
			}
			r, ran := app.call(t, tt.token)
			if r.status != 401 || ran || r.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` || r.body["error"] != "invalid_token" {
				t.Errorf("Go middleware: %d %v %s (handler ran: %v); want 401 invalid_token", r.status, r.header, r.raw, ran)
			}
			if got := app.verifyType(t, tt.token); got != tt.reason {
				t.Errorf("client.Verify refused it as %q, want %q", got, tt.reason)
			}
		})
	}
	t.Run("the login's token for another audience", func(t *testing.T) {
		r, ran := otherApp.call(t, tok.access)
		if r.status != 401 || ran || r.body["error_description"] != "the access token is not for this app" {
			t.Errorf("app of audience elsewhere: %d %s (handler ran: %v)", r.status, r.raw, ran)
		}
	})
	// Nothing above spoiled the real token.
	if r := forwardAuth(t, a, tok.access); r.status != 200 {
		t.Errorf("forward-auth of the login's token at the end: %d %s", r.status, r.raw)
	}
	if r, ran := app.call(t, tok.access); r.status != 200 || !ran {
		t.Errorf("the Go middleware at the end: %d %s", r.status, r.raw)
	}
}

// sendForm posts form as application/x-www-form-urlencoded, with hdr.
func sendForm(t testing.TB, to string, form url.Values, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, to, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", to, err)
	}
	return readResponse(t, resp)
}

// decodeFailures lists the error_type of every jwt_decode_failed in the
// audit file, in order.
func decodeFailures(t testing.TB, audit string) []string {
	t.Helper()
	var out []string
	for _, e := range auditLines(t, audit) {
		if e.Name == "jwt_decode_failed" {
			s, _ := e.Args["error_type"].(string)
			out = append(out, s)
		}
	}
	return out
}

// TestRefreshRotatesAndReuseRevokesTheFamily: each refresh returns a new
// pair; a spent refresh token presented again revokes its whole family,
// so the newest refresh token fails too and introspection reports the
// family's access tokens inactive. Of two concurrent refreshes of one
// token, exactly one succeeds.
func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "s3cret")
	key := createApp(t, cfg, nil, "billing")

	first := mustLogin(t, h, "alice", "s3cret")
	other := mustLogin(t, h, "alice", "s3cret") // another session of the same user
	second := tokensOf(t, refresh(t, h, first.refresh))
	third := tokensOf(t, refresh(t, h, second.refresh))
	if second.refresh == first.refresh || third.refresh == second.refresh || second.access == first.access {
		t.Fatal("a refresh returned a token it was given")
	}
	_, c1 := jwtSegments(t, first.access)
	_, c3 := jwtSegments(t, third.access)
	if c1["sid"] != c3["sid"] || c1["jti"] == c3["jti"] {
		t.Errorf("refreshed tokens: sid %v then %v, jti %v then %v; want one session, new ids", c1["sid"], c3["sid"], c1["jti"], c3["jti"])
	}
	for _, tok := range []string{first.access, third.access, other.access} {
		if !active(t, h, key, tok) {
			t.Fatal("an access token of a live session is inactive")
		}
	}
	in := introspect(t, h, key, third.access)
	if in.body["sub"] != c1["sub"] || in.body["username"] != "alice" || in.body["sid"] != c1["sid"] || in.body["jti"] != c3["jti"] ||
		in.body["iat"] != c3["iat"] || in.body["exp"] != c3["exp"] || fmt.Sprint(in.body["aud"]) != "[portcullis]" || in.body["iss"] != c3["iss"] {
		t.Errorf("introspection of a live token: %s; want the token's claims %v", in.raw, c3)
	}
	// RFC 7662's form, as an OAuth library sends it, gets the same answer.
	byForm := sendForm(t, h.url+"/v1/token/introspect", url.Values{"token": {third.access}, "token_type_hint": {"access_token"}},
		http.Header{"Authorization": {"Bearer " + key}})
	if byForm.status != 200 || byForm.raw != in.raw {
		t.Errorf("introspection by form: %d %s; want what JSON got, %s", byForm.status, byForm.raw, in.raw)
	}

	// Introspection is for access tokens, and for apps.
	if active(t, h, key, third.refresh) {
		t.Error("introspection says a refresh token is active")
	}
	if r := send(t, http.MethodPost, h.url+"/v1/token/introspect", fmt.Sprintf(`{"token":%q}`, third.access), nil); r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("introspection without an app key: %d %s; want 401 invalid_client", r.status, r.raw)
	}

	// Reuse of the first (spent) refresh token.
	r := refresh(t, h, first.refresh)
	if r.status != 401 || r.body["error"] != "invalid_token" || !strings.Contains(r.raw, "already used") {
		t.Fatalf("reusing a spent refresh token: %d %s; want 401 already used", r.status, r.raw)
	}
	if r := refresh(t, h, third.refresh); r.status != 401 {
		t.Errorf("the newest refresh token of the revoked family: %d %s; want 401", r.status, r.raw)
	}
	for name, tok := range map[string]string{"first": first.access, "second": second.access, "third": third.access} {
		if active(t, h, key, tok) {
			t.Errorf("introspection says the %s access token of the revoked family is active", name)
		}
	}
	// The user's other session is untouched.
	if !active(t, h, key, other.access) {
		t.Error("revoking one family ended another session of the user")
	}
	r = refresh(t, h, other.refresh)
	if r.status != 200 {
		t.Errorf("refreshing the user's other session: %d %s", r.status, r.raw)
	}
	// RFC 7009's form revokes it, as an OAuth library sends it.
	latest := tokensOf(t, r)
	if r := sendForm(t, h.url+"/v1/token/revoke", url.Values{"token": {latest.refresh}, "token_type_hint": {"refresh_token"}}, nil); r.status != 200 {
		t.Errorf("revoke by form: %d %s", r.status, r.raw)
	}
	if active(t, h, key, latest.access) {
		t.Error("a session revoked by form is still active")
	}

	t.Run("concurrent refreshes", func(t *testing.T) {
		for round := range 8 {
			width := 2
			if round >= 6 {
				width = 8
			}
			tok := mustLogin(t, h, "alice", "s3cret")
			hosts := make([]*host, width)
			for i := range hosts {
				hosts[i] = h
			}
			statuses := refreshAtOnce(t, hosts, tok.refresh)
			ok := 0
			for _, s := range statuses {
				switch s {
				case 200:
					ok++
				case 401:
				default:
					t.Errorf("round %d: a concurrent refresh answered %d", round, s)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d concurrent refreshes of one token: statuses %v; want exactly one 200", round, width, statuses)
			}
		}
	})
}
