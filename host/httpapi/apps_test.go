package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
)

// appsFixture is an API on a real SQLite store, with a test endpoint for
// apps, POST /test/app, that answers the app's name. The login chain and
// the token issuer are left out: requireApp needs neither.
type appsFixture struct {
	store   *storage.Store
	handler http.Handler
	calls   int
}

func newAppsFixture(t *testing.T, apps func(*storage.Store) *appkeys.Checker) *appsFixture {
	t.Helper()
	f := &appsFixture{store: storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))}
	var checker *appkeys.Checker
	if apps != nil {
		checker = apps(f.store)
	}
	s := New(Options{
		Ready:  func(context.Context) (bool, any) { return true, nil },
		Logger: slog.New(slog.DiscardHandler),
		Apps:   checker,
	})
	s.mux.HandleFunc("POST /test/app", s.requireApp(func(w http.ResponseWriter, _ *http.Request, app storage.AppKey) {
		f.calls++
		writeJSON(w, http.StatusOK, map[string]string{"app": app.Name})
	}))
	f.handler = s
	return f
}

// uncached is a Checker that reads the store on every check.
func uncached(s *storage.Store) *appkeys.Checker {
	return appkeys.NewChecker(s, appkeys.Options{CacheTTL: -1})
}

// create stores a new app key and returns it.
func (f *appsFixture) create(t *testing.T, name string) string {
	t.Helper()
	key, hash := appkeys.New()
	if _, err := f.store.CreateAppKey(t.Context(), name, hash); err != nil {
		t.Fatal(err)
	}
	return key
}

func (f *appsFixture) do(authorization ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/test/app", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	for _, a := range authorization {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

// checkRefused checks a 401 invalid_client answer and returns its body.
func checkRefused(t *testing.T, w *httptest.ResponseRecorder, wantDescription string) string {
	t.Helper()
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d %s, want 401", w.Code, w.Body)
	}
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="portcullis"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if len(body) != 2 || body["error"] != "invalid_client" || body["error_description"] != wantDescription {
		t.Errorf("body = %v, want invalid_client with %q", body, wantDescription)
	}
	return w.Body.String()
}

