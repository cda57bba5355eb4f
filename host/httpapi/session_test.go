package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/setcookie"
)

// sessionAPI is the API with a granting backend, for browser sessions
// and forward-auth.
func sessionAPI(t *testing.T, loginURL string) *api {
	t.Helper()
	return sessionAPIWith(t, loginURL, httpapi.Cookie{Name: "pc_session", SameSite: http.SameSiteLaxMode, TrustedOrigins: []string{"https://app.example"}})
}

// sessionAPIWith is sessionAPI with the session cookie configured by cookie.
func sessionAPIWith(t *testing.T, loginURL string, cookie httpapi.Cookie) *api {
	t.Helper()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	user, err := store.CreateUser(context.Background(), "alice", "hash")
	if err != nil {
		t.Fatal(err)
	}
	issuer := newIssuerWith(t, store, tokens.Options{AccessTTL: accessTTL, RefreshTTL: time.Hour, MaxLifetime: time.Hour,
		Cookies: tokens.CookieOptions{IdleTimeout: time.Hour, MaxLifetime: 2 * time.Hour}})
	a := &api{store: store, issuer: issuer, ready: func(context.Context) (bool, any) { return true, nil }}
	auth := granting(sdk.Identity{Subject: user.ID, Username: "alice"})
	a.handler = httpapi.New(httpapi.Options{
		Chain:  chain.New(slog.New(slog.DiscardHandler), chain.Link{Name: "b0", Authenticator: auth, Timeout: 5 * time.Second}),
		Tokens: issuer, Issuer: "http://127.0.0.1:8700", Algorithm: accesstoken.EdDSA,
		Cookie:         cookie,
		LoginURL:       loginURL,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Ready:          a.ready, Logger: slog.New(slog.DiscardHandler),
	})
	return a
}

