package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
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
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// permissionsAPI is the API over a backend that grants every user of the
// store by name, with an app key and recorded signals. alice holds the
// roles billing (orders.read, invoices.write) and support (tickets.read);
// bob none; root is a superuser; carol holds a role with more
// permissions than a token carries.
type permissionsAPI struct {
	*api
	appKey  string
	signals *recordedSignals
}

func newPermissionsAPI(t testing.TB) *permissionsAPI {
	t.Helper()
	ctx := context.Background()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	ids := map[string]string{}
	for _, name := range []string{"alice", "bob", "root", "carol"} {
		u, err := store.CreateUser(ctx, name, "hash")
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = u.ID
	}
	big := make([]string, accesstoken.MaxTokenPermissions+1)
	for i := range big {
		big[i] = fmt.Sprintf("p%04d", i)
	}
	for role, perms := range map[string][]string{"billing": {"orders.read", "invoices.write"}, "support": {"tickets.read"}, "big": big} {
		if _, err := store.CreateRole(ctx, role); err != nil {
			t.Fatal(err)
		}
		if _, err := store.GrantPermissions(ctx, role, perms...); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][2]string{{"alice", "billing"}, {"alice", "support"}, {"carol", "big"}} {
		if _, err := store.AddUserRole(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetSuperuser(ctx, "root", true); err != nil {
		t.Fatal(err)
	}
	issuer := newIssuerWith(t, store, tokens.Options{AccessTTL: accessTTL, RefreshTTL: time.Hour, MaxLifetime: time.Hour})
	key, hash := appkeys.New()
	if _, err := store.CreateAppKey(ctx, "shop", hash); err != nil {
		t.Fatal(err)
	}
	auth := &fakeAuth{authenticate: func(_ context.Context, req *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		if id, ok := ids[req.Username]; ok {
			r.Grant(sdk.Identity{Subject: id, Username: req.Username})
		} else {
			r.Abstain("unknown")
		}
		return nil
	}}
	a := &permissionsAPI{api: &api{store: store, issuer: issuer, ready: func(context.Context) (bool, any) { return true, nil }},
		appKey: key, signals: &recordedSignals{}}
	a.handler = httpapi.New(httpapi.Options{
		Chain:  chain.New(slog.New(slog.DiscardHandler), chain.Link{Name: "b0", Authenticator: auth, Timeout: 5 * time.Second}),
		Tokens: issuer, Issuer: "http://127.0.0.1:8700", Algorithm: accesstoken.EdDSA,
		Apps:  appkeys.NewChecker(store, appkeys.Options{CacheTTL: -1}),
		Ready: a.ready, Logger: slog.New(slog.DiscardHandler), Signals: a.signals,
	})
	return a
}

// login returns the tokens of username.
func (a *permissionsAPI) login(t testing.TB, username string) (access, refresh string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/login", strings.NewReader(fmt.Sprintf(`{"username": %q, "password": "s3cret"}`, username)))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	var body struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); w.Code != http.StatusOK || err != nil || body.Access == "" {
		t.Fatalf("login of %s: %d %s", username, w.Code, w.Body)
	}
	return body.Access, body.Refresh
}

// check posts body to POST /v1/permissions/check with the app key.
func (a *permissionsAPI) check(t *testing.T, body string) *httptest.ResponseRecorder {
	t.Helper()
	return a.do(t, "POST", "/v1/permissions/check", body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.appKey) })
}

