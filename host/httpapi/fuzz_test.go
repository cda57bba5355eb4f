package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// fuzzServe sends body to path from peer and checks what every answer
// must be: not a 5xx, a JSON object, with the headers every answer has.
func fuzzServe(t *testing.T, h http.Handler, path, peer, body string) (int, map[string]any) {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = peer
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code >= 500 {
		t.Fatalf("POST %s %q = %d %s", path, body, w.Code, w.Body)
	}
	var answer map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
		t.Fatalf("POST %s %q = %d with a body that is no JSON object: %q", path, body, w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("POST %s %q: Content-Type %q", path, body, ct)
	}
	return w.Code, answer
}

// FuzzLoginBody: whatever a login's body holds, the answer is a JSON
// object and no 5xx; it is 200 only for alice's password, and then the
// backend was asked about exactly her, from the peer's own address (the
// peer is no trusted proxy, so a client.ip in the body changes nothing).
func FuzzLoginBody(f *testing.F) {
	for _, s := range []string{
		`{"username":"alice","password":"pw-alice"}`,
		`{"username":"alice","password":"pw-alice","client":{"ip":"203.0.113.9","user_agent":"x"}}`,
		`{"username":"alice","password":"wrong"}`,
		`{"username":"bob","password":"pw-alice","credentials":{"otp":"123456"}}`,
		`{"username":"Alice","password":"pw-alice"}`,
		`{"username":"al\u200bice","password":"pw-alice"}`,
		`{"username":"alice","password":"pw-alice","username":"bob"}`,
		`{"username":"alice","password":null}`,
		`{"username":["alice"],"password":"x"}`,
		`{"username":"alice","password":"x","extra":1}`,
		`{"credentials":[]}`,
		`[]`, `null`, ``, `{`, `{"username":"alice","password":"pw-alice"} {}`,
		"{\"username\":\"\xff\",\"password\":\"x\"}",
		`{"username":"` + strings.Repeat("a", 300) + `","password":"x"}`,
		strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200),
	} {
		f.Add(s)
	}
	var asked []sdk.AuthenticateRequest
	backend := &fakeAuth{authenticate: func(_ context.Context, req *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		asked = append(asked, *req)
		if req.Username == "alice" && req.Password == "pw-alice" {
			r.Grant(sdk.Identity{Subject: "u-alice", Username: "alice"})
		} else {
			r.Deny(sdk.ReasonInvalidCredentials, 0)
		}
		return nil
	}}
	a := newAPI(f, backend)
	f.Fuzz(func(t *testing.T, body string) {
		asked = asked[:0]
		status, answer := fuzzServe(t, a.handler, "/v1/login", "192.0.2.1:40000", body)
		if status != http.StatusOK {
			if _, ok := answer["error"].(string); !ok {
				t.Fatalf("%d without an error code: %v", status, answer)
			}
			return
		}
		if len(asked) != 1 || asked[0].Username != "alice" || asked[0].Password != "pw-alice" || asked[0].Client.IP != "192.0.2.1" {
			t.Fatalf("200 for %q after asking %+v", body, asked)
		}
		for _, k := range []string{"access_token", "refresh_token"} {
			if s, _ := answer[k].(string); s == "" {
				t.Fatalf("200 for %q without %s: %v", body, k, answer)
			}
		}
	})
}

// FuzzTokenBodies: whatever a refresh or revoke body holds, the answer is
// a JSON object and no 5xx, and only the one live refresh token refreshes.
func FuzzTokenBodies(f *testing.F) {
	a := newAPI(f, granting(sdk.Identity{Subject: "u-alice", Username: "alice"}))
	seed := func(path, body string) { f.Add(path == "/v1/token/revoke", body) }
	for _, s := range []string{
		`{"refresh_token":"pcr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"refresh_token":""}`, `{"refresh_token":null}`, `{"refresh_token":7}`,
		`{"refresh_token":"pca_x"}`, `{"refresh_token":"a b"}`, `{"refresh_token":"é"}`,
		`{}`, `[]`, ``, `{"refresh_token":"x","refresh_token":"y"}`,
	} {
		seed("/v1/token/refresh", s)
	}
	for _, s := range []string{
		`{"token":"pca_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"token":"x","token_type_hint":"refresh_token"}`, `{"token_type_hint":7}`, `{"token":""}`,
	} {
		seed("/v1/token/revoke", s)
	}
	f.Fuzz(func(t *testing.T, revoke bool, body string) {
		path := "/v1/token/refresh"
		if revoke {
			path = "/v1/token/revoke"
		}
		status, answer := fuzzServe(t, a.handler, path, "192.0.2.1:40000", body)
		if !revoke && status == http.StatusOK {
			t.Fatalf("refreshed with %q, which holds no token the host issued: %v", body, answer)
		}
	})
}
