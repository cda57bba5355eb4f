package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
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
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// sent is one signal as a receiver gets it: its catalogue name, its
// sender, and its arguments as JSON.
type sent struct {
	name, sender string
	args         map[string]any
	raw          string
}

// signalLog records every signal the API and its issuer send.
type signalLog struct {
	mu   sync.Mutex
	new  []sent
	ever []sent
}

func (l *signalLog) Emit(_ context.Context, sender string, args any) string {
	name, _ := signals.NameOf(args)
	raw, _ := json.Marshal(args)
	s := sent{name: name, sender: sender, raw: string(raw)}
	_ = json.Unmarshal(raw, &s.args)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.new = append(l.new, s)
	l.ever = append(l.ever, s)
	return ""
}

// take returns the signals sent since the last take.
func (l *signalLog) take() []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.new
	l.new = nil
	return out
}

// signalAPI is the API with a granting backend b0 for alice, an app key,
// a session cookie named pc_session, and one signalLog for the API's and
// the issuer's signals. Requests come from 192.0.2.1, an untrusted peer.
type signalAPI struct {
	*api
	log    *signalLog
	appKey string
	userID string
}

func newSignalAPI(t *testing.T) *signalAPI {
	t.Helper()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	user, err := store.CreateUser(context.Background(), "alice", "hash")
	if err != nil {
		t.Fatal(err)
	}
	log := &signalLog{}
	issuer := newIssuerWith(t, store, tokens.Options{AccessTTL: accessTTL, RefreshTTL: time.Hour, MaxLifetime: time.Hour, Signals: log,
		Cookies: tokens.CookieOptions{IdleTimeout: time.Hour, MaxLifetime: 2 * time.Hour}})
	key, hash := appkeys.New()
	if _, err := store.CreateAppKey(context.Background(), "app", hash); err != nil {
		t.Fatal(err)
	}
	a := &api{store: store, issuer: issuer, ready: func(context.Context) (bool, any) { return true, nil }}
	a.handler = httpapi.New(httpapi.Options{
		Chain:  chain.New(slog.New(slog.DiscardHandler), chain.Link{Name: "b0", Authenticator: granting(sdk.Identity{Subject: user.ID, Username: "alice"}), Timeout: 5 * time.Second}),
		Tokens: issuer, Issuer: "http://127.0.0.1:8700", Algorithm: accesstoken.EdDSA,
		Apps:           appkeys.NewChecker(store, appkeys.Options{CacheTTL: -1}),
		Cookie:         httpapi.Cookie{Name: "pc_session", SameSite: http.SameSiteLaxMode},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Signals:        log, Ready: a.ready, Logger: slog.New(slog.DiscardHandler),
	})
	return &signalAPI{api: a, log: log, appKey: key, userID: user.ID}
}

const signalsUA = "signals-test/1"

func withUA(r *http.Request) { r.Header.Set("User-Agent", signalsUA) }

