package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// What the tracing tests plant in a login, to look for in every span.
const (
	plantedUser     = "zelda"
	plantedPassword = "pw-zelda-Planted-93"
	plantedIP       = "198.51.100.77"
)

// startTracedHost runs a host on the default-style chain [lockout, local
// (password)] that exports its spans, and its plugins', to rcv over
// protocol (grpc or http), trusting trusted as its proxies, with the
// user zelda. Her hash is made with fewer argon2id passes than the
// backend is configured with, so her login upgrades it: a call back from
// the plugin to the host (SetPasswordHash) while it authenticates.
func startTracedHost(t *testing.T, rcv *otlpReceiver, protocol, trusted string) *host {
	t.Helper()
	endpoint := rcv.httpURL
	if protocol == "grpc" {
		endpoint = rcv.grpcURL
	}
	dir := t.TempDir()
	common := fmt.Sprintf(`storage: {driver: sqlite, dsn: ./portcullis.db}
trusted_proxies: [%s]
telemetry: {otlp_endpoint: %q, protocol: %s, insecure: true}
`, trusted, endpoint, protocol)
	mustRun(t, writeConfig(t, dir, common), plantedPassword+"\n", "users", "add", plantedUser, "--password-stdin")
	cfg := writeConfig(t, dir, common+`backends:
  - {name: lockout, plugin: lockout, config: {cooloff: 30m, lockout_parameters: [{group: [username, ip_address], failure_limit: 5}]}}
  - {name: local, plugin: password, config: {argon2id: {memory_kib: 19456, iterations: 3, parallelism: 1}}}
`)
	return startHost(t, cfg)
}

// tracedLogin logs zelda in, speaking for the end user at plantedIP, with
// a W3C traceparent header.
func tracedLogin(t *testing.T, h *host, traceparent string) {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q,"client":{"ip":%q}}`, plantedUser, plantedPassword, plantedIP)
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/login", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", traceparent)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r := readResponse(t, resp); r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
}

// stopAndCollect stops the host gracefully (its plugins flush their spans
// as they exit, the host its own as it closes) and returns what rcv got
// once a plugin's server span is among it.
func stopAndCollect(t *testing.T, h *host, rcv *otlpReceiver) []receivedSpan {
	t.Helper()
	h.kill(syscall.SIGTERM)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		spans := rcv.received()
		for _, s := range spans {
			if strings.HasPrefix(s.Service, "portcullis-plugin-") {
				return spans
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span of a plugin's within 15s; got:\n%s\nthe host's log:\n%s", describeSpans(spans), h.output())
		}
	}
}

// loginTrace checks what every traced login must show and returns the
// login's span: one trace holding every span received, with spans of the
// host and of the password plugin's process parent-linked across the hop
// both ways, a span per chain link, storage statements, and nothing
// planted in any attribute.
func loginTrace(t *testing.T, spans []receivedSpan) receivedSpan {
	t.Helper()
	byID := map[string]receivedSpan{}
	var logins []receivedSpan
	for _, s := range spans {
		byID[s.SpanID] = s
		if s.Name == "portcullis.login" {
			logins = append(logins, s)
		}
	}
	if len(logins) != 1 {
		t.Fatalf("%d portcullis.login spans, want 1:\n%s", len(logins), describeSpans(spans))
	}
	login := logins[0]
	if login.Service != "portcullis" || login.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("login span from %q, kind %v; want the host's (portcullis), a server span", login.Service, login.Kind)
	}
	for k, want := range map[string]string{"portcullis.login.outcome": "success", "portcullis.login.backend": "local", "http.response.status_code": "200", "http.route": "/v1/login"} {
		if got := login.Attrs[k]; got != want {
			t.Errorf("login span %s = %q, want %q", k, got, want)
		}
	}
	for _, s := range spans {
		if s.TraceID != login.TraceID {
			t.Errorf("span %q (%s) is in trace %s, not the login's %s: one login must give one trace", s.Name, s.Service, s.TraceID, login.TraceID)
		}
	}

	// ancestors lists a span's parents up to the root, as "service/name".
	ancestors := func(s receivedSpan) []string {
		var out []string
		for p, ok := byID[s.ParentID]; ok; p, ok = byID[p.ParentID] {
			out = append(out, p.Service+"/"+p.Name)
		}
		return out
	}
	find := func(what string, match func(receivedSpan) bool) receivedSpan {
		t.Helper()
		for _, s := range spans {
			if match(s) {
				return s
			}
		}
		t.Fatalf("no %s among the spans:\n%s", what, describeSpans(spans))
		return receivedSpan{}
	}

	// Host → plugin: the plugin's server span is a child of the host's
	// client span, inside the span of the backend "local".
	local := find("portcullis.backend local span", func(s receivedSpan) bool { return s.Name == "portcullis.backend local" })
	if local.Attrs["portcullis.backend.decision"] != "identity" || local.ParentID != login.SpanID {
		t.Errorf("backend local span: decision %q, parent %s; want identity, the login's span %s", local.Attrs["portcullis.backend.decision"], local.ParentID, login.SpanID)
	}
	lockout := find("portcullis.backend lockout span", func(s receivedSpan) bool { return s.Name == "portcullis.backend lockout" })
	if lockout.Attrs["portcullis.backend.kind"] != "limiter" || lockout.Attrs["portcullis.backend.decision"] != "allow" {
		t.Errorf("backend lockout span: kind %q, decision %q; want limiter, allow", lockout.Attrs["portcullis.backend.kind"], lockout.Attrs["portcullis.backend.decision"])
	}
	authenticate := find("plugin server span of Authenticate", func(s receivedSpan) bool {
		return s.Service == "portcullis-plugin-local" && s.Kind == tracepb.Span_SPAN_KIND_SERVER && strings.HasSuffix(s.Name, "Authenticator/Authenticate")
	})
	caller, ok := byID[authenticate.ParentID]
	if !ok || caller.Service != "portcullis" || caller.Kind != tracepb.Span_SPAN_KIND_CLIENT || caller.ParentID != local.SpanID {
		t.Errorf("the plugin's Authenticate span has parent %+v; want the host's client span under portcullis.backend local", caller)
	}

	// The user's row is read by the host, before the call, in a storage
	// span under the link's span: the plugin is sent it with the call.
	find("storage span of the user's lookup under portcullis.backend local", func(s receivedSpan) bool {
		return strings.HasPrefix(s.Name, "portcullis.storage ") && s.ParentID == local.SpanID && s.Attrs["db.system.name"] == "sqlite"
	})
	// Plugin → host: the host's services, called by the plugin while it
	// authenticates (upgrading zelda's hash), serve inside the same trace,
	// under the plugin's span.
	upgrade := find("host server span of SetPasswordHash", func(s receivedSpan) bool {
		return s.Service == "portcullis" && s.Kind == tracepb.Span_SPAN_KIND_SERVER && strings.HasSuffix(s.Name, "HostServices/SetPasswordHash")
	})
	if chain := ancestors(upgrade); len(chain) < 2 || !strings.HasPrefix(chain[0], "portcullis-plugin-local/") || !strings.HasSuffix(chain[1], "Authenticator/Authenticate") {
		t.Errorf("the host's SetPasswordHash span has ancestors %q; want the plugin's client span under its Authenticate", chain)
	}
	// ... and the hash is written in a storage span under it.
	find("storage span under SetPasswordHash", func(s receivedSpan) bool {
		return strings.HasPrefix(s.Name, "portcullis.storage ") && s.ParentID == upgrade.SpanID && s.Attrs["db.system.name"] == "sqlite"
	})
	// The lockout's admission runs statements under its link's span.
	find("storage span under the lockout", func(s receivedSpan) bool {
		return strings.HasPrefix(s.Name, "portcullis.storage ") && s.ParentID == lockout.SpanID
	})

	for _, s := range spans {
		fields := []string{s.Name, s.StatusDescription}
		for k, v := range s.Attrs {
			fields = append(fields, k+"="+v)
		}
		for k, v := range s.ResAttrs {
			fields = append(fields, k+"="+v)
		}
		for _, f := range fields {
			for _, planted := range []string{plantedUser, plantedPassword, plantedIP} {
				if strings.Contains(f, planted) {
					t.Errorf("span %q (%s) carries %q: %s", s.Name, s.Service, planted, f)
				}
			}
		}
	}
	return login
}

func describeSpans(spans []receivedSpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %s span=%s parent=%s %q %v\n", s.Service, s.TraceID, s.SpanID, s.ParentID, s.Name, s.Kind)
	}
	return b.String()
}

// checkLogTrace requires the host's "login succeeded" line to carry the
// login's trace and span ids.
func checkLogTrace(t *testing.T, h *host, login receivedSpan) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(h.output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			TraceID string `json:"trace_id"`
			SpanID  string `json:"span_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "login succeeded" {
			continue
		}
		if line.TraceID != login.TraceID || line.SpanID != login.SpanID {
			t.Errorf("log line %s has trace_id %q span_id %q; want the login's %s %s", sc.Text(), line.TraceID, line.SpanID, login.TraceID, login.SpanID)
		}
		return
	}
	t.Errorf("no \"login succeeded\" line in the host's log:\n%s", h.output())
}

