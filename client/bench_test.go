package client

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis-auth/portcullis/accesstoken"
)

// BenchmarkVerify compares a request through Middleware with a valid
// EdDSA token (keys cached) to golang-jwt verifying the same token with
// the same key, the yardstick:
//
//	go test ./client -run '^$' -bench Verify -count 10
func BenchmarkVerify(b *testing.B) {
	ed := newSigner(b, accesstoken.EdDSA)
	h := newTestHost(b, ed.key)
	c, _ := newTestClient(b, h, nil)
	c.now = time.Now
	token := ed.mint(b, func(c *accesstoken.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) })

	b.Run("middleware", func(b *testing.B) {
		next := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := ClaimsFrom(r.Context()); !ok {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}))
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		next.ServeHTTP(w, req) // fetches the keys
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			next.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})

	b.Run("raw-golang-jwt", func(b *testing.B) {
		pub := ed.key.Public.(ed25519.PublicKey)
		keyFunc := func(*jwt.Token) (any, error) { return pub, nil }
		b.ReportAllocs()
		for b.Loop() {
			t, err := jwt.Parse(token, keyFunc, jwt.WithValidMethods([]string{accesstoken.EdDSA}))
			if err != nil || !t.Valid {
				b.Fatal(err)
			}
		}
	})
}