// claims reads an access token's claims without sending a signal.
func (a *signalAPI) claims(t *testing.T, access string) *accesstoken.Claims {
	t.Helper()
	c, err := (&accesstoken.Verifier{Issuer: "http://127.0.0.1:8700", Audience: "portcullis", Keys: a.issuer.Keys()}).Verify(context.Background(), access)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expect requires exactly the signals named, in order, and returns them.
func expect(t *testing.T, step string, got []sent, names ...string) []sent {
	t.Helper()
	var gotNames []string
	for _, s := range got {
		gotNames = append(gotNames, s.name)
	}
	if !slices.Equal(gotNames, names) {
		t.Fatalf("%s sent %v; want %v", step, gotNames, names)
	}
	return got
}

// checkArgs requires s to come from sender with exactly the arguments
// want; a want of a func checks the value with it.
func checkArgs(t *testing.T, s sent, sender string, want map[string]any) {
	t.Helper()
	if s.sender != sender {
		t.Errorf("%s sent by %q, want %q", s.name, s.sender, sender)
	}
	for k, v := range want {
		got, ok := s.args[k]
		if check, isFunc := v.(func(any) bool); isFunc {
			if !ok || !check(got) {
				t.Errorf("%s: %s = %v (%s)", s.name, k, got, s.raw)
			}
		} else if !ok || got != v {
			t.Errorf("%s: %s = %v, want %v (%s)", s.name, k, got, v, s.raw)
		}
	}
	for k := range s.args {
		if _, ok := want[k]; !ok {
			t.Errorf("%s has an argument %s the catalogue does not list (%s)", s.name, k, s.raw)
		}
	}
}

// at is a check of a time argument: t to the second.
func at(want time.Time) func(any) bool {
	return func(v any) bool {
		s, _ := v.(string)
		got, err := time.Parse(time.RFC3339Nano, s)
		return err == nil && got.Unix() == want.Unix() && strings.HasSuffix(s, "Z")
	}
}

// nonEmpty checks a string argument is set, and is none of not.
func nonEmpty(not ...string) func(any) bool {
	return func(v any) bool {
		s, _ := v.(string)
		return s != "" && !slices.Contains(not, s)
	}
}

// TestTokenSignals: a login sends jwt_access_token_created and
// jwt_refresh_token_created naming the tokens by id, then user_logged_in;
// a refresh sends the two created signals in the same family; each
// verification (introspection, forward-auth) sends jwt_token_decoded; a
// revoke sends user_logged_out. All with the arguments docs/signals.md
// lists, and no token in any of them.
func TestTokenSignals(t *testing.T) {
	a := newSignalAPI(t)
	w := a.do(t, "POST", "/v1/login", `{"username": "alice", "password": "s3cret"}`, withUA)
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	body := jsonBody(t, w)
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	c := a.claims(t, access)
	got := expect(t, "POST /v1/login", a.log.take(), "jwt_access_token_created", "jwt_refresh_token_created", "user_logged_in")
	checkArgs(t, got[0], tokens.Sender, map[string]any{"subject": a.userID, "token_id": c.ID, "expires_at": at(c.ExpiresAt.Time)})
	refreshID := got[1].args["token_id"]
	checkArgs(t, got[1], tokens.Sender, map[string]any{"subject": a.userID, "token_id": nonEmpty(c.ID, refresh, tokens.Hash(refresh)),
		"family_id": c.SessionID, "expires_at": at(time.Now().Add(time.Hour))})
	checkArgs(t, got[2], "b0", map[string]any{"user_id": a.userID, "username": "alice", "user_type": "user", "client_ip": "192.0.2.1",
		"user_agent": signalsUA, "backend": "b0", "session_id": c.SessionID, "request_id": w.Header().Get("X-Request-Id"), "path": "/v1/login"})

	w = a.do(t, "POST", "/v1/token/refresh", `{"refresh_token": "`+refresh+`"}`, withUA)
	if w.Code != http.StatusOK {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	body = jsonBody(t, w)
	access2, refresh2 := body["access_token"].(string), body["refresh_token"].(string)
	c2 := a.claims(t, access2)
	got = expect(t, "POST /v1/token/refresh", a.log.take(), "jwt_access_token_created", "jwt_refresh_token_created")
	checkArgs(t, got[0], tokens.Sender, map[string]any{"subject": a.userID, "token_id": nonEmpty(c.ID), "expires_at": at(c2.ExpiresAt.Time)})
	if got[0].args["token_id"] != c2.ID {
		t.Errorf("jwt_access_token_created of the refresh names %v, want the new token's jti %s", got[0].args["token_id"], c2.ID)
	}
	checkArgs(t, got[1], tokens.Sender, map[string]any{"subject": a.userID, "token_id": nonEmpty(refreshID.(string), refresh2, tokens.Hash(refresh2)),
		"family_id": c.SessionID, "expires_at": at(time.Now().Add(time.Hour))})

	w = a.do(t, "POST", "/v1/token/introspect", `{"token": "`+access2+`"}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+a.appKey) })
	if w.Code != http.StatusOK || jsonBody(t, w)["active"] != true {
		t.Fatalf("introspect: %d %s", w.Code, w.Body)
	}
	got = expect(t, "POST /v1/token/introspect", a.log.take(), "jwt_token_decoded")
	checkArgs(t, got[0], tokens.Sender, map[string]any{"subject": a.userID, "token_id": c2.ID, "token_type": "access"})

	if w := a.do(t, "GET", "/v1/forward-auth", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) }); w.Code != http.StatusOK {
		t.Fatalf("forward-auth: %d %s", w.Code, w.Body)
	}
	got = expect(t, "GET /v1/forward-auth", a.log.take(), "jwt_token_decoded")
	checkArgs(t, got[0], tokens.Sender, map[string]any{"subject": a.userID, "token_id": c.ID, "token_type": "access"})

	if w := a.do(t, "POST", "/v1/token/revoke", `{"token": "`+refresh2+`"}`, withUA); w.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	got = expect(t, "POST /v1/token/revoke", a.log.take(), "user_logged_out")
	checkArgs(t, got[0], tokens.Sender, map[string]any{"user_id": a.userID, "session_id": c.SessionID, "client_ip": "192.0.2.1", "user_agent": signalsUA})
	if w := a.do(t, "POST", "/v1/token/revoke", `{"token": "`+refresh2+`"}`); w.Code != http.StatusOK {
		t.Fatalf("second revoke: %d %s", w.Code, w.Body)
	}
	expect(t, "a revoke of a revoked session", a.log.take())

	noSecretIn(t, a.log, access, refresh, access2, refresh2, tokens.Hash(refresh), tokens.Hash(refresh2), a.appKey)
}

// TestSessionSignals: POST /v1/session sends user_logged_in for the new
// session; each cookie check sends session_authentication_check with its
// reason (authenticated_and_active, session_unavailable for no cookie or
// an unknown one, session_inactive for an ended session); DELETE
// /v1/session sends user_logged_out; a session that cannot be stored
// sends session_login_failed (session_unavailable) and no
// user_logged_in. No signal holds the cookie or the CSRF token.
func TestSessionSignals(t *testing.T) {
	a := newSignalAPI(t)
	w := a.do(t, "POST", "/v1/session", `{"username": "alice", "password": "s3cret"}`, withUA)
	if w.Code != http.StatusOK || len(w.Result().Cookies()) != 1 {
		t.Fatalf("session login: %d %s", w.Code, w.Body)
	}
	cookie := w.Result().Cookies()[0]
	body := jsonBody(t, w)
	sessionID, csrf := body["session_id"].(string), body["csrf_token"].(string)
	got := expect(t, "POST /v1/session", a.log.take(), "user_logged_in")
	checkArgs(t, got[0], "b0", map[string]any{"user_id": a.userID, "username": "alice", "user_type": "user", "client_ip": "192.0.2.1",
		"user_agent": signalsUA, "backend": "b0", "session_id": nonEmpty(), "request_id": w.Header().Get("X-Request-Id"), "path": "/v1/session"})
	if got[0].args["session_id"] != sessionID {
		t.Errorf("user_logged_in names session %v, the answer %s", got[0].args["session_id"], sessionID)
	}

	check := func(step string, edit func(*http.Request), status int, userID string, authenticated bool, reason string) {
		t.Helper()
		path := strings.Fields(step)[1]
		if w := a.do(t, strings.Fields(step)[0], path, "", edit); w.Code != status {
			t.Fatalf("%s: %d %s, want %d", step, w.Code, w.Body, status)
		}
		got := expect(t, step, a.log.take(), "session_authentication_check")
		checkArgs(t, got[0], tokens.Sender, map[string]any{"user_id": userID, "is_authenticated": authenticated, "reason": reason})
	}
	check("GET /v1/session with the cookie", withCookie(cookie), http.StatusOK, a.userID, true, "authenticated_and_active")
	check("GET /v1/forward-auth with the cookie", withCookie(cookie), http.StatusOK, a.userID, true, "authenticated_and_active")
	check("GET /v1/session without a cookie", func(*http.Request) {}, http.StatusUnauthorized, "", false, "session_unavailable")
	check("GET /v1/forward-auth without a cookie", func(*http.Request) {}, http.StatusUnauthorized, "", false, "session_unavailable")
	check("GET /v1/session with a made-up cookie", withCookie(&http.Cookie{Name: "pc_session", Value: "pcs_" + strings.Repeat("A", 43)}),
		http.StatusUnauthorized, "", false, "session_unavailable")

	w = a.do(t, "DELETE", "/v1/session", "", withCookie(cookie), withUA, func(r *http.Request) { r.Header.Set("X-CSRF-Token", csrf) })
	if w.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	got = expect(t, "DELETE /v1/session", a.log.take(), "session_authentication_check", "user_logged_out")
	checkArgs(t, got[0], tokens.Sender, map[string]any{"user_id": a.userID, "is_authenticated": true, "reason": "authenticated_and_active"})
	checkArgs(t, got[1], tokens.Sender, map[string]any{"user_id": a.userID, "session_id": sessionID, "client_ip": "192.0.2.1", "user_agent": signalsUA})
	check("GET /v1/session with the ended session's cookie", withCookie(cookie), http.StatusUnauthorized, a.userID, false, "session_inactive")

	// The database goes away between the chain's grant and the session.
	if err := a.store.Close(); err != nil {
		t.Fatal(err)
	}
	w = a.do(t, "POST", "/v1/session", `{"username": "alice", "password": "s3cret"}`, withUA)
	if w.Code != http.StatusServiceUnavailable || len(w.Result().Cookies()) != 0 {
		t.Fatalf("session login without a database: %d %s %v; want 503 and no cookie", w.Code, w.Body, w.Result().Cookies())
	}
	got = expect(t, "POST /v1/session without a database", a.log.take(), "session_login_failed")
	checkArgs(t, got[0], tokens.Sender, map[string]any{"user_id": a.userID, "user_type": "user", "reason": "session_unavailable"})

	noSecretIn(t, a.log, cookie.Value, csrf, tokens.Hash(cookie.Value))
}

// noSecretIn fails t if any signal ever sent holds one of secrets.
func noSecretIn(t *testing.T, log *signalLog, secrets ...string) {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.ever) == 0 {
		t.Fatal("no signal was recorded")
	}
	for _, s := range log.ever {
		for _, secret := range secrets {
			if strings.Contains(s.raw, secret) {
				t.Errorf("%s holds a secret: %s", s.name, s.raw)
			}
		}
	}
}
