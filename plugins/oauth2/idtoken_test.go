package oauth2

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis-auth/portcullis/sdk/redirect"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// forger is an OpenID Provider whose token endpoint answers with an ID
// token the test writes, signed with the provider's published key or
// not: the checks a real provider cannot be made to fail.
type forger struct {
	t      *testing.T
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	access string
	// answer is the token endpoint's answer; idToken fills it by default.
	answer func() map[string]any
}

const (
	forgedNonce = "the-flows-nonce"
	// forgerSecret is long enough to be an HS256 key.
	forgerSecret = "forger-secret-long-enough-for-hs256"
)

func newForger(t *testing.T) *forger {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &forger{t: t, key: key, access: "forged-access-" + rand.Text()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body any
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			body = map[string]any{
				"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/authorize", "token_endpoint": f.srv.URL + "/token",
				"jwks_uri": f.srv.URL + "/keys", "id_token_signing_alg_values_supported": []string{"ES256", "HS256", "none"},
				"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
			}
		case "/keys":
			body = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
		case "/token":
			if r.PostFormValue("client_secret") != forgerSecret {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
			body = f.answer()
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(f.srv.Close)
	f.answer = func() map[string]any { return f.tokens(f.claims(), f.sign) }
	return f
}

// claims are an ID token's claims that pass every check.
func (f *forger) claims() map[string]any {
	sum := sha256.Sum256([]byte(f.access))
	return map[string]any{
		"iss": f.srv.URL, "sub": "u-1", "aud": []string{"forger-client"}, "azp": "forger-client",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "nonce": forgedNonce,
		"at_hash":            base64.RawURLEncoding.EncodeToString(sum[:16]),
		"preferred_username": "carol", "email": "carol@example.test", "email_verified": true, "groups": "admins",
	}
}

// tokens is a token response with an ID token of claims, signed by sign.
func (f *forger) tokens(claims map[string]any, sign func([]byte) string) map[string]any {
	payload, err := json.Marshal(claims)
	if err != nil {
		f.t.Error(err)
	}
	return map[string]any{"access_token": f.access, "token_type": "Bearer", "expires_in": 300, "id_token": sign(payload)}
}

// sign signs with the published key.
func (f *forger) sign(payload []byte) string {
	return f.signWith(jose.ES256, jose.JSONWebKey{Key: f.key, KeyID: "k1"}, payload)
}

// It runs in the server's goroutine: a problem is reported, not fatal.
func (f *forger) signWith(alg jose.SignatureAlgorithm, key any, payload []byte) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.t.Error(err)
		return ""
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		f.t.Error(err)
		return ""
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		f.t.Error(err)
	}
	return s
}

func TestIDTokenChecks(t *testing.T) {
	f := newForger(t)
	g := &rig{t: t, host: sdktest.NewMemoryHost(), log: &logBuffer{}, secrets: []string{f.access, forgerSecret, "forged-code", "forged-verifier"}}
	g.configure(map[string]any{
		"issuer": f.srv.URL, "client_id": "forger-client", "client_secret": forgerSecret, "redirect_url": "http://127.0.0.1:9/cb",
		"roles": map[string][]string{"admins": {"admin"}},
	})
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(map[string]any)) func() map[string]any {
		return func() map[string]any {
			c := f.claims()
			edit(c)
			return f.tokens(c, f.sign)
		}
	}
	signed := func(sign func([]byte) string) func() map[string]any {
		return func() map[string]any { return f.tokens(f.claims(), sign) }
	}
	tests := []struct {
		name     string
		answer   func() map[string]any
		failure  string
		startsAs string
	}{
		{"a good token", f.answer, "", ""},
		{"no ID token", func() map[string]any { return map[string]any{"access_token": f.access, "token_type": "Bearer"} }, redirect.FailureInvalidIDToken, "missing:"},
		{"expired", with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), redirect.FailureInvalidIDToken, "expiry:"},
		{"another issuer", with(func(c map[string]any) { c["iss"] = "https://elsewhere.example" }), redirect.FailureInvalidIDToken, "issuer:"},
		{"another audience", with(func(c map[string]any) { c["aud"] = []string{"someone-else"} }), redirect.FailureInvalidIDToken, "audience:"},
		{"another authorized party", with(func(c map[string]any) { c["aud"] = []string{"forger-client", "x"}; c["azp"] = "x" }), redirect.FailureInvalidIDToken, "audience:"},
		{"another nonce", with(func(c map[string]any) { c["nonce"] = "another" }), redirect.FailureInvalidIDToken, "nonce:"},
		{"no nonce", with(func(c map[string]any) { delete(c, "nonce") }), redirect.FailureInvalidIDToken, "nonce:"},
		{"another access token's hash", with(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }), redirect.FailureInvalidIDToken, "at_hash:"},
		{"another key", signed(func(p []byte) string { return f.signWith(jose.ES256, jose.JSONWebKey{Key: otherKey, KeyID: "k1"}, p) }), redirect.FailureInvalidIDToken, "signature:"},
		{"keyed with the client secret", signed(func(p []byte) string { return f.signWith(jose.HS256, []byte(forgerSecret), p) }), redirect.FailureInvalidIDToken, "signature:"},
		{"unsigned", signed(func(p []byte) string {
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
		}), redirect.FailureInvalidIDToken, "signature:"},
		{"no subject", with(func(c map[string]any) { delete(c, "sub") }), redirect.FailureNoIdentity, ""},
		{"no username", with(func(c map[string]any) { delete(c, "preferred_username") }), redirect.FailureNoIdentity, "the provider's identity has no preferred_username claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.answer = tt.answer
			res, err := g.p.Complete(ctx(t), &redirect.CompleteRequest{Code: "forged-code", CodeVerifier: "forged-verifier", Nonce: forgedNonce})
			if err != nil {
				t.Fatal(err)
			}
			if tt.failure == "" {
				id := res.Identity
				if id == nil || id.Subject != f.srv.URL+"#u-1" || id.Username != "carol" || !id.EmailVerified || !slices.Equal(id.Roles, []string{"admin"}) {
					t.Errorf("identity %+v (%q %s)", id, res.Failure, res.Description)
				}
				return
			}
			wantFailure(t, res.Failure, res.Description, tt.failure, tt.startsAs)
			if res.Identity != nil {
				t.Errorf("a failure carries an identity %+v", res.Identity)
			}
		})
	}
	g.checkNoSecrets()
}
