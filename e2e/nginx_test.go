package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/testkit/procstat"
)

// TestNginxForwardAuth puts a small upstream behind a real nginx whose
// auth_request asks the host's GET /v1/forward-auth, configured as
// docs/tokens.md shows: a request without a token, or with a token that
// is not one, is answered 401 by nginx and never reaches the upstream; a
// request with an access token from POST /v1/login reaches it with the
// user's headers set by nginx from the host's answer (whatever the client
// sent in their place). At the end nginx and the host stop, and nothing
// they started is left running.
func TestNginxForwardAuth(t *testing.T) {
	nginxBin := lookNginx(t)

	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	mustRun(t, cfg, "s3cret\n", "users", "add", "alice", "--password-stdin")
	mustRun(t, cfg, "", "roles", "create", "billing")
	mustRun(t, cfg, "", "users", "roles", "add", "alice", "billing")
	h := startHost(t, cfg)

	// The upstream: a page that shows the user headers it was sent.
	var upstreamHits atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "page %s for user=%q id=%q roles=%q\n", r.URL.Path,
			r.Header.Get("X-Portcullis-User"), r.Header.Get("X-Portcullis-User-Id"), r.Header.Get("X-Portcullis-Roles"))
	}))
	t.Cleanup(upstream.Close)

	ng := startNginx(t, nginxBin, strings.TrimPrefix(upstream.URL, "http://"), strings.TrimPrefix(h.url, "http://"))

	get := func(token string, header ...string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ng.url+"/orders?id=7", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("GET through nginx: %v\nnginx error log:\n%s", err, ng.errorLog())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}

	t.Run("no token", func(t *testing.T) {
		before := upstreamHits.Load()
		status, header, body := get("", "X-Portcullis-User", "alice")
		if status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401: %s\nnginx error log:\n%s", status, body, ng.errorLog())
		}
		if got := header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="portcullis"`) {
			t.Errorf("WWW-Authenticate = %q, want the host's Bearer challenge", got)
		}
		if n := upstreamHits.Load() - before; n != 0 {
			t.Errorf("the upstream was reached %d times", n)
		}
	})

	login := h.login("alice", "s3cret")
	token, _ := login.body["access_token"].(string)
	if login.status != http.StatusOK || token == "" {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}

	t.Run("valid token", func(t *testing.T) {
		before := upstreamHits.Load()
		// A client's own X-Portcullis-User is replaced by nginx.
		status, _, body := get(token, "X-Portcullis-User", "mallory", "X-Portcullis-User-Id", "0", "X-Portcullis-Roles", "admin")
		if status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s\nnginx error log:\n%s\nhost log:\n%s", status, body, ng.errorLog(), h.output())
		}
		if !strings.HasPrefix(body, "page /orders for user=\"alice\" id=\"") || strings.Contains(body, "mallory") || strings.Contains(body, `id=""`) || strings.Contains(body, `id="0"`) ||
			!strings.HasSuffix(body, ` roles="billing"`+"\n") {
			t.Errorf("upstream page = %q, want alice's headers as the host gave them", body)
		}
		if n := upstreamHits.Load() - before; n != 1 {
			t.Errorf("the upstream was reached %d times, want 1", n)
		}
	})

	t.Run("garbage token", func(t *testing.T) {
		before := upstreamHits.Load()
		for _, garbage := range []string{"garbage", token[:len(token)-4] + "AAAA", "pcr_" + strings.Repeat("x", 43)} {
			status, header, body := get(garbage)
			if status != http.StatusUnauthorized {
				t.Errorf("token %.12s...: status %d, want 401: %s", garbage, status, body)
				continue
			}
			if got := header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("token %.12s...: WWW-Authenticate = %q, want error=\"invalid_token\"", garbage, got)
			}
		}
		if n := upstreamHits.Load() - before; n != 0 {
			t.Errorf("the upstream was reached %d times", n)
		}
	})

	// Stop nginx, then the host, and check that nothing of theirs is left.
	ng.stop(t)
	if alive(ng.pid) {
		t.Errorf("nginx (pid %d) is still running after it stopped", ng.pid)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(ng.url, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("something still listens on nginx's address %s", ng.url)
	}
	if left := processesNaming(t, ng.conf); len(left) > 0 {
		t.Errorf("processes running with nginx's configuration are left: %v", left)
	}

	hostPID := h.cmd.Process.Pid
	plugins := childPIDs(t, hostPID)
	if len(plugins) == 0 {
		t.Errorf("the host (pid %d) runs no plugin processes", hostPID)
	}
	h.kill(syscall.SIGTERM)
	if alive(hostPID) {
		t.Errorf("the host (pid %d) is still running after SIGTERM", hostPID)
	}
	for _, pid := range plugins {
		waitFor(t, fmt.Sprintf("plugin process %d to exit", pid), 10*time.Second, func() bool { return !alive(pid) })
	}
}

// lookNginx returns the nginx binary, or skips the test when there is none
// or it cannot do auth_request.
func lookNginx(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		// Debian installs it in /usr/sbin, which not every PATH holds.
		if _, statErr := os.Stat("/usr/sbin/nginx"); statErr != nil {
			t.Skipf("skipping: no nginx binary (%v); install the Debian package nginx (.ci/run does)", err)
		}
		bin = "/usr/sbin/nginx"
	}
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil {
		t.Skipf("skipping: %s -V: %v\n%s", bin, err, out)
	}
	if !bytes.Contains(out, []byte("http_auth_request_module")) {
		t.Skipf("skipping: %s is built without the auth_request module:\n%s", bin, out)
	}
	return bin
}

// nginxProc is one nginx process under test: one process (no master, no
// workers), in the foreground, with everything it writes in its directory.
type nginxProc struct {
	url  string
	pid  int
	dir  string
	conf string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
	out  bytes.Buffer // stdout and stderr, written before done closes
}

// nginxConf is the configuration of the test's nginx; the two locations
// are those of docs/tokens.md.
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log info;

events { worker_connections 256; }

http {
    access_log {{dir}}/access.log;
    client_body_temp_path {{dir}}/client_body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;

    server {
        listen 127.0.0.1:{{port}};
        server_name _;

        location / {
            auth_request /_auth;
            auth_request_set $user $upstream_http_x_portcullis_user;
            auth_request_set $user_id $upstream_http_x_portcullis_user_id;
            auth_request_set $roles $upstream_http_x_portcullis_roles;
            proxy_set_header X-Portcullis-User $user;
            proxy_set_header X-Portcullis-User-Id $user_id;
            proxy_set_header X-Portcullis-Roles $roles;
            proxy_pass http://{{upstream}};
        }

        location = /_auth {
            internal;
            proxy_pass http://{{host}}/v1/forward-auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host 127.0.0.1;
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        }
    }
}
`

// startNginx writes the configuration into a fresh directory and runs
// nginx on a free loopback port until it accepts connections. Another
// process may take the port between the choice and nginx's bind: then it
// tries another.
func startNginx(t *testing.T, bin, upstream, host string) *nginxProc {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		n, err := tryNginx(t, bin, upstream, host)
		if err == nil {
			return n
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return nil
}

func tryNginx(t *testing.T, bin, upstream, host string) (*nginxProc, error) {
	dir := t.TempDir()
	port, err := pickNginxPort()
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", port, "{{upstream}}", upstream, "{{host}}", host).Replace(nginxConf)
	n := &nginxProc{url: "http://127.0.0.1:" + port, dir: dir, conf: filepath.Join(dir, "nginx.conf"), done: make(chan struct{})}
	if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	// -e: the error log before the configuration is read (nginx's
	// compiled-in one may be elsewhere, or unwritable).
	n.cmd = exec.Command(bin, "-p", dir+"/", "-c", n.conf, "-e", filepath.Join(dir, "error.log"))
	n.cmd.Dir = dir
	n.cmd.Stdout, n.cmd.Stderr = &n.out, &n.out
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	n.pid = n.cmd.Process.Pid
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() { n.stop(t) })

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-n.done:
			return nil, fmt.Errorf("nginx exited before serving (%v):\n%s\nerror log:\n%s", n.cmd.ProcessState, n.out.String(), n.errorLog())
		default:
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			return n, nil
		}
		if time.Now().After(deadline) {
			n.stop(t)
			return nil, fmt.Errorf("nginx did not listen on %s within 30s; error log:\n%s", port, n.errorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop asks nginx to finish (SIGQUIT: a graceful shutdown), and kills it
// if it has not within 10 seconds.
func (n *nginxProc) stop(t *testing.T) {
	n.once.Do(func() {
		_ = n.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			t.Errorf("nginx did not stop within 10s of SIGQUIT; killing it")
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	})
}

func (n *nginxProc) errorLog() string {
	b, err := os.ReadFile(filepath.Join(n.dir, "error.log"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// pickNginxPort returns a loopback TCP port that was free a moment ago.
func pickNginxPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// processesNaming returns the live processes whose command line holds s.
func processesNaming(t *testing.T, s string) []int {
	t.Helper()
	all, err := procstat.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range all {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if bytes.Contains(cmdline, []byte(s)) && alive(p) {
			pids = append(pids, p)
		}
	}
	return pids
}
