package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// newIssuer returns an Issuer over store with a fresh EdDSA key sealed
// under a key-encryption key in a temporary directory.
func newIssuer(t testing.TB, store *storage.Store, access, refresh time.Duration) *tokens.Issuer {
	t.Helper()
	return newIssuerWith(t, store, tokens.Options{AccessTTL: access, RefreshTTL: refresh, MaxLifetime: 10 * refresh})
}

func newIssuerWith(t testing.TB, store *storage.Store, opts tokens.Options) *tokens.Issuer {
	t.Helper()
	sealer, err := tokens.LoadKEK("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.OpenKeyRing(context.Background(), store, sealer, accesstoken.EdDSA, opts.AccessTTL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	opts.Issuer, opts.Audience = "http://127.0.0.1:8700", "portcullis"
	return tokens.NewIssuer(store, keys, opts)
}

// tokenAPI is the API with a granting backend, an app key and an issuer
// whose session lifetime is maxLifetime.
type tokenAPI struct {
	*api
	appKey string
}

func newTokenAPI(t *testing.T, maxLifetime time.Duration) *tokenAPI {
	t.Helper()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	user, err := store.CreateUser(context.Background(), "alice", "hash")
	if err != nil {
		t.Fatal(err)
	}
	issuer := newIssuerWith(t, store, tokens.Options{AccessTTL: accessTTL, RefreshTTL: time.Hour, MaxLifetime: maxLifetime})
	key, hash := appkeys.New()
	if _, err := store.CreateAppKey(context.Background(), "app", hash); err != nil {
		t.Fatal(err)
	}
	a := &api{store: store, issuer: issuer, ready: func(context.Context) (bool, any) { return true, nil }}
	auth := granting(sdk.Identity{Subject: user.ID, Username: "alice"})
	a.handler = httpapi.New(httpapi.Options{
		Chain:  chain.New(slog.New(slog.DiscardHandler), chain.Link{Name: "b0", Authenticator: auth, Timeout: 5 * time.Second}),
		Tokens: issuer, Issuer: "http://127.0.0.1:8700", Algorithm: accesstoken.EdDSA,
		Apps:  appkeys.NewChecker(store, appkeys.Options{CacheTTL: -1}),
		Ready: a.ready, Logger: slog.New(slog.DiscardHandler),
	})
	return &tokenAPI{api: a, appKey: key}
}

func (a *tokenAPI) login(t *testing.T) (access, refresh string) {
	t.Helper()
	w := a.do(t, "POST", "/v1/login", `{"username": "alice", "password": "s3cret"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	body := jsonBody(t, w)
	return body["access_token"].(string), body["refresh_token"].(string)
}

func (a *tokenAPI) refresh(t *testing.T, refresh string) (int, map[string]any) {
	t.Helper()
	w := a.do(t, "POST", "/v1/token/refresh", `{"refresh_token": "`+refresh+`"}`)
	return w.Code, jsonBody(t, w)
}

func (a *tokenAPI) active(t *testing.T, access string) bool {
	t.Helper()
	w := a.do(t, "POST", "/v1/token/introspect", `{"token": "`+access+`"}`,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.appKey) })
	if w.Code != http.StatusOK {
		t.Fatalf("introspect: %d %s", w.Code, w.Body)
	}
	body := jsonBody(t, w)
	active, _ := body["active"].(bool)
	if !active && len(body) != 1 {
		t.Errorf("an inactive answer says more than active: %s", w.Body)
	}
	return active
}

func TestIntrospection(t *testing.T) {
	a := newTokenAPI(t, time.Hour)
	access, _ := a.login(t)
	w := a.do(t, "POST", "/v1/token/introspect", `{"token": "`+access+`"}`,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.appKey) })
	body := jsonBody(t, w)
	if w.Code != http.StatusOK || body["active"] != true || body["username"] != "alice" || body["token_type"] != "access_token" ||
		body["iss"] != "http://127.0.0.1:8700" || body["sid"] == "" || body["exp"] == nil {
		t.Fatalf("introspect = %d %s", w.Code, w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", w.Header().Get("Cache-Control"))
	}
	// Every claim, as the token has it: times in seconds, aud a list.
	c, err := (&accesstoken.Verifier{Issuer: "http://127.0.0.1:8700", Audience: "portcullis", Keys: a.issuer.Keys()}).Verify(context.Background(), access)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"active": true, "sub": c.Subject, "username": "alice", "exp": float64(c.ExpiresAt.Unix()), "iat": float64(c.IssuedAt.Unix()),
		"nbf": float64(c.NotBefore.Unix()), "iss": "http://127.0.0.1:8700", "aud": []any{"portcullis"}, "jti": c.ID, "sid": c.SessionID,
		"token_type": "access_token",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("introspect = %v\nwant %v", body, want)
	}
	if iat, _ := body["iat"].(float64); time.Since(time.Unix(int64(iat), 0)) > time.Minute || iat > float64(time.Now().Unix()) {
		t.Errorf("iat = %v, want the login's time", body["iat"])
	}
	t.Run("needs an app key", func(t *testing.T) {
		w := a.do(t, "POST", "/v1/token/introspect", `{"token": "`+access+`"}`)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("without an app key: %d %s", w.Code, w.Body)
		}
		w = a.do(t, "POST", "/v1/token/introspect", `{"token": "`+access+`"}`,
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) })
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("with an access token as the app key: %d %s", w.Code, w.Body)
		}
	})
	for name, token := range map[string]string{
		"garbage": "garbage", "refresh token": "pcr_" + strings.Repeat("A", 43), "tampered": otherLast(access[:len(access)-10]) + access[len(access)-10:],
	} {
		t.Run(name, func(t *testing.T) {
			if a.active(t, token) {
				t.Error("reported active")
			}
		})
	}
	t.Run("missing token is a 400", func(t *testing.T) {
		w := a.do(t, "POST", "/v1/token/introspect", `{}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.appKey) })
		if w.Code != http.StatusBadRequest {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}

