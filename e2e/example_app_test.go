package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

// exampleApp is examples/app running as its README says, against a host.
type exampleApp struct {
	url string
	out syncbuf.Buffer // what it wrote, stdout and stderr
}

// startExampleApp builds examples/app and runs it with args (and env)
// on a free port, waiting until it answers.
func startExampleApp(t *testing.T, env []string, args ...string) *exampleApp {
	t.Helper()
	bin := builtOnDemand(t, "../examples/app")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := &exampleApp{url: "http://" + addr}
	cmd := exec.Command(bin, append(args, "-addr", addr)...)
	cmd.Env = environ(env)
	cmd.Stdout, cmd.Stderr = &a.out, &a.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.url + "/hello")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("the example app exited:\n%s", a.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the example app did not answer within 30s:\n%s", a.out.String())
		}
	}
	if want := "listening on " + addr + ", accepting tokens of "; !strings.Contains(a.out.String(), want) {
		t.Errorf("the example app's first line is not the README's %q...:\n%s", want, a.out.String())
	}
	return a
}

// hello calls the app's GET /hello with the bearer token (none if empty).
func (a *exampleApp) hello(t *testing.T, token string) response {
	t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	return send(t, http.MethodGet, a.url+"/hello", "", hdr)
}

// TestExampleApp: examples/app, built and run as its README says against
// a real host (the host's default issuer and audience), answers 401
// without a token, or with one that is not the host's, and greets the
// user of a login's access token. With -introspect and an app key it
// also refuses the token of a revoked session at once.
func TestExampleApp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freePort(t)
	cfg := filepath.Join(dir, "portcullis.yaml")
	// An explicit listen address: the default issuer, and the jwks_uri
	// the app reads, are then the host's real URL, as in the README.
	yaml := fmt.Sprintf("listen: 127.0.0.1:%d\nlog: {format: json, level: info}\nstorage: {driver: sqlite, dsn: ./portcullis.db}\n", port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "alice", "s3cret-password-1")
	app := startExampleApp(t, nil, "-host", h.url, "-audience", "portcullis")

	r := app.hello(t, "")
	if r.status != 401 || r.body["error"] != "invalid_token" || r.body["error_description"] != "the request has no bearer token" ||
		!strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("GET /hello without a token: %d %v %s; want the README's 401", r.status, r.header, r.raw)
	}
	if r := app.hello(t, "garbage"); r.status != 401 || r.body["error"] != "invalid_token" {
		t.Errorf("GET /hello with a garbage token: %d %s; want 401 invalid_token", r.status, r.raw)
	}
	tok := mustLogin(t, h, "alice", "s3cret-password-1")
	if r := app.hello(t, tok.refresh); r.status != 401 {
		t.Errorf("GET /hello with the refresh token: %d %s; want 401", r.status, r.raw)
	}
	r = app.hello(t, tok.access)
	if r.status != 200 || r.raw != "Hello, alice!\n" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /hello with alice's access token: %d %v %q; want 200 Hello, alice!", r.status, r.header, r.raw)
	}

	// -introspect: a revoked session's token is refused at once.
	key := createApp(t, cfg, nil, "hello-app")
	strict := startExampleApp(t, []string{"PORTCULLIS_APP_KEY=" + key}, "-host", h.url, "-audience", "portcullis", "-introspect")
	if r := strict.hello(t, tok.access); r.status != 200 || r.raw != "Hello, alice!\n" {
		t.Fatalf("GET /hello of the -introspect app with alice's token: %d %s", r.status, r.raw)
	}
	if r := send(t, http.MethodPost, h.url+"/v1/token/revoke", fmt.Sprintf(`{"token":%q}`, tok.refresh), nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if r := strict.hello(t, tok.access); r.status != 401 {
		t.Errorf("GET /hello of the -introspect app with a revoked session's token: %d %s; want 401", r.status, r.raw)
	}
	if r := app.hello(t, tok.access); r.status != 200 {
		t.Errorf("GET /hello of the app without -introspect, which checks tokens alone, after the revoke: %d %s; want 200 until the token expires", r.status, r.raw)
	}
}
