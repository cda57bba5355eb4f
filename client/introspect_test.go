package client

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

func TestIntrospect(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	active, revoked := ed.mint(t, nil), ed.mint(t, nil)
	h.set(func(h *testHost) { h.active[active] = true })

	t.Run("active", func(t *testing.T) {
		c, _ := newTestClient(t, h, nil)
		in, err := c.Introspect(t.Context(), active)
		if err != nil {
			t.Fatal(err)
		}
		if !in.Active || in.Subject != "user-42" || in.Username != "alice" || in.SessionID != "sess-7" ||
			in.Issuer != testIssuer || len(in.Audience) != 1 || in.Audience[0] != testAudience ||
			in.TokenType != "access_token" || in.ExpiresAt.Before(time.Now()) || in.IssuedAt.IsZero() ||
			in.NotBefore.IsZero() || in.TokenID == "" {
			t.Errorf("Introspect = %+v", in)
		}
	})
	t.Run("inactive", func(t *testing.T) {
		c, _ := newTestClient(t, h, nil)
		for _, tok := range []string{revoked, "pcr_" + randomString(32), "garbage"} {
			in, err := c.Introspect(t.Context(), tok)
			if err != nil || in.Active || in.Subject != "" {
				t.Errorf("Introspect = %+v, %v; want inactive", in, err)
			}
		}
	})

	errorTests := []struct {
		name    string
		appKey  string
		handler http.HandlerFunc // instead of the test host
		want    string           // in the error
	}{
		{name: "wrong app key", appKey: "pak_wrong", want: "401"},
		{name: "no app key", appKey: "", want: "AppKey"},
		{name: "host error", appKey: testAppKey, handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, want: "503"},
		{name: "no active member", appKey: testAppKey, handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"sub":"user-42"}`))
		}, want: "active"},
		{name: "not JSON", appKey: testAppKey, handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`<html>`))
		}, want: "reading the answer"},
	}
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			url := h.srv.URL
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				url = srv.URL
			}
			c, err := New(Options{HostURL: url, Audience: testAudience, Issuer: testIssuer, AppKey: tt.appKey})
			if err != nil {
				t.Fatal(err)
			}
			in, err := c.Introspect(t.Context(), active)
			if err == nil || in.Active || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Introspect = %+v, %v; want an error with %q", in, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), active) {
				t.Error("the error quotes the token")
			}
		})
	}
}

func TestIntrospectionMiddleware(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	c, _ := newTestClient(t, h, nil)
	called := false
	next := c.IntrospectionMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		claims, ok := ClaimsFrom(r.Context())
		if !ok {
			t.Error("no claims")
			return
		}
		_, _ = w.Write([]byte(claims.Username))
	}))
	active, revoked := ed.mint(t, nil), ed.mint(t, nil)
	h.set(func(h *testHost) { h.active[active] = true })

	t.Run("active", func(t *testing.T) {
		w := get(next, "Bearer "+active)
		if w.Code != http.StatusOK || w.Body.String() != "alice" {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		called = false
		w := get(next, "Bearer "+revoked)
		checkRefused(t, w, revoked)
		var body map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if body["error_description"] != "the access token was revoked" {
			t.Errorf("body %s", w.Body)
		}
		if called {
			t.Error("the next handler was called")
		}
	})
	t.Run("forged tokens are refused without asking the host", func(t *testing.T) {
		before := h.introHits.Load()
		forged := []string{
			newSigner(t, accesstoken.EdDSA).withKID(ed.key.ID).mint(t, nil),
			"pcr_" + randomString(32),
		}
		for _, tok := range forged {
			checkRefused(t, get(next, "Bearer "+tok), tok)
		}
		checkRefused(t, get(next), "")
		if got := h.introHits.Load() - before; got != 0 {
			t.Errorf("%d introspections for forged tokens", got)
		}
	})
	t.Run("no app key", func(t *testing.T) {
		noKey, _ := newTestClient(t, h, func(o *Options) { o.AppKey = "" })
		defer func() {
			if recover() == nil {
				t.Error("IntrospectionMiddleware without an app key did not panic")
			}
		}()
		noKey.IntrospectionMiddleware(http.NotFoundHandler())
	})
	t.Run("introspection fails", func(t *testing.T) {
		down, _ := newTestClient(t, h, func(o *Options) { o.AppKey = "pak_wrong" })
		w := get(down.IntrospectionMiddleware(http.NotFoundHandler()), "Bearer "+active)
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