func TestRevokeEndsTheSessionForIntrospection(t *testing.T) {
	for _, with := range []string{"access", "refresh"} {
		t.Run(with, func(t *testing.T) {
			a := newTokenAPI(t, time.Hour)
			access, refresh := a.login(t)
			token := map[string]string{"access": access, "refresh": refresh}[with]
			if w := a.do(t, "POST", "/v1/token/revoke", `{"token": "`+token+`"}`); w.Code != http.StatusOK {
				t.Fatalf("revoke: %d %s", w.Code, w.Body)
			}
			if a.active(t, access) {
				t.Error("the access token of a revoked session is active")
			}
			if code, _ := a.refresh(t, refresh); code != http.StatusUnauthorized {
				t.Errorf("refresh after revoke: %d", code)
			}
		})
	}
}

func TestRefreshReuseRevokesTheFamily(t *testing.T) {
	a := newTokenAPI(t, time.Hour)
	access, first := a.login(t)
	code, body := a.refresh(t, first)
	if code != http.StatusOK {
		t.Fatalf("refresh: %d %v", code, body)
	}
	second, newAccess := body["refresh_token"].(string), body["access_token"].(string)
	if !a.active(t, newAccess) {
		t.Fatal("the new access token is not active")
	}
	if code, _ := a.refresh(t, first); code != http.StatusUnauthorized {
		t.Fatalf("reuse: %d", code)
	}
	if code, _ := a.refresh(t, second); code != http.StatusUnauthorized {
		t.Errorf("the newer refresh token still works after a reuse: %d", code)
	}
	if a.active(t, newAccess) || a.active(t, access) {
		t.Error("an access token of the revoked family is active")
	}
}

func TestConcurrentRefreshesOneWins(t *testing.T) {
	a := newTokenAPI(t, time.Hour)
	_, refresh := a.login(t)
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i], _ = a.refresh(t, refresh) })
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == http.StatusOK {
			ok++
		} else if c != http.StatusUnauthorized {
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent refreshes succeeded, want exactly 1 (%v)", ok, n, codes)
	}
}

func TestUserChangesEndSessions(t *testing.T) {
	ctx := context.Background()
	for name, change := range map[string]func(s *storage.Store) error{
		"password": func(s *storage.Store) error { _, err := s.SetPassword(ctx, "alice", "new-hash"); return err },
		"remove":   func(s *storage.Store) error { _, err := s.RemoveUser(ctx, "alice"); return err },
		"disable": func(s *storage.Store) error {
			u, err := s.UserByUsername(ctx, "alice")
			if err == nil {
				_, _, err = s.DisableUser(ctx, u.ID)
			}
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newTokenAPI(t, time.Hour)
			access, refresh := a.login(t)
			if err := change(a.store); err != nil {
				t.Fatal(err)
			}
			if code, _ := a.refresh(t, refresh); code != http.StatusUnauthorized {
				t.Errorf("refresh after the change: %d", code)
			}
			if a.active(t, access) {
				t.Error("introspection says active after the change")
			}
		})
	}
}