// sessionLogin logs in at POST /v1/session and returns the cookie and the
// CSRF token.
func sessionLogin(t *testing.T, a *api) (*http.Cookie, string) {
	t.Helper()
	w := a.do(t, "POST", "/v1/session", `{"username": "alice", "password": "s3cret"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("session login: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "pc_session" || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookies = %+v; want one HttpOnly SameSite=Lax pc_session", cookies)
	}
	body := jsonBody(t, w)
	csrf, _ := body["csrf_token"].(string)
	if csrf == "" || strings.Contains(w.Body.String(), cookies[0].Value) {
		t.Fatalf("body = %s: want a csrf_token and never the cookie's value", w.Body)
	}
	return cookies[0], csrf
}

// otherLast returns s with its last character changed (in a token cut
// short, a character of its signature).
func otherLast(s string) string {
	last := "A"
	if strings.HasSuffix(s, last) {
		last = "B"
	}
	return s[:len(s)-1] + last
}

func withCookie(c *http.Cookie) func(*http.Request) { return func(r *http.Request) { r.AddCookie(c) } }

func TestSessionLifecycle(t *testing.T) {
	a := sessionAPI(t, "")
	cookie, csrf := sessionLogin(t, a)
	other, _ := sessionLogin(t, a)
	if other.Value == cookie.Value {
		t.Fatal("two logins got the same session id")
	}
	w := a.do(t, "GET", "/v1/session", "", withCookie(cookie))
	body := jsonBody(t, w)
	if w.Code != http.StatusOK || body["csrf_token"] != csrf || body["user"].(map[string]any)["username"] != "alice" {
		t.Fatalf("status: %d %s", w.Code, w.Body)
	}
	if w := a.do(t, "GET", "/v1/session", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("status without a cookie: %d", w.Code)
	}

	for name, edit := range map[string]func(*http.Request){
		"no CSRF token":        func(r *http.Request) {},
		"wrong CSRF token":     func(r *http.Request) { r.Header.Set("X-CSRF-Token", otherLast(csrf)) },
		"other session's CSRF": func(r *http.Request) { r.Header.Set("X-CSRF-Token", tokens.CSRFToken(other.Value)) },
		"cross-site Origin": func(r *http.Request) {
			r.Header.Set("X-CSRF-Token", csrf)
			r.Header.Set("Origin", "https://evil.example")
		},
		"null Origin": func(r *http.Request) { r.Header.Set("X-CSRF-Token", csrf); r.Header.Set("Origin", "null") },
		"cross-site fetch": func(r *http.Request) {
			r.Header.Set("X-CSRF-Token", csrf)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := a.do(t, "DELETE", "/v1/session", "", withCookie(cookie), edit)
			if w.Code != http.StatusForbidden {
				t.Fatalf("logout: %d %s, want 403", w.Code, w.Body)
			}
			if w := a.do(t, "GET", "/v1/session", "", withCookie(cookie)); w.Code != http.StatusOK {
				t.Fatalf("the refused logout ended the session: %d", w.Code)
			}
		})
	}

	w = a.do(t, "DELETE", "/v1/session", "", withCookie(cookie), func(r *http.Request) {
		r.Header.Set("X-CSRF-Token", csrf)
		r.Header.Set("Origin", "https://app.example") // a trusted origin
	})
	if w.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout does not clear the cookie: %+v", c)
	}
	if w := a.do(t, "GET", "/v1/session", "", withCookie(cookie)); w.Code != http.StatusUnauthorized {
		t.Errorf("status after logout: %d, want 401", w.Code)
	}
	if w := a.do(t, "GET", "/v1/session", "", withCookie(other)); w.Code != http.StatusOK {
		t.Errorf("the other session ended too: %d", w.Code)
	}
}

func TestSessionLoginFromAnotherSiteIsRefused(t *testing.T) {
	a := sessionAPI(t, "")
	w := a.do(t, "POST", "/v1/session", `{"username": "alice", "password": "s3cret"}`,
		func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") })
	if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Fatalf("cross-site session login: %d %v", w.Code, w.Result().Cookies())
	}
	w = a.do(t, "POST", "/v1/session", `{"username": "alice", "password": "s3cret"}`,
		func(r *http.Request) { r.Host = "127.0.0.1:8700"; r.Header.Set("Origin", "http://127.0.0.1:8700") })
	if w.Code != http.StatusOK {
		t.Fatalf("same-origin session login: %d %s", w.Code, w.Body)
	}
}

func TestSessionEndsWithItsUser(t *testing.T) {
	a := sessionAPI(t, "")
	cookie, _ := sessionLogin(t, a)
	if _, err := a.store.SetPassword(context.Background(), "alice", "other"); err != nil {
		t.Fatal(err)
	}
	if w := a.do(t, "GET", "/v1/session", "", withCookie(cookie)); w.Code != http.StatusUnauthorized {
		t.Errorf("a session outlived a password change: %d", w.Code)
	}
}

func TestForwardAuth(t *testing.T) {
	a := sessionAPI(t, "https://auth.example/login")
	login := a.do(t, "POST", "/v1/login", `{"username": "alice", "password": "s3cret"}`)
	access := jsonBody(t, login)["access_token"].(string)
	refresh := jsonBody(t, login)["refresh_token"].(string)
	cookie, _ := sessionLogin(t, a)

	for name, edit := range map[string]func(*http.Request){
		"bearer":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) },
		"session": withCookie(cookie),
	} {
		t.Run(name, func(t *testing.T) {
			w := a.do(t, "GET", "/v1/forward-auth", "", edit)
			if w.Code != http.StatusOK || w.Header().Get("X-Portcullis-User") != "alice" || w.Header().Get("X-Portcullis-User-Id") == "" {
				t.Fatalf("forward-auth: %d %v", w.Code, w.Header())
			}
		})
	}
	for name, auth := range map[string]string{
		"refresh token": "Bearer " + refresh, "garbage": "Bearer garbage", "tampered": "Bearer " + otherLast(access[:len(access)-10]) + access[len(access)-10:],
		"basic": "Basic YWxpY2U6czNjcmV0", "empty bearer": "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			w := a.do(t, "GET", "/v1/forward-auth", "", func(r *http.Request) { r.Header.Set("Authorization", auth) })
			if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") || w.Header().Get("X-Portcullis-User") != "" {
				t.Fatalf("forward-auth: %d %v", w.Code, w.Header())
			}
		})
	}

	// A browser without a session goes to the login page, with the
	// original URL only when a trusted proxy gives it.
	browser := func(r *http.Request) {
		r.Header.Set("Accept", "text/html,application/xhtml+xml")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.example")
		r.Header.Set("X-Forwarded-Uri", "/reports?q=1")
	}
	w := a.do(t, "GET", "/v1/forward-auth", "", browser, fromPeer("127.0.0.1:5555"))
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || loc == nil || loc.Host != "auth.example" || loc.Query().Get("rd") != "https://app.example/reports?q=1" {
		t.Fatalf("browser via a trusted proxy: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	w = a.do(t, "GET", "/v1/forward-auth", "", browser)
	if loc, _ := url.Parse(w.Header().Get("Location")); w.Code != http.StatusFound || loc.Query().Has("rd") {
		t.Fatalf("browser from an untrusted peer: %d Location %q; want no rd", w.Code, w.Header().Get("Location"))
	}
}

func TestForwardAuthWithoutLoginURL(t *testing.T) {
	a := sessionAPI(t, "")
	w := a.do(t, "GET", "/v1/forward-auth", "", func(r *http.Request) { r.Header.Set("Accept", "text/html") })
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusUnauthorized || body["error"] != "invalid_token" {
		t.Fatalf("forward-auth: %d %s", w.Code, w.Body)
	}
}

// TestForwardAuthOriginalURL: the login redirect carries the URL the proxy
// was asked for from a trusted proxy's X-Original-URL (nginx), which wins
// over X-Forwarded-Proto, -Host and -Uri; only an absolute http(s) URL,
// and nothing an untrusted peer says.
func TestForwardAuthOriginalURL(t *testing.T) {
	a := sessionAPI(t, "https://auth.example/login")
	const trusted, untrusted = "127.0.0.1:5555", "192.0.2.1:5555"
	for _, tt := range []struct {
		name, peer, original string
		forwarded            bool
		want                 string // the rd parameter; "" for none
	}{
		{"trusted proxy", trusted, "https://app.example/reports?q=1&x=%2F", false, "https://app.example/reports?q=1&x=%2F"},
		{"trusted proxy, plain http", trusted, "http://app.example/", false, "http://app.example/"},
		{"trusted proxy, over X-Forwarded-*", trusted, "https://nginx.example/a", true, "https://nginx.example/a"},
		{"trusted proxy, a relative URL", trusted, "/reports", false, ""},
		{"trusted proxy, a javascript: URL", trusted, "javascript:alert(1)", false, ""},
		{"trusted proxy, no host", trusted, "https:///reports", false, ""},
		{"trusted proxy, not a URL", trusted, "https://app.example/%zz", false, ""},
		{"untrusted peer", untrusted, "https://app.example/reports", false, ""},
		{"untrusted peer, with X-Forwarded-*", untrusted, "https://app.example/reports", true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := a.do(t, "GET", "/v1/forward-auth", "", fromPeer(tt.peer), func(r *http.Request) {
				r.Header.Set("Accept", "text/html")
				r.Header.Set("X-Original-URL", tt.original)
				if tt.forwarded {
					r.Header.Set("X-Forwarded-Proto", "https")
					r.Header.Set("X-Forwarded-Host", "traefik.example")
					r.Header.Set("X-Forwarded-Uri", "/b")
				}
			})
			loc, err := url.Parse(w.Header().Get("Location"))
			if w.Code != http.StatusFound || err != nil || loc.Host != "auth.example" || loc.Path != "/login" {
				t.Fatalf("forward-auth: %d Location %q; want 302 to the login URL", w.Code, w.Header().Get("Location"))
			}
			if got := loc.Query().Get("rd"); got != tt.want || loc.Query().Has("rd") != (tt.want != "") {
				t.Errorf("rd = %q (present: %v), want %q", got, loc.Query().Has("rd"), tt.want)
			}
		})
	}
}

// TestSessionCookieAttributes: the cookie a session login sets, and the
// one a logout clears it with, carry the configured Domain, SameSite and
// Secure (a clearing cookie without the Domain would not clear a domain
// cookie), and always Path=/ and HttpOnly.
func TestSessionCookieAttributes(t *testing.T) {
	for _, tt := range []struct {
		cookie httpapi.Cookie
		want   []string // attributes of both Set-Cookie headers
		not    []string
	}{
		{httpapi.Cookie{Name: "pc_session", SameSite: http.SameSiteLaxMode}, []string{"SameSite=Lax"}, []string{"Domain=", "Secure"}},
		{httpapi.Cookie{Name: "pc_session", SameSite: http.SameSiteStrictMode}, []string{"SameSite=Strict"}, []string{"Domain=", "Secure"}},
		{httpapi.Cookie{Name: "pc_session", SameSite: http.SameSiteNoneMode, Secure: true}, []string{"SameSite=None", "Secure"}, []string{"Domain="}},
		{httpapi.Cookie{Name: "pc_session", Domain: "example.com", SameSite: http.SameSiteLaxMode, Secure: true},
			[]string{"Domain=example.com", "SameSite=Lax", "Secure"}, nil},
		{httpapi.Cookie{Name: "__Host-pc", SameSite: http.SameSiteStrictMode, Secure: true}, []string{"SameSite=Strict", "Secure"}, []string{"Domain="}},
	} {
		name := fmt.Sprintf("%s domain %q samesite %d secure %v", tt.cookie.Name, tt.cookie.Domain, tt.cookie.SameSite, tt.cookie.Secure)
		t.Run(name, func(t *testing.T) {
			a := sessionAPIWith(t, "", tt.cookie)
			w := a.do(t, "POST", "/v1/session", `{"username": "alice", "password": "s3cret"}`)
			if w.Code != http.StatusOK {
				t.Fatalf("session login: %d %s", w.Code, w.Body)
			}
			set := w.Header().Values("Set-Cookie")
			if len(set) != 1 || !strings.HasPrefix(set[0], tt.cookie.Name+"=pcs_") {
				t.Fatalf("Set-Cookie %q; want one %s cookie", set, tt.cookie.Name)
			}
			value := strings.TrimPrefix(strings.SplitN(set[0], ";", 2)[0], tt.cookie.Name+"=")
			csrf := jsonBody(t, w)["csrf_token"].(string)
			w = a.do(t, "DELETE", "/v1/session", "", withCookie(&http.Cookie{Name: tt.cookie.Name, Value: value}),
				func(r *http.Request) { r.Header.Set("X-CSRF-Token", csrf) })
			if w.Code != http.StatusOK {
				t.Fatalf("logout: %d %s", w.Code, w.Body)
			}
			cleared := w.Header().Values("Set-Cookie")
			if len(cleared) != 1 || !strings.HasPrefix(cleared[0], tt.cookie.Name+"=;") || !strings.Contains(cleared[0], "Max-Age=0") {
				t.Fatalf("logout Set-Cookie %q; want %s cleared", cleared, tt.cookie.Name)
			}
			for what, header := range map[string]string{"login": set[0], "logout": cleared[0]} {
				setcookie.CheckAttrs(t, what, header, append([]string{"Path=/", "HttpOnly"}, tt.want...), tt.not)
			}
		})
	}
}