// checkBody is a check's body for token.
func checkBody(token, mode string, perms ...string) string {
	m := map[string]any{"token": token, "permissions": perms}
	if mode != "" {
		m["mode"] = mode
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestPermissionCheck(t *testing.T) {
	a := newPermissionsAPI(t)
	alice, _ := a.login(t, "alice")
	bob, _ := a.login(t, "bob")
	root, _ := a.login(t, "root")
	carol, _ := a.login(t, "carol")
	revoked, _ := a.login(t, "alice")
	if w := a.do(t, "POST", "/v1/token/revoke", `{"token": "`+revoked+`"}`); w.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	tests := []struct {
		name    string
		token   string
		mode    string
		perms   []string
		allowed bool
		missing []string
		reason  string
	}{
		{"all held", alice, "", []string{"orders.read", "tickets.read"}, true, []string{}, ""},
		{"mode all", alice, "all", []string{"orders.read", "invoices.write"}, true, []string{}, ""},
		{"missing", alice, "", []string{"orders.read", "refunds.issue", "reports.read"}, false, []string{"refunds.issue", "reports.read"}, "missing_permissions"},
		{"mode any, one held", alice, "any", []string{"refunds.issue", "tickets.read"}, true, []string{}, ""},
		{"mode any, none held", alice, "any", []string{"refunds.issue", "reports.read"}, false, []string{"refunds.issue", "reports.read"}, "missing_permissions"},
		{"no roles", bob, "any", []string{"orders.read"}, false, []string{"orders.read"}, "missing_permissions"},
		{"superuser", root, "all", []string{"orders.read", "anything.at.all"}, true, []string{}, ""},
		{"overflow", carol, "any", []string{"p0001"}, false, []string{"p0001"}, "permissions_overflow"},
		{"garbage token", "garbage", "", []string{"orders.read"}, false, []string{"orders.read"}, "user_not_authenticated"},
		{"refresh token", "pcr_" + strings.Repeat("A", 43), "", []string{"orders.read"}, false, []string{"orders.read"}, "user_not_authenticated"},
		{"revoked session", revoked, "", []string{"orders.read"}, false, []string{"orders.read"}, "user_not_authenticated"},
		{"tampered", alice[:len(alice)-4] + "AAAA", "", []string{"orders.read"}, false, []string{"orders.read"}, "user_not_authenticated"},
		{"too long", strings.Repeat("a", accesstoken.MaxLength+1), "", []string{"orders.read"}, false, []string{"orders.read"}, "user_not_authenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.signals.count()
			w := a.check(t, checkBody(tt.token, tt.mode, tt.perms...))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d %s", w.Code, w.Body)
			}
			body := jsonBody(t, w)
			var got struct {
				Allowed bool     `json:"allowed"`
				Missing []string `json:"missing"`
				Reason  *string  `json:"reason"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Allowed != tt.allowed || !reflect.DeepEqual(got.Missing, tt.missing) {
				t.Errorf("answer %s; want allowed %v, missing %q", w.Body, tt.allowed, tt.missing)
			}
			wantFields := 2
			if tt.reason != "" {
				wantFields = 3
			}
			if (tt.reason == "") != (got.Reason == nil) || (got.Reason != nil && *got.Reason != tt.reason) || len(body) != wantFields {
				t.Errorf("answer %s; want reason %q only when refused", w.Body, tt.reason)
			}
			// The decision is the one rule's, on the token's claims.
			claims, _ := a.issuer.Verify(context.Background(), tt.token)
			if tt.reason == "user_not_authenticated" {
				claims = nil
			}
			if allowed, missing, reason := accesstoken.CheckPermissions(claims, tt.mode, tt.perms); allowed != got.Allowed ||
				!reflect.DeepEqual(missing, got.Missing) || reason != tt.reason {
				t.Errorf("accesstoken.CheckPermissions disagrees: %v %q %q", allowed, missing, reason)
			}
			checkPermissionSignals(t, a.signals, before, tt.token, tt.allowed, tt.reason, tt.missing)
		})
	}
}

// checkPermissionSignals checks the permission_check_* signals sent since
// the before'th: started, then succeeded or failed with the reason and
// what is missing; the app's name; never the token.
func checkPermissionSignals(t *testing.T, rec *recordedSignals, before int, token string, allowed bool, reason string, missing []string) {
	t.Helper()
	rec.mu.Lock()
	sent := append([]any(nil), rec.args[before:]...)
	rec.mu.Unlock()
	var perm []any
	for _, s := range sent {
		raw, _ := json.Marshal(s)
		if len(token) > 20 && strings.Contains(string(raw), token) {
			t.Errorf("a signal holds the token: %s", raw)
		}
		switch s.(type) {
		case *signals.PermissionCheckStarted, *signals.PermissionCheckSucceeded, *signals.PermissionCheckFailed:
			perm = append(perm, s)
		}
	}
	if len(perm) != 2 {
		t.Fatalf("permission signals %+v; want started and one outcome", perm)
	}
	started, ok := perm[0].(*signals.PermissionCheckStarted)
	if !ok || started.App != "shop" || len(started.RequiredPermissions) == 0 {
		t.Errorf("first signal %+v; want permission_check_started from the app shop", perm[0])
	}
	if allowed {
		if _, ok := perm[1].(*signals.PermissionCheckSucceeded); !ok {
			t.Errorf("outcome %+v; want permission_check_succeeded", perm[1])
		}
		return
	}
	failed, ok := perm[1].(*signals.PermissionCheckFailed)
	if !ok || failed.Reason != reason || !reflect.DeepEqual(failed.Missing, missing) {
		t.Errorf("outcome %+v; want permission_check_failed, reason %s, missing %q", perm[1], reason, missing)
	}
	if (reason == "user_not_authenticated") != (failed.UserID == "") {
		t.Errorf("user_id %q with reason %s", failed.UserID, reason)
	}
}

// TestPermissionCheckRefusesBadRequests: a check that asks for nothing, or
// is malformed, is a 400 and sends no permission signal; without an app
// key it is a 401.
func TestPermissionCheckRefusesBadRequests(t *testing.T) {
	a := newPermissionsAPI(t)
	root, _ := a.login(t, "root")
	tooMany := make([]string, accesstoken.MaxCheckPermissions+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("p%d", i)
	}
	many, _ := json.Marshal(tooMany)
	for name, body := range map[string]string{
		"empty list":          `{"token": "` + root + `", "permissions": []}`,
		"missing list":        `{"token": "` + root + `"}`,
		"null list":           `{"token": "` + root + `", "permissions": null}`,
		"list of an empty":    `{"token": "` + root + `", "permissions": [""]}`,
		"not a list":          `{"token": "` + root + `", "permissions": "orders.read"}`,
		"list of numbers":     `{"token": "` + root + `", "permissions": [1, 2]}`,
		"invalid permission":  `{"token": "` + root + `", "permissions": ["orders read"]}`,
		"non-ASCII":           `{"token": "` + root + `", "permissions": ["caf\u00e9"]}`,
		"unknown mode":        `{"token": "` + root + `", "permissions": ["a"], "mode": "most"}`,
		"empty mode":          `{"token": "` + root + `", "permissions": ["a"], "mode": ""}`,
		"mode in upper case":  `{"token": "` + root + `", "permissions": ["a"], "mode": "ALL"}`,
		"missing token":       `{"permissions": ["a"]}`,
		"empty token":         `{"token": "", "permissions": ["a"]}`,
		"unknown field":       `{"token": "` + root + `", "permissions": ["a"], "resource": "x"}`,
		"field given twice":   `{"token": "` + root + `", "permissions": ["a"], "permissions": []}`,
		"too many":            `{"token": "` + root + `", "permissions": ` + string(many) + `}`,
		"not JSON":            `{"token": `,
		"not an object":       `["a"]`,
		"permissions in case": `{"token": "` + root + `", "Permissions": ["a"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			before := a.signals.count()
			w := a.check(t, body)
			checkError(t, w, http.StatusBadRequest, "invalid_request")
			if a.signals.count() != before {
				t.Errorf("a refused check sent signals")
			}
		})
	}
	t.Run("no app key", func(t *testing.T) {
		w := a.do(t, "POST", "/v1/permissions/check", checkBody(root, "", "a"))
		checkError(t, w, http.StatusUnauthorized, "invalid_client")
		w = a.do(t, "POST", "/v1/permissions/check", checkBody(root, "", "a"), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+root) })
		checkError(t, w, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("not JSON", func(t *testing.T) {
		w := a.do(t, "POST", "/v1/permissions/check", checkBody(root, "", "a"), func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+a.appKey)
			r.Header.Set("Content-Type", "text/plain")
		})
		checkError(t, w, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("GET", func(t *testing.T) {
		w := a.do(t, "GET", "/v1/permissions/check", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.appKey) })
		checkError(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
	})
}

// TestPermissionChangesReachTheNextToken: a token keeps the permissions
// it was issued with; the next one, from a refresh, has the new ones.
func TestPermissionChangesReachTheNextToken(t *testing.T) {
	a := newPermissionsAPI(t)
	access, refresh := a.login(t, "alice")
	allowed := func(token string) bool {
		t.Helper()
		w := a.check(t, checkBody(token, "", "orders.read"))
		if w.Code != http.StatusOK {
			t.Fatalf("check: %d %s", w.Code, w.Body)
		}
		return jsonBody(t, w)["allowed"] == true
	}
	if !allowed(access) {
		t.Fatal("alice's token lacks orders.read")
	}
	if _, err := a.store.RemoveUserRole(context.Background(), "alice", "billing"); err != nil {
		t.Fatal(err)
	}
	if !allowed(access) {
		t.Error("the token issued before the change lost its permission: a token is self-contained")
	}
	w := a.do(t, "POST", "/v1/token/refresh", `{"refresh_token": "`+refresh+`"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	if allowed(jsonBody(t, w)["access_token"].(string)) {
		t.Error("the refreshed token still holds the permission of a role taken away")
	}
}

// TestForwardAuthRoles: forward-auth names the token's roles, or for a
// cookie the user's roles as they are now.
func TestForwardAuthRoles(t *testing.T) {
	a := newPermissionsAPI(t)
	forward := func(edit func(*http.Request)) *httptest.ResponseRecorder {
		t.Helper()
		w := a.do(t, "GET", "/v1/forward-auth", "", edit)
		if w.Code != http.StatusOK {
			t.Fatalf("forward-auth: %d %s", w.Code, w.Body)
		}
		return w
	}
	for user, want := range map[string]string{"alice": "billing,support", "bob": "", "carol": ""} {
		access, _ := a.login(t, user)
		w := forward(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) })
		if got, ok := w.Header()["X-Portcullis-Roles"]; !ok || len(got) != 1 || got[0] != want {
			t.Errorf("%s's token: X-Portcullis-Roles %q, want %q", user, got, want)
		}
	}
	w := a.do(t, "POST", "/v1/session", `{"username": "alice", "password": "s3cret"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("session login: %d %s", w.Code, w.Body)
	}
	cookie := w.Result().Cookies()[0]
	withCookie := func(r *http.Request) { r.AddCookie(cookie) }
	if got := forward(withCookie).Header().Get("X-Portcullis-Roles"); got != "billing,support" {
		t.Errorf("alice's session: X-Portcullis-Roles %q", got)
	}
	if _, err := a.store.RemoveUserRole(context.Background(), "alice", "support"); err != nil {
		t.Fatal(err)
	}
	if got := forward(withCookie).Header().Get("X-Portcullis-Roles"); got != "billing" {
		t.Errorf("alice's session after support was taken away: X-Portcullis-Roles %q, want billing (read at each request)", got)
	}
}

// FuzzPermissionCheck: whatever a check's body holds, the answer is a JSON
// object and no 5xx; a 200 says allowed and missing, and allows only a
// body that names a real token and at least one permission. $ALICE and
// $ROOT in a seed stand for alice's and the superuser's tokens.
func FuzzPermissionCheck(f *testing.F) {
	for _, s := range []string{
		`{"token":"$ALICE","permissions":["orders.read"]}`,
		`{"token":"$ALICE","permissions":["orders.read","x"],"mode":"any"}`,
		`{"token":"$ROOT","permissions":["anything"]}`,
		`{"token":"$ROOT","permissions":[]}`,
		`{"token":"$ROOT","permissions":null}`,
		`{"token":"$ROOT"}`,
		`{"token":"$ROOT","permissions":[""]}`,
		`{"token":"$ROOT","permissions":["a b"]}`,
		`{"token":"$ROOT","permissions":["a"],"mode":""}`,
		`{"token":"$ROOT","permissions":["a"],"mode":"ANY"}`,
		`{"token":"$ROOT","permissions":["a"],"permissions":[]}`,
		`{"token":"$ROOT","permissions":[1]}`,
		`{"token":"$ROOT","permissions":"a"}`,
		`{"token":"x","permissions":["a"]}`,
		`{"token":null,"permissions":["a"]}`,
		`{"permissions":["\u00e9"]}`,
		`[]`, ``, `{`, `null`,
	} {
		f.Add(s)
	}
	a := newPermissionsAPI(f)
	alice, _ := a.login(f, "alice")
	root, _ := a.login(f, "root")
	f.Fuzz(func(t *testing.T, body string) {
		body = strings.ReplaceAll(strings.ReplaceAll(body, "$ALICE", alice), "$ROOT", root)
		r := httptest.NewRequest(http.MethodPost, "/v1/permissions/check", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+a.appKey)
		w := httptest.NewRecorder()
		a.handler.ServeHTTP(w, r)
		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || w.Code >= 500 {
			t.Fatalf("%q = %d %q", body, w.Code, w.Body)
		}
		if w.Code != http.StatusOK {
			if _, ok := answer["error"].(string); !ok {
				t.Fatalf("%d without an error code: %v", w.Code, answer)
			}
			return
		}
		allowed, ok := answer["allowed"].(bool)
		if _, isList := answer["missing"].([]any); !ok || !isList {
			t.Fatalf("200 without allowed and missing: %v", answer)
		}
		if allowed && !strings.Contains(body, alice) && !strings.Contains(body, root) {
			t.Fatalf("allowed %q, which names no token the host issued", body)
		}
		var parsed struct {
			Permissions []string `json:"permissions"`
		}
		if allowed && (json.Unmarshal([]byte(body), &parsed) != nil || len(parsed.Permissions) == 0) {
			t.Fatalf("allowed %q, which asks for nothing", body)
		}
	})
}