func TestRequireAppAcceptsALiveKey(t *testing.T) {
	f := newAppsFixture(t, uncached)
	key := f.create(t, "billing")
	for _, auth := range []string{"Bearer " + key, "bearer " + key, "BEARER  " + key} {
		w := f.do(auth)
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"app":"billing"}` {
			t.Errorf("Authorization %q: %d %s, want 200 for billing", auth, w.Code, w.Body)
		}
	}
	if f.calls != 3 {
		t.Fatalf("the endpoint ran %d times, want 3", f.calls)
	}
}

func TestRequireAppRefusesMissingCredentials(t *testing.T) {
	f := newAppsFixture(t, uncached)
	key := f.create(t, "billing")
	const missing = "this endpoint is for apps: send an app key as Authorization: Bearer <app key>"
	for _, tt := range []struct {
		name string
		auth []string
		want string
	}{
		{"no header", nil, missing},
		{"empty header", []string{""}, missing},
		{"scheme alone", []string{"Bearer"}, missing},
		{"scheme and a space", []string{"Bearer "}, missing},
		{"Basic", []string{"Basic YWxpY2U6czNjcmV0"}, missing},
		{"the key without a scheme", []string{key}, missing},
		{"two headers", []string{"Bearer " + key, "Bearer " + key}, "send one Authorization header, not several"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkRefused(t, f.do(tt.auth...), tt.want)
		})
	}
	if f.calls != 0 {
		t.Fatalf("the endpoint ran %d times for refused requests", f.calls)
	}
}

// TestRequireAppGivesOneAnswerToEveryBadKey: malformed, unknown and
// revoked keys get the same answer, byte for byte but for the request id.
func TestRequireAppGivesOneAnswerToEveryBadKey(t *testing.T) {
	f := newAppsFixture(t, uncached)
	revoked := f.create(t, "old")
	if _, err := f.store.RevokeAppKey(t.Context(), "old"); err != nil {
		t.Fatal(err)
	}
	live := f.create(t, "billing")
	unknown, _ := appkeys.New()
	bodies := map[string]string{}
	for name, key := range map[string]string{
		"malformed":              "pck_short",
		"another kind of token":  "pca_" + live[len("pck_"):],
		"unknown":                unknown,
		"revoked":                revoked,
		"a live key, one change": live[:len(live)-1] + map[bool]string{true: "B", false: "A"}[live[len(live)-1] == 'A'],
		"the key's hash":         appkeys.Hash(live),
	} {
		bodies[name] = checkRefused(t, f.do("Bearer "+key), "the app key is not valid")
	}
	var first string
	for name, body := range bodies {
		if first == "" {
			first = body
		} else if body != first {
			t.Errorf("%s key: body %q differs from %q", name, body, first)
		}
	}
	if f.calls != 0 {
		t.Fatalf("the endpoint ran %d times for bad keys", f.calls)
	}
}

// TestRequireAppRevocation: with the cache off a revocation takes effect
// at once; with it on, a checked key is accepted until its entry expires.
func TestRequireAppRevocation(t *testing.T) {
	t.Run("uncached", func(t *testing.T) {
		f := newAppsFixture(t, uncached)
		key := f.create(t, "billing")
		if w := f.do("Bearer " + key); w.Code != http.StatusOK {
			t.Fatalf("before revoking: %d %s", w.Code, w.Body)
		}
		if _, err := f.store.RevokeAppKey(t.Context(), "billing"); err != nil {
			t.Fatal(err)
		}
		checkRefused(t, f.do("Bearer "+key), "the app key is not valid")
	})
	t.Run("cached", func(t *testing.T) {
		const ttl = 300 * time.Millisecond
		f := newAppsFixture(t, func(s *storage.Store) *appkeys.Checker {
			return appkeys.NewChecker(s, appkeys.Options{CacheTTL: ttl})
		})
		key := f.create(t, "billing")
		if w := f.do("Bearer " + key); w.Code != http.StatusOK {
			t.Fatalf("before revoking: %d %s", w.Code, w.Body)
		}
		revokedAt := time.Now()
		if _, err := f.store.RevokeAppKey(t.Context(), "billing"); err != nil {
			t.Fatal(err)
		}
		if w := f.do("Bearer " + key); w.Code != http.StatusOK {
			t.Fatalf("just after revoking, the cached check stands: %d %s, want 200", w.Code, w.Body)
		}
		for time.Since(revokedAt) < 2*ttl {
			w := f.do("Bearer " + key)
			if w.Code == http.StatusUnauthorized {
				break
			}
			if w.Code != http.StatusOK {
				t.Fatalf("while cached: %d %s", w.Code, w.Body)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if elapsed := time.Since(revokedAt); elapsed > ttl+100*time.Millisecond {
			t.Fatalf("the revoked key was accepted for %v, longer than the cache's %v", elapsed, ttl)
		}
		checkRefused(t, f.do("Bearer "+key), "the app key is not valid")
	})
}

// TestRequireAppFailsClosed: a database that cannot be read, or an API
// without a checker, is 503 backend_unavailable, never the endpoint.
func TestRequireAppFailsClosed(t *testing.T) {
	check := func(t *testing.T, w *httptest.ResponseRecorder, calls int) {
		t.Helper()
		var body map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusServiceUnavailable || body["error"] != "backend_unavailable" {
			t.Fatalf("%d %s, want 503 backend_unavailable", w.Code, w.Body)
		}
		if w.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("a 503 carries WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
		}
		if calls != 0 {
			t.Fatalf("the endpoint ran %d times", calls)
		}
	}
	t.Run("database closed", func(t *testing.T) {
		f := newAppsFixture(t, uncached)
		key := f.create(t, "billing")
		if err := f.store.Close(); err != nil {
			t.Fatal(err)
		}
		w := f.do("Bearer " + key)
		check(t, w, f.calls)
		if !strings.Contains(w.Body.String(), "the app key could not be checked; try again later") {
			t.Errorf("body %s", w.Body)
		}
	})
	t.Run("no checker", func(t *testing.T) {
		f := newAppsFixture(t, nil)
		key := f.create(t, "billing")
		check(t, f.do("Bearer "+key), f.calls)
	})
}
