package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// codeBox is the app's delivery service: the otp plugin's webhook sender
// posts each code here, signed; it keeps the latest code per request.
type codeBox struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	codes  map[string]string
	bad    int
}

func newCodeBox(t *testing.T) *codeBox {
	b := &codeBox{t: t, secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-delivery-secret-of-32-bytes!!!")), codes: map[string]string{}}
	lib, err := standardwebhooks.NewWebhook(b.secret)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d struct{ ID, Code string }
		_ = json.Unmarshal(body, &d)
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := lib.Verify(body, r.Header); err != nil || d.ID == "" || d.Code == "" {
			b.bad++
			http.Error(w, "bad delivery", http.StatusBadRequest)
			return
		}
		b.codes[d.ID] = d.Code
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *codeBox) code(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bad > 0 {
		b.t.Errorf("%d deliveries with a bad signature", b.bad)
	}
	return b.codes[id]
}

// otpBackends is the backends section with the otp plugin delivering to box.
func otpBackends(box *codeBox) string {
	return fmt.Sprintf(`backends:
  - {name: lockout, plugin: lockout}
  - {name: local, plugin: password}
  - name: otp
    plugin: otp
    config: {hash_key: "an-otp-hash-key-of-at-least-32-bytes-long", sender: {webhook: %q, secret: %q}}
`, box.srv.URL, box.secret)
}

// authApp calls the authorization-request API with an app key.
type authApp struct {
	t   testing.TB
	key string
}

func (a authApp) call(h *host, method, path, body string) response {
	a.t.Helper()
	return send(a.t, method, h.url+"/v1/authorization-requests"+path, body, bearer(a.key))
}

func (a authApp) create(h *host) string {
	a.t.Helper()
	r := a.call(h, "POST", "", `{"slug":"transfer","user":"alice","title":"Approve 500 EUR","data":{"amount":500}}`)
	if r.status != 201 || r.body["state"] != "waiting" {
		a.t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.body["id"].(string)
}

func (a authApp) check(h *host, id, body string) bool {
	a.t.Helper()
	r := a.call(h, "POST", "/"+id+"/check", body)
	if r.status != 200 {
		a.t.Fatalf("check %s: %d %s", body, r.status, r.raw)
	}
	return r.body["valid"] == true
}

// TestAuthorizationRequestCodes (acceptance 1): empty, missing, wrong and
// reused codes never validate; a code of one request never validates
// another; a reset kills the old code; the sixth wrong code denies the
// request. The codes travel through the real otp plugin's signed webhook.
func TestAuthorizationRequestCodes(t *testing.T) {
	t.Parallel()
	box := newCodeBox(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n"+otpBackends(box)+
		"signals: {subscribers: [{name: audit, audit_file: ./audit.jsonl, signals: [\"*\"], mode: sync}]}\n")
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	app := authApp{t, createApp(t, cfg, nil, "bank")}

	a, b := app.create(h), app.create(h)
	codeA, codeB := box.code(a), box.code(b)
	if len(codeA) != 6 || codeA == codeB {
		t.Fatalf("delivered codes %q and %q", codeA, codeB)
	}
	for _, body := range []string{`{}`, `{"code":""}`, `{"code":null}`, `{"code":"` + codeB + `"}`, `{"code":"x` + codeA + `"}`} {
		if app.check(h, a, body) {
			t.Errorf("check %s of request a validated", body)
		}
	}
	if !app.check(h, a, `{"code":"`+codeA+`"}`) {
		t.Fatal("the right code did not validate")
	}
	if app.check(h, a, `{"code":"`+codeA+`"}`) {
		t.Error("a used code validated again")
	}
	if r := app.call(h, "POST", "/"+b+"/reset", ""); r.status != 200 {
		t.Fatalf("reset: %d %s", r.status, r.raw)
	}
	if app.check(h, b, `{"code":"`+codeB+`"}`) {
		t.Error("the code from before the reset validated")
	}
	if !app.check(h, b, `{"code":"`+box.code(b)+`"}`) {
		t.Error("the code of the reset did not validate")
	}

	c := app.create(h)
	for i := range 5 {
		app.check(h, c, `{"code":"000000"}`)
		if r := app.call(h, "GET", "/"+c, ""); r.body["state"] != "waiting" {
			t.Fatalf("after %d wrong codes: %s", i+1, r.raw)
		}
	}
	app.check(h, c, `{"code":"000000"}`)
	if r := app.call(h, "GET", "/"+c, ""); r.body["state"] != "denied" || r.body["reason"] != "too_many_attempts" {
		t.Fatalf("after the sixth wrong code: %s", r.raw)
	}
	if r := app.call(h, "POST", "/"+c+"/check", `{"code":"`+box.code(c)+`"}`); r.status != 409 {
		t.Errorf("a check of a denied request: %d %s", r.status, r.raw)
	}

	// No code in the log, the database or the CLI's output.
	out := mustRun(t, cfg, "", "authreq", "list") + mustRun(t, cfg, "", "authreq", "show", a)
	h.kill(15)
	places := map[string]string{"the host's output": h.output(), "the CLI's output": out}
	for _, f := range []string{"portcullis.db", "portcullis.db-wal", "audit.jsonl"} {
		raw, _ := os.ReadFile(filepath.Join(dir, f))
		places[f] = string(raw)
	}
	if !strings.Contains(places["audit.jsonl"], "authorization_requested") {
		t.Error("the audit file holds no authorization signal: the check below would prove nothing")
	}
	for where, text := range places {
		for _, code := range []string{codeA, codeB, box.code(b), box.code(c)} {
			if strings.Contains(text, `"`+code+`"`) || strings.Contains(text, "code="+code) || strings.Contains(text, "code: "+code) {
				t.Errorf("%s holds a code", where)
			}
		}
	}
}

// TestAuthorizationRequestDecisionsRace (acceptance 2 and 3): two correct
// checks at once, then two grants at once: exactly one grant succeeds and
// the other is 409; an expired request reads expired, refuses grant, deny
// and cancel, and authorization_expired reaches a webhook subscriber
// once — on SQLite, and on two hosts sharing PostgreSQL.
func TestAuthorizationRequestDecisionsRace(t *testing.T) {
	t.Parallel()
	box := newCodeBox(t)
	hook := newHook(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte("a-signal-secret-of-32-bytes-long!")))
	section := otpBackends(box) + fmt.Sprintf(`signals:
  subscribers:
    - {name: hook, webhook: %q, secret: %q, signals: [authorization_expired, authorization_granted]}
`, hook.url(), "whsec_"+base64.StdEncoding.EncodeToString([]byte("a-signal-secret-of-32-bytes-long!")))
	type setupT struct {
		name  string
		cfg   string
		hosts []*host
	}
	dir := t.TempDir()
	sqliteCfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n"+section)
	setupsT := []setupT{{name: "sqlite", cfg: sqliteCfg, hosts: []*host{startHost(t, sqliteCfg)}}}
	if dsn, ok := postgresDSN(t); ok {
		cfg := writeConfig(t, t.TempDir(), fmt.Sprintf("storage: {driver: postgres, dsn: %q}\n", dsn)+section)
		setupsT = append(setupsT, setupT{name: "postgres-two-hosts", cfg: cfg, hosts: []*host{startHost(t, cfg), startHost(t, cfg)}})
	}
	for _, s := range setupsT {
		t.Run(s.name, func(t *testing.T) {
			addUser(t, s.cfg, nil, "alice", "alice-password-1")
			app := authApp{t, createApp(t, s.cfg, nil, "bank")}
			h0, h1 := s.hosts[0], s.hosts[len(s.hosts)-1]
			for round := range 5 {
				id := app.create(h0)
				code := box.code(id)
				var wg sync.WaitGroup
				valid := make([]bool, 2)
				for i, h := range []*host{h0, h1} {
					wg.Add(1)
					go func() { defer wg.Done(); valid[i] = app.check(h, id, `{"code":"`+code+`"}`) }()
				}
				wg.Wait()
				if valid[0] == valid[1] {
					t.Errorf("round %d: two checks with one single-use code: %v", round, valid)
				}
				statuses := make([]int, 2)
				for i, h := range []*host{h0, h1} {
					wg.Add(1)
					go func() { defer wg.Done(); statuses[i] = app.call(h, "POST", "/"+id+"/grant", "").status }()
				}
				wg.Wait()
				if !(statuses[0] == 200 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 200) {
					t.Errorf("round %d: two grants at once answered %v, want one 200 and one 409", round, statuses)
				}
			}

			r := app.call(h0, "POST", "", `{"slug":"transfer","user":"alice","title":"Soon gone","expiration":1}`)
			if r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			id := r.body["id"].(string)
			time.Sleep(1500 * time.Millisecond)
			if r := app.call(h1, "GET", "/"+id, ""); r.body["state"] != "expired" {
				t.Fatalf("after its expiry: %s", r.raw)
			}
			for _, verb := range []string{"grant", "deny", "cancel", "reset"} {
				if r := app.call(h0, "POST", "/"+id+"/"+verb, ""); r.status != 409 || r.body["state"] != "expired" {
					t.Errorf("%s of an expired request: %d %s", verb, r.status, r.raw)
				}
			}
			waitFor(t, "authorization_expired at the webhook", 20*time.Second, func() bool {
				return countSignal(hook, "authorization_expired", id) > 0
			})
			time.Sleep(2 * time.Second) // every host has swept at least once more
			if n := countSignal(hook, "authorization_expired", id); n != 1 {
				t.Errorf("authorization_expired arrived %d times, want once", n)
			}
			if got := mustRun(t, s.cfg, "", "authreq", "list", "--state", storage.AuthRequestExpired); !strings.Contains(got, id) {
				t.Errorf("authreq list --state expired:\n%s", got)
			}
		})
	}
}

// countSignal counts the deliveries of a signal about one request (each
// signal once: a redelivery of one signal id is not a second signal).
func countSignal(h *hook, name, requestID string) int {
	seen := map[string]bool{}
	for _, d := range h.received() {
		var args struct {
			ID string `json:"authorization_request_id"`
		}
		_ = json.Unmarshal(d.Args, &args)
		if d.Name == name && args.ID == requestID {
			seen[d.ID] = true
		}
	}
	return len(seen)
}

// TestAuthorizationRequestBoundToASession: a request created with the
// user's access token is answered and granted only while the token's
// session lives; a token of another user, or one not valid, is refused.
func TestAuthorizationRequestBoundToASession(t *testing.T) {
	t.Parallel()
	box := newCodeBox(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n"+otpBackends(box))
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	addUser(t, cfg, nil, "bob", "bob-password-1")
	app := authApp{t, createApp(t, cfg, nil, "bank")}
	alice, bob := mustLogin(t, h, "alice", "alice-password-1"), mustLogin(t, h, "bob", "bob-password-1")

	for what, body := range map[string]string{
		"another user's token": fmt.Sprintf(`{"slug":"transfer","user":"alice","title":"t","token":%q}`, bob.access),
		"a token not valid":    `{"slug":"transfer","title":"t","token":"eyJhbGciOiJub25lIn0.e30."}`,
	} {
		if r := app.call(h, "POST", "", body); r.status != 400 {
			t.Errorf("binding with %s: %d %s, want 400", what, r.status, r.raw)
		}
	}
	r := app.call(h, "POST", "", fmt.Sprintf(`{"slug":"transfer","title":"Approve","token":%q}`, alice.access))
	if r.status != 201 || r.body["bound"] != true {
		t.Fatalf("a bound request: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if resp := send(t, http.MethodPost, h.url+"/v1/token/revoke", fmt.Sprintf(`{"token":%q}`, alice.refresh), nil); resp.status != 200 {
		t.Fatalf("logout: %d %s", resp.status, resp.raw)
	}
	for _, verb := range []string{"check", "grant"} {
		body := ""
		if verb == "check" {
			body = fmt.Sprintf(`{"code":%q}`, box.code(id))
		}
		if r := app.call(h, "POST", "/"+id+"/"+verb, body); r.status != 409 || r.body["error"] != "session_ended" {
			t.Errorf("%s after the session ended: %d %s, want 409 session_ended", verb, r.status, r.raw)
		}
	}
}

// TestAuthorizationRequestsBelongToTheirApp: an app sees, checks, resets
// and decides only the requests it created: another app's are 404, as
// unknown ones are; and no app may create a request with the host's own
// slug 2FA.
func TestAuthorizationRequestsBelongToTheirApp(t *testing.T) {
	t.Parallel()
	box := newCodeBox(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n"+otpBackends(box))
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	bank, blog := authApp{t, createApp(t, cfg, nil, "bank")}, authApp{t, createApp(t, cfg, nil, "blog")}
	id := bank.create(h)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/" + id, ""}, {"POST", "/" + id + "/check", `{"code":"123456"}`}, {"POST", "/" + id + "/grant", ""},
		{"POST", "/" + id + "/deny", ""}, {"POST", "/" + id + "/cancel", ""}, {"POST", "/" + id + "/reset", ""},
	} {
		if r := blog.call(h, c.method, c.path, c.body); r.status != 404 {
			t.Errorf("another app's %s %s: %d %s, want 404", c.method, c.path, r.status, r.raw)
		}
	}
	if r := bank.call(h, "GET", "/"+id, ""); r.status != 200 || r.body["state"] != "waiting" || r.body["wrong_answers"] != float64(0) {
		t.Errorf("after another app's attempts: %d %s", r.status, r.raw)
	}
	for _, slug := range []string{"2FA", "2fa"} {
		if r := bank.call(h, "POST", "", `{"slug":"`+slug+`","user":"alice","title":"t"}`); r.status != 400 {
			t.Errorf("an app creating slug %s: %d %s, want 400", slug, r.status, r.raw)
		}
	}
}

// TestAdminsSeeAndDecideAuthorizationRequests: an admin lists every app's
// requests, filtered, and decides a waiting one; the app then reads the
// decision, and a second decision is 409.
func TestAdminsSeeAndDecideAuthorizationRequests(t *testing.T) {
	t.Parallel()
	box := newCodeBox(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n"+otpBackends(box))
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "alice-password-1")
	mustRun(t, cfg, "root-password-123\n", "admin", "create", "root", "--password-stdin")
	token := lastLine(mustRun(t, cfg, "", "admin", "token", "create", "ops"))
	app := authApp{t, createApp(t, cfg, nil, "bank")}
	a, b := app.create(h), app.create(h)
	list := send(t, http.MethodGet, h.url+"/v1/admin/authorization-requests?state=waiting&user=alice", "", bearer(token))
	if list.status != 200 || list.body["total"] != float64(2) {
		t.Fatalf("admin list: %d %s", list.status, list.raw)
	}
	if strings.Contains(list.raw, box.code(a)) || strings.Contains(list.raw, "challenge") {
		t.Error("the admin list shows a code or a challenge")
	}
	if r := send(t, http.MethodPost, h.url+"/v1/admin/authorization-requests/"+a+"/cancel", "", bearer(token)); r.status != 200 || r.body["state"] != "cancelled" || r.body["reason"] != "admin" {
		t.Fatalf("admin cancel: %d %s", r.status, r.raw)
	}
	if r := send(t, http.MethodPost, h.url+"/v1/admin/authorization-requests/"+a+"/grant", "", bearer(token)); r.status != 409 {
		t.Errorf("admin grant of a cancelled request: %d %s", r.status, r.raw)
	}
	if r := app.call(h, "GET", "/"+a, ""); r.body["state"] != "cancelled" {
		t.Errorf("the app reads %s", r.raw)
	}
	if r := send(t, http.MethodGet, h.url+"/v1/admin/authorization-requests/"+b, "", bearer(token)); r.status != 200 || r.body["state"] != "waiting" {
		t.Errorf("admin get: %d %s", r.status, r.raw)
	}
	if r := send(t, http.MethodGet, h.url+"/v1/admin/authorization-requests?state=nope", "", bearer(token)); r.status != 400 {
		t.Errorf("a bad state filter: %d %s", r.status, r.raw)
	}
}