func TestSessionEndsAtItsMaximumLifetime(t *testing.T) {
	const lifetime = 2 * time.Second
	a := newTokenAPI(t, lifetime)
	start := time.Now()
	_, refresh := a.login(t)
	refreshes := 0
	for time.Since(start) < 2*lifetime {
		code, body := a.refresh(t, refresh)
		if code != http.StatusOK {
			break
		}
		refreshes++
		refresh = body["refresh_token"].(string)
		time.Sleep(100 * time.Millisecond)
	}
	// The session's start is taken in whole seconds, so it may end up to
	// a second early.
	if ended := time.Since(start); ended > lifetime+500*time.Millisecond || ended < lifetime-time.Second || refreshes < 3 {
		t.Errorf("a session refreshed every 100ms ended after %v and %d refreshes; want it to end at its maximum lifetime %v", ended, refreshes, lifetime)
	}
}

func TestWellKnown(t *testing.T) {
	a := newTokenAPI(t, time.Hour)
	access, _ := a.login(t)
	w := a.do(t, "GET", "/.well-known/jwks.json", "")
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Cache-Control"), "max-age=") {
		t.Fatalf("jwks: %d %v", w.Code, w.Header())
	}
	keys, err := accesstoken.ParseSet(w.Body.Bytes())
	if err != nil || len(keys) != 1 {
		t.Fatalf("jwks = %v, %v", keys, err)
	}
	v := accesstoken.Verifier{Issuer: "http://127.0.0.1:8700", Audience: "portcullis", Keys: keySet(keys)}
	if _, err := v.Verify(context.Background(), access); err != nil {
		t.Errorf("the published key does not verify a login's token: %v", err)
	}
	w = a.do(t, "GET", "/.well-known/openid-configuration", "")
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusOK || body["issuer"] != "http://127.0.0.1:8700" || body["jwks_uri"] != "http://127.0.0.1:8700/.well-known/jwks.json" {
		t.Errorf("openid-configuration = %d %s", w.Code, w.Body)
	}
}

type keySet map[string]accesstoken.Key

func (k keySet) VerificationKey(_ context.Context, kid string) (accesstoken.Key, error) {
	if key, ok := k[kid]; ok {
		return key, nil
	}
	return accesstoken.Key{}, accesstoken.ErrUnknownKeyID
}

func TestLoginClientFromAnApp(t *testing.T) {
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	key, hash := appkeys.New()
	if _, err := store.CreateAppKey(context.Background(), "app", hash); err != nil {
		t.Fatal(err)
	}
	auth := granting(sdk.Identity{Subject: "u1", Username: "alice"})
	a := &api{store: store}
	a.handler = httpapi.New(httpapi.Options{
		Chain:  chain.New(slog.New(slog.DiscardHandler), chain.Link{Name: "b0", Authenticator: auth, Timeout: 5 * time.Second}),
		Tokens: newIssuer(t, store, accessTTL, time.Hour), Apps: appkeys.NewChecker(store, appkeys.Options{}),
		Ready: func(context.Context) (bool, any) { return true, nil }, Logger: slog.New(slog.DiscardHandler),
	})
	body := `{"username": "alice", "password": "s3cret", "client": {"ip": "203.0.113.9", "user_agent": "end-user/1"}}`
	for _, tc := range []struct {
		name, auth string
		status     int
		ip         string
	}{
		{"an app speaks for its user", "Bearer " + key, http.StatusOK, "203.0.113.9"},
		{"anyone else does not", "", http.StatusOK, "192.0.2.1"},
		{"a wrong app key is refused", "Bearer pck_" + strings.Repeat("A", 43), http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := a.do(t, "POST", "/v1/login", body, func(r *http.Request) {
				if tc.auth != "" {
					r.Header.Set("Authorization", tc.auth)
				}
			})
			if w.Code != tc.status {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.ip != "" {
				if got := auth.last(t).Client.IP; got != tc.ip {
					t.Errorf("the backend saw client %s, want %s", got, tc.ip)
				}
			}
		})
	}
}

// form sends the body as application/x-www-form-urlencoded.
func form(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }

// TestRevokeAndIntrospectionTakeForms: POST /v1/token/introspect and POST
// /v1/token/revoke take the form body RFC 7662 and RFC 7009 clients send,
// as strictly as their JSON: token and token_type_hint only, spelled
// exactly, each once, within the body limit. Other media types are still
// 415, and the login and refresh endpoints still take JSON only
// (TestJSONEndpointsRefuseOtherContentTypes).
func TestRevokeAndIntrospectionTakeForms(t *testing.T) {
	a := newTokenAPI(t, time.Hour)
	access, refresh := a.login(t)
	app := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.appKey) }

	byJSON := a.do(t, "POST", "/v1/token/introspect", `{"token": "`+access+`"}`, app)
	for name, edit := range map[string]func(*http.Request){
		"form": form,
		"form with charset": func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := a.do(t, "POST", "/v1/token/introspect", "token="+url.QueryEscape(access)+"&token_type_hint=access_token", app, edit)
			if w.Code != http.StatusOK || w.Body.String() != byJSON.Body.String() || jsonBody(t, w)["active"] != true {
				t.Errorf("introspection of a form: %d %s; want what the JSON body gets, %s", w.Code, w.Body, byJSON.Body)
			}
		})
	}
	if w := a.do(t, "POST", "/v1/token/introspect", "token=garbage", app, form); w.Code != http.StatusOK || w.Body.String() != "{\"active\":false}\n" {
		t.Errorf("introspection of a garbage token in a form: %d %s", w.Code, w.Body)
	}
	if w := a.do(t, "POST", "/v1/token/introspect", "token="+access, form); w.Code != http.StatusUnauthorized || jsonBody(t, w)["error"] != "invalid_client" {
		t.Errorf("introspection of a form without an app key: %d %s", w.Code, w.Body)
	}

	big := "token=" + strings.Repeat("A", 64<<10)
	for _, tt := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"an unknown field", "token=" + access + "&client_id=web", http.StatusBadRequest, `unknown field "client_id"`},
		{"a field in another case", "Token=" + access, http.StatusBadRequest, `unknown field "Token"`},
		{"token twice", "token=" + access + "&token=" + refresh, http.StatusBadRequest, `field "token" is given twice`},
		{"token twice, once empty", "token=&token=" + access, http.StatusBadRequest, `field "token" is given twice`},
		{"token_type_hint twice", "token=" + access + "&token_type_hint=access_token&token_type_hint=refresh_token", http.StatusBadRequest, `field "token_type_hint" is given twice`},
		{"a semicolon", "token=" + access + ";token=" + refresh, http.StatusBadRequest, "not a valid form"},
		{"a bad escape", "token=%zz", http.StatusBadRequest, "not a valid form"},
		{"no token", "token_type_hint=access_token", http.StatusBadRequest, "token is required"},
		{"an empty token", "token=", http.StatusBadRequest, "token is required"},
		{"an empty body", "", http.StatusBadRequest, "token is required"},
		{"not UTF-8", "token=" + access + "&token_type_hint=%ff", http.StatusBadRequest, `field "token_type_hint" is not UTF-8`},
		{"over 64 KiB", big, http.StatusRequestEntityTooLarge, "larger than 65536 bytes"},
	} {
		for _, path := range []string{"/v1/token/introspect", "/v1/token/revoke"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				w := a.do(t, "POST", path, tt.body, app, form)
				body := jsonBody(t, w)
				want := "invalid_request"
				if w.Code != tt.status || body["error"] != want || !strings.Contains(body["error_description"].(string), tt.msg) {
					t.Errorf("%d %s; want %d %s ...%s...", w.Code, w.Body, tt.status, want, tt.msg)
				}
			})
		}
	}
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "", "application/x-www-form-urlencodedx"} {
		for _, path := range []string{"/v1/token/introspect", "/v1/token/revoke"} {
			w := a.do(t, "POST", path, "token="+access, app, func(r *http.Request) { r.Header.Set("Content-Type", ct) })
			body := jsonBody(t, w)
			if w.Code != http.StatusUnsupportedMediaType || body["error"] != "unsupported_media_type" ||
				!strings.Contains(body["error_description"].(string), "application/x-www-form-urlencoded") {
				t.Errorf("POST %s with Content-Type %q: %d %s; want 415 naming JSON and the form", path, ct, w.Code, w.Body)
			}
		}
	}

	// The refused requests changed nothing; a form revoke ends the session.
	if !a.active(t, access) {
		t.Fatal("the access token is inactive before the revoke")
	}
	if w := a.do(t, "POST", "/v1/token/revoke", "token="+url.QueryEscape(refresh)+"&token_type_hint=refresh_token", form); w.Code != http.StatusOK || w.Body.String() != "{}\n" {
		t.Fatalf("revoke with a form: %d %s", w.Code, w.Body)
	}
	if a.active(t, access) {
		t.Error("the access token of a session revoked by a form is active")
	}
	if w := a.do(t, "POST", "/v1/token/revoke", "token=unknown", form); w.Code != http.StatusOK {
		t.Errorf("revoke of an unknown token in a form: %d %s; want 200 (RFC 7009)", w.Code, w.Body)
	}
}
