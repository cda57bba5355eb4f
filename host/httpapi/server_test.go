package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
)

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantCode     string
		wantAllow    string
	}{
		{"GET", "/nope", 404, "not_found", ""},
		{"POST", "/v1/logins", 404, "not_found", ""},
		{"POST", "/v1/login/", 404, "not_found", ""},
		{"GET", "/", 404, "not_found", ""},
		{"GET", "/v1/login", 405, "method_not_allowed", "POST"},
		{"PUT", "/v1/login", 405, "method_not_allowed", "POST"},
		{"DELETE", "/v1/login", 405, "method_not_allowed", "POST"},
		{"PATCH", "/v1/login", 405, "method_not_allowed", "POST"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET"},
		{"DELETE", "/readyz", 405, "method_not_allowed", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			auth := granting(sdk.Identity{Subject: "s"})
			a := newAPI(t, auth)
			w := a.do(t, tt.method, tt.path, goodLogin)
			checkError(t, w, tt.wantStatus, tt.wantCode)
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if auth.calls() != 0 {
				t.Errorf("the authenticator was asked about %s %s", tt.method, tt.path)
			}
		})
	}
}

func TestRequestIDs(t *testing.T) {
	a := newAPI(t, abstaining(""))
	seen := map[string]bool{}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/login", goodLogin},
		{"POST", "/v1/login", "{"},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/missing", ""},
	} {
		w := a.do(t, r.method, r.path, r.body)
		id := w.Header().Get("X-Request-Id")
		if len(id) != 24 || seen[id] {
			t.Errorf("%s %s: X-Request-Id = %q, want a fresh 24-digit id", r.method, r.path, id)
		}
		seen[id] = true
		if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options = %q", r.method, r.path, got)
		}
	}
}

func TestHealthz(t *testing.T) {
	a := newAPI(t, abstaining(""))
	a.ready = func(context.Context) (bool, any) { return false, nil } // health does not depend on readiness
	w := a.do(t, "GET", "/healthz", "")
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", w.Code)
	}
	if body := jsonBody(t, w); body["status"] != "ok" {
		t.Errorf("body = %v", body)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		ready      bool
		details    any
		wantStatus int
		wantWord   string
	}{
		{"ready", true, map[string]any{"local": "running"}, 200, "ready"},
		{"ready without details", true, nil, 200, "ready"},
		{"not ready", false, map[string]any{"local": "restarting"}, 503, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, abstaining(""))
			var deadline time.Time
			var calls int
			a.ready = func(ctx context.Context) (bool, any) {
				calls++
				deadline, _ = ctx.Deadline()
				return tt.ready, tt.details
			}
			start := time.Now()
			w := a.do(t, "GET", "/readyz", "")
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			body := jsonBody(t, w)
			if body["status"] != tt.wantWord {
				t.Errorf("status field = %v, want %q", body["status"], tt.wantWord)
			}
			if tt.details == nil {
				if body["details"] != nil {
					t.Errorf("details = %v, want null", body["details"])
				}
			} else if d, _ := body["details"].(map[string]any); d["local"] != tt.details.(map[string]any)["local"] {
				t.Errorf("details = %v, want %v", body["details"], tt.details)
			}
			if calls != 1 {
				t.Errorf("Ready called %d times, want 1", calls)
			}
			if deadline.IsZero() || deadline.Sub(start) > 3*time.Second {
				t.Errorf("Ready's context deadline = %v, want one within a few seconds", deadline)
			}
		})
	}
}

func TestJSONEndpointsRefuseOtherContentTypes(t *testing.T) {
	a := newAPI(t, granting(sdk.Identity{Subject: "u1", Username: "alice"}))
	for _, path := range []string{"/v1/login", "/v1/session", "/v1/token/refresh", "/v1/token/revoke"} {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json-patch+json", "text/json"} {
			if path == "/v1/token/revoke" && ct == "application/x-www-form-urlencoded" {
				continue // RFC 7009's form: TestRevokeAndIntrospectionTakeForms
			}
			w := a.do(t, http.MethodPost, path, `{"username":"alice","password":"pw","refresh_token":"x","token":"x"}`, func(r *http.Request) {
				r.Header.Set("Content-Type", ct)
			})
			body := jsonBody(t, w)
			if w.Code != http.StatusUnsupportedMediaType || body["error"] != "unsupported_media_type" {
				t.Errorf("POST %s with Content-Type %q: %d %v, want 415 unsupported_media_type", path, ct, w.Code, body)
			}
		}
	}
	// A charset parameter is fine.
	w := a.do(t, http.MethodPost, "/v1/login", `{"username":"alice","password":"pw"}`, func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
	})
	if w.Code != http.StatusOK {
		t.Errorf("application/json with a charset: %d %s", w.Code, w.Body)
	}
}

func TestHostHeaderOnLoopback(t *testing.T) {
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	issuer := newIssuer(t, store, time.Minute, time.Hour)
	for _, tt := range []struct {
		loopback bool
		allowed  []string
		host     string
		want     int
	}{
		{true, nil, "127.0.0.1:8700", http.StatusOK},
		{true, nil, "localhost:8700", http.StatusOK},
		{true, nil, "LOCALHOST", http.StatusOK},
		{true, nil, "[::1]:8700", http.StatusOK},
		{true, nil, "attacker.example:8700", http.StatusMisdirectedRequest},
		{true, nil, "127.0.0.1.nip.io:8700", http.StatusMisdirectedRequest},
		{true, nil, "", http.StatusMisdirectedRequest},
		{true, []string{"auth.internal"}, "auth.internal:8700", http.StatusOK},
		{true, []string{"auth.internal"}, "other.internal", http.StatusMisdirectedRequest},
		{false, nil, "anything.example", http.StatusOK},
		{false, []string{"auth.example.com"}, "auth.example.com", http.StatusOK},
		{false, []string{"auth.example.com"}, "evil.example.com", http.StatusMisdirectedRequest},
	} {
		h := httpapi.New(httpapi.Options{
			Chain: chain.New(nil), Tokens: issuer,
			Ready:  func(context.Context) (bool, any) { return true, nil },
			Logger: slog.New(slog.DiscardHandler), Loopback: tt.loopback, AllowedHosts: tt.allowed,
		})
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("loopback %v, allowed %v, Host %q: %d %s, want %d", tt.loopback, tt.allowed, tt.host, w.Code, w.Body, tt.want)
		}
	}
}
