package client

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis-auth/portcullis/accesstoken"
)

// The test host's names.
const (
	testIssuer   = "https://auth.test"
	testAudience = "orders-app"
	testAppKey   = "pak_test-app-key"
)

// testHost is a fake Portcullis host: it serves a key set built with
// accesstoken.NewSet, the OpenID configuration and introspection, and
// counts what it is asked.
type testHost struct {
	srv *httptest.Server

	mu           sync.Mutex
	keys         []accesstoken.Key
	cacheControl string
	jwksStatus   int           // when not 0 or 200, the key set's answer
	gate         chan struct{} // when not nil, the key set's answer waits for it to close
	issuer       string        // the OpenID configuration's
	jwksPath     string
	active       map[string]bool // introspection: the tokens that are active

	jwksHits      atomic.Int64
	discoveryHits atomic.Int64
	introHits     atomic.Int64
	inflight      atomic.Int64
	maxInflight   atomic.Int64
}

func newTestHost(t testing.TB, keys ...accesstoken.Key) *testHost {
	t.Helper()
	h := &testHost{
		keys:         keys,
		cacheControl: "public, max-age=300",
		issuer:       testIssuer,
		jwksPath:     "/.well-known/jwks.json",
		active:       map[string]bool{},
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *testHost) set(f func(h *testHost)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

func (h *testHost) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	jwksPath, issuer := h.jwksPath, h.issuer
	h.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == jwksPath:
		h.serveKeys(w)
	case r.Method == http.MethodGet && r.URL.Path == "/.well-known/openid-configuration":
		h.discoveryHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": h.srv.URL + jwksPath})
	case r.URL.Path == "/v1/token/introspect":
		h.serveIntrospection(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *testHost) serveKeys(w http.ResponseWriter) {
	h.jwksHits.Add(1)
	n := h.inflight.Add(1)
	defer h.inflight.Add(-1)
	for {
		m := h.maxInflight.Load()
		if n <= m || h.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	h.mu.Lock()
	gate, status, cc := h.gate, h.jwksStatus, h.cacheControl
	set, err := accesstoken.NewSet(h.keys)
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if status != 0 && status != http.StatusOK {
		http.Error(w, "unavailable", status)
		return
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(set)
}

// serveIntrospection answers POST /v1/token/introspect as the host does,
// for the app key testAppKey only.
func (h *testHost) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	h.introHits.Add(1)
	writeErr := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		writeErr(http.StatusMethodNotAllowed, "method_not_allowed", "POST only")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testAppKey {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeErr(http.StatusUnauthorized, "invalid_token", "the app key is not valid")
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		writeErr(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Token == "" {
		writeErr(http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	h.mu.Lock()
	active := h.active[body.Token]
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !active {
		_, _ = w.Write([]byte(`{"active":false}`))
		return
	}
	var claims accesstoken.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(body.Token, &claims); err != nil {
		writeErr(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"active": true, "sub": claims.Subject, "username": claims.Username,
		"exp": claims.ExpiresAt.Unix(), "iat": claims.IssuedAt.Unix(), "nbf": claims.NotBefore.Unix(),
		"iss": claims.Issuer, "aud": []string(claims.Audience), "jti": claims.ID,
		"token_type": "access_token", "sid": claims.SessionID,
	})
}

// signer is a signing key the tests mint tokens with.
type signer struct {
	key  accesstoken.Key
	priv crypto.Signer
}

func newSigner(t testing.TB, alg string) signer {
	t.Helper()
	var priv crypto.Signer
	var err error
	if alg == accesstoken.RS256 {
		priv, err = rsa.GenerateKey(rand.Reader, 2048) // NewKey's 3072 bits are slow to make
	} else {
		priv, err = accesstoken.NewKey(alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	kid, err := accesstoken.KeyID(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: accesstoken.Key{ID: kid, Algorithm: alg, Public: priv.Public()}, priv: priv}
}

// claims returns the claims of a valid token issued at now.
func validClaims(now time.Time) *accesstoken.Claims {
	return &accesstoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   "user-42",
			Audience:  jwt.ClaimStrings{testAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        randomString(8),
		},
		SessionID: "sess-7",
		Username:  "alice",
	}
}

// mint signs valid claims, changed by edit when it is not nil.
func (s signer) mint(t testing.TB, edit func(*accesstoken.Claims)) string {
	t.Helper()
	c := validClaims(time.Now())
	if edit != nil {
		edit(c)
	}
	tok, err := accesstoken.Sign(c, s.key, s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withKID returns s naming itself kid.
func (s signer) withKID(kid string) signer {
	s.key.ID = kid
	return s
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// segment is v as a JWT segment: JSON, base64url without padding.
func segment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// testClock is a clock the tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestClient returns a Client of h whose clock is the returned one.
func newTestClient(t testing.TB, h *testHost, edit func(*Options)) (*Client, *testClock) {
	t.Helper()
	o := Options{
		HostURL:    h.srv.URL,
		Audience:   testAudience,
		Issuer:     testIssuer,
		AppKey:     testAppKey,
		HTTPClient: h.srv.Client(),
	}
	if edit != nil {
		edit(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Now()}
	c.now = clock.Now
	return c, clock
}

// refusal returns the Type of the *accesstoken.Error err, or fails.
func refusal(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("accepted; want refused")
	}
	e, ok := err.(*accesstoken.Error)
	if !ok {
		t.Fatalf("error %T %v; want *accesstoken.Error", err, err)
	}
	if !errors.Is(err, accesstoken.ErrInvalidToken) {
		t.Fatalf("errors.Is(%v, ErrInvalidToken) is false", err)
	}
	return e.Type
}
