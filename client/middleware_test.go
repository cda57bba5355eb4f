package client

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis-auth/portcullis/accesstoken"
)

// protected is a handler behind Middleware that echoes the claims it was
// given.
func protected(t testing.TB, c *Client) (http.Handler, *bool) {
	called := new(bool)
	return c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*called = true
		claims, ok := ClaimsFrom(r.Context())
		if !ok {
			t.Error("the next handler has no claims")
			return
		}
		fmt.Fprintf(w, "%s %s %s", claims.Subject, claims.Username, claims.SessionID)
	})), called
}

func get(h http.Handler, authorization ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	for _, a := range authorization {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkRefused checks that w is the host's 401 for a bad token, and that it
// does not quote token.
func checkRefused(t *testing.T, w *httptest.ResponseRecorder, token string) {
	t.Helper()
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d (%s); want 401", w.Code, w.Body)
	}
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	var body map[string]string
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if len(body) != 2 || body["error"] != "invalid_token" || body["error_description"] == "" {
		t.Errorf("body %q; want error invalid_token and an error_description", w.Body)
	}
	if len(token) > 8 && strings.Contains(w.Body.String(), token) {
		t.Errorf("the body quotes the token")
	}
}

func TestMiddlewareRefusesForgedAndInvalidTokens(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	es := newSigner(t, accesstoken.ES256)
	h := newTestHost(t, ed.key, es.key)
	c, _ := newTestClient(t, h, nil)
	next, called := protected(t, c)

	now := time.Now()
	valid := ed.mint(t, nil)
	parts := strings.Split(valid, ".")
	edPub := ed.key.Public.(ed25519.PublicKey)
	pkix, err := x509.MarshalPKIXPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})

	// withJWT signs claims with golang-jwt directly, with the headers of
	// an access token naming ed's kid.
	withJWT := func(method jwt.SigningMethod, key any, header map[string]any) string {
		t.Helper()
		tok := jwt.NewWithClaims(method, validClaims(now))
		tok.Header["typ"] = accesstoken.Type
		tok.Header["kid"] = ed.key.ID
		for k, v := range header {
			if v == nil {
				delete(tok.Header, k)
			} else {
				tok.Header[k] = v
			}
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tamper := func() string {
		c := validClaims(now)
		c.Subject, c.Username = "user-1", "admin"
		return parts[0] + "." + segment(c) + "." + parts[2]
	}

	tests := []struct {
		name  string
		token string
		want  string // the refusal's Type
	}{
		{"alg none, by hand", segment(map[string]string{"alg": "none", "typ": "at+jwt", "kid": ed.key.ID}) + "." + segment(validClaims(now)) + ".", accesstoken.ErrInvalidSignature},
		{"alg none, golang-jwt", withJWT(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), accesstoken.ErrInvalidSignature},
		{"alg none with the valid signature", segment(map[string]string{"alg": "none", "typ": "at+jwt", "kid": ed.key.ID}) + "." + parts[1] + "." + parts[2], accesstoken.ErrInvalidSignature},
		{"alg NONE", segment(map[string]string{"alg": "NONE", "typ": "at+jwt", "kid": ed.key.ID}) + "." + parts[1] + ".", accesstoken.ErrMalformed},
		{"HS256 keyed with the public key bytes", withJWT(jwt.SigningMethodHS256, []byte(edPub), nil), accesstoken.ErrInvalidSignature},
		{"HS256 keyed with the public key PEM", withJWT(jwt.SigningMethodHS256, pubPEM, nil), accesstoken.ErrInvalidSignature},
		{"HS256 keyed with the JWK x", withJWT(jwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(edPub)), nil), accesstoken.ErrInvalidSignature},
		{"tampered payload", tamper(), accesstoken.ErrInvalidSignature},
		{"signed by another key with the same kid", newSigner(t, accesstoken.EdDSA).withKID(ed.key.ID).mint(t, nil), accesstoken.ErrInvalidSignature},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(ed.mint(t, nil), ".")[2], accesstoken.ErrInvalidSignature},
		{"no signature", parts[0] + "." + parts[1] + ".", accesstoken.ErrInvalidSignature},
		{"ES256 token naming the Ed25519 key", es.withKID(ed.key.ID).mint(t, nil), accesstoken.ErrInvalidAlgorithm},
		{"expired", ed.mint(t, func(c *accesstoken.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		}), accesstoken.ErrExpired},
		{"not valid yet", ed.mint(t, func(c *accesstoken.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), accesstoken.ErrNotYetValid},
		{"wrong aud", ed.mint(t, func(c *accesstoken.Claims) { c.Audience = jwt.ClaimStrings{"billing-app"} }), accesstoken.ErrInvalidAudience},
		{"no aud", ed.mint(t, func(c *accesstoken.Claims) { c.Audience = nil }), accesstoken.ErrMissingClaim},
		{"wrong iss", ed.mint(t, func(c *accesstoken.Claims) { c.Issuer = "https://evil.test" }), accesstoken.ErrInvalidIssuer},
		{"no sid", ed.mint(t, func(c *accesstoken.Claims) { c.SessionID = "" }), accesstoken.ErrMissingClaim},
		{"unknown kid", newSigner(t, accesstoken.EdDSA).mint(t, nil), accesstoken.ErrUnknownKey},
		{"no kid", withJWT(jwt.SigningMethodEdDSA, ed.priv, map[string]any{"kid": nil}), accesstoken.ErrUnknownKey},
		{"typ JWT", withJWT(jwt.SigningMethodEdDSA, ed.priv, map[string]any{"typ": "JWT"}), accesstoken.ErrTypeMismatch},
		{"no typ", withJWT(jwt.SigningMethodEdDSA, ed.priv, map[string]any{"typ": nil}), accesstoken.ErrTypeMismatch},
		{"opaque refresh token", "pcr_" + randomString(32), accesstoken.ErrMalformed},
		{"opaque access token", "pca_" + randomString(32), accesstoken.ErrMalformed},
		{"garbage", "not a token at all", accesstoken.ErrMalformed},
		{"three dots", "a.b.c", accesstoken.ErrMalformed},
		{"empty segments", "..", accesstoken.ErrMalformed},
		{"too long", parts[0] + "." + strings.Repeat("A", accesstoken.MaxLength) + "." + parts[2], accesstoken.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Verify(t.Context(), tt.token)
			if got := refusal(t, err); got != tt.want {
				t.Errorf("Verify refused it as %s; want %s", got, tt.want)
			}
			*called = false
			w := get(next, "Bearer "+tt.token)
			checkRefused(t, w, tt.token)
			if *called {
				t.Error("the next handler was called")
			}
		})
	}

	t.Run("valid token still accepted", func(t *testing.T) {
		if w := get(next, "Bearer "+valid); w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

func TestMiddlewareRefusesRequestsWithoutABearerToken(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	c, _ := newTestClient(t, h, nil)
	next, called := protected(t, c)
	valid := ed.mint(t, nil)

	tests := []struct {
		name          string
		authorization []string
	}{
		{"no Authorization header", nil},
		{"empty header", []string{""}},
		{"Basic", []string{"Basic YWxpY2U6c2VjcmV0"}},
		{"Bearer without a token", []string{"Bearer"}},
		{"Bearer and spaces", []string{"Bearer    "}},
		{"token without the scheme", []string{valid}},
		{"two headers", []string{"Bearer " + valid, "Bearer " + valid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			*called = false
			w := get(next, tt.authorization...)
			checkRefused(t, w, valid)
			if *called {
				t.Error("the next handler was called")
			}
		})
	}
	if h.jwksHits.Load() != 0 {
		t.Errorf("requests without a token fetched the key set %d times", h.jwksHits.Load())
	}
}

func TestMiddlewareAcceptsValidTokens(t *testing.T) {
	signers := []signer{newSigner(t, accesstoken.EdDSA), newSigner(t, accesstoken.ES256), newSigner(t, accesstoken.RS256)}
	keys := make([]accesstoken.Key, len(signers))
	for i, s := range signers {
		keys[i] = s.key
	}
	h := newTestHost(t, keys...)
	c, _ := newTestClient(t, h, func(o *Options) { o.Leeway = 30 * time.Second })
	next, _ := protected(t, c)

	for _, s := range signers {
		for _, scheme := range []string{"Bearer ", "bearer ", "BEARER  "} {
			t.Run(s.key.Algorithm+"/"+strings.TrimSpace(scheme), func(t *testing.T) {
				token := s.mint(t, nil)
				w := get(next, scheme+token)
				if w.Code != http.StatusOK {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				if got, want := w.Body.String(), "user-42 alice sess-7"; got != want {
					t.Errorf("the handler saw %q; want %q", got, want)
				}
				claims, err := c.Verify(t.Context(), token)
				if err != nil {
					t.Fatal(err)
				}
				if claims.Issuer != testIssuer || claims.Audience[0] != testAudience || claims.ID == "" {
					t.Errorf("claims %+v", claims)
				}
			})
		}
	}
	t.Run("expired within the leeway", func(t *testing.T) {
		token := signers[0].mint(t, func(c *accesstoken.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-10 * time.Second))
		})
		if w := get(next, "Bearer "+token); w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
	if n := h.jwksHits.Load(); n != 1 {
		t.Errorf("%d fetches of the key set; want 1", n)
	}
}

func TestMiddlewareAnswers503WhenTheKeysCannotBeRead(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	h.set(func(h *testHost) { h.jwksStatus = http.StatusInternalServerError })
	c, _ := newTestClient(t, h, nil)
	next, called := protected(t, c)

	w := get(next, "Bearer "+ed.mint(t, nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if *called {
		t.Error("the next handler was called")
	}
	if got := w.Header().Get("WWW-Authenticate"); got != "" {
		t.Errorf("WWW-Authenticate %q on a 503", got)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] != "backend_unavailable" {
		t.Errorf("body %q", w.Body)
	}
	// Garbage is still garbage.
	checkRefused(t, get(next, "Bearer pcr_"+randomString(32)), "")
}

func TestMiddlewareLogs(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _ := newTestClient(t, h, func(o *Options) { o.Logger = logger })
	next, _ := protected(t, c)

	expired := ed.mint(t, func(c *accesstoken.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })
	checkRefused(t, get(next, "Bearer "+expired), expired)
	h.set(func(h *testHost) { h.jwksStatus = http.StatusBadGateway })
	c2, _ := newTestClient(t, h, func(o *Options) { o.Logger = logger })
	next2, _ := protected(t, c2)
	valid := ed.mint(t, nil)
	if w := get(next2, "Bearer "+valid); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", w.Code)
	}

	mu.Lock()
	logged := buf.String()
	mu.Unlock()
	for _, want := range []string{"level=DEBUG", "reason=expired", "level=WARN", "502 Bad Gateway", "path=/orders"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lacks %q:\n%s", want, logged)
		}
	}
	for _, tok := range []string{expired, valid} {
		if strings.Contains(logged, tok) || strings.Contains(logged, strings.Split(tok, ".")[2]) {
			t.Errorf("the log quotes a token:\n%s", logged)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestClaimsFrom(t *testing.T) {
	if _, ok := ClaimsFrom(t.Context()); ok {
		t.Error("ClaimsFrom of an empty context is ok")
	}
	if _, ok := ClaimsFrom(ContextWithClaims(t.Context(), nil)); ok {
		t.Error("ClaimsFrom of nil claims is ok")
	}
	want := &accesstoken.Claims{Username: "bob"}
	if got, ok := ClaimsFrom(ContextWithClaims(t.Context(), want)); !ok || got != want {
		t.Errorf("ClaimsFrom = %v, %v", got, ok)
	}
}