// TestTracingAcrossThePluginHop (issue "Observability") logs in once through
// [lockout, password] on a host that exports its spans, and its plugin
// processes theirs, to a collector in the test.
func TestTracingAcrossThePluginHop(t *testing.T) {
	const (
		sentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		sentSpan  = "00f067aa0ba902b7"
	)
	traceparent := "00-" + sentTrace + "-" + sentSpan + "-01"

	t.Run("a trusted proxy's trace is continued, over OTLP/HTTP", func(t *testing.T) {
		rcv := startOTLPReceiver(t, true)
		h := startTracedHost(t, rcv, "http", "127.0.0.1")
		tracedLogin(t, h, traceparent)
		login := loginTrace(t, stopAndCollect(t, h, rcv))
		if login.TraceID != sentTrace || login.ParentID != sentSpan {
			t.Errorf("login span in trace %s with parent %s; want the proxy's %s, %s", login.TraceID, login.ParentID, sentTrace, sentSpan)
		}
		checkLogTrace(t, h, login)
	})

	t.Run("anyone else's starts a new trace, over OTLP/gRPC", func(t *testing.T) {
		rcv := startOTLPReceiver(t, true)
		h := startTracedHost(t, rcv, "grpc", "10.1.2.3")
		tracedLogin(t, h, traceparent)
		login := loginTrace(t, stopAndCollect(t, h, rcv))
		if login.TraceID == sentTrace || login.ParentID != "" {
			t.Errorf("login span in trace %s with parent %q; an untrusted peer's traceparent must start a new trace, without a parent", login.TraceID, login.ParentID)
		}
		checkLogTrace(t, h, login)
	})
}
