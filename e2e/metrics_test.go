package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// scrape is one answer of GET /metrics, parsed.
type scrape struct {
	raw     string
	samples []sample
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrapeMetrics reads the host's /metrics in the text format.
func (h *host) scrapeMetrics() scrape {
	h.t.Helper()
	r := h.get("/metrics")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		h.t.Fatalf("GET /metrics: %d %s\n%s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	s := scrape{raw: r.raw}
	for _, line := range strings.Split(r.raw, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ') // routes hold spaces: the value is the last field
		series, value := line[:max(i, 0)], line[i+1:]
		v, err := strconv.ParseFloat(value, 64)
		if i < 0 || err != nil {
			h.t.Fatalf("a line of /metrics is not a sample: %q", line)
		}
		smp := parseSeries(h.t, series)
		smp.value = v
		s.samples = append(s.samples, smp)
	}
	return s
}

// parseSeries reads a series as /metrics writes it, name{label="value",...},
// into a sample without its value. The host's label values hold no commas,
// quotes or escapes.
func parseSeries(t testing.TB, series string) sample {
	t.Helper()
	smp := sample{name: series, labels: map[string]string{}}
	name, labels, ok := strings.Cut(series, "{")
	if !ok {
		return smp
	}
	smp.name = name
	for _, pair := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			t.Fatalf("series %q: label %q is not name=\"value\"", series, pair)
		}
		smp.labels[k] = v[1 : len(v)-1]
	}
	return smp
}

// value is the sample of metric name whose labels include labels
// ("k=v" each); ok is false when there is none.
func (s scrape) value(name string, labels ...string) (float64, bool) {
next:
	for _, smp := range s.samples {
		if smp.name != name {
			continue
		}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if smp.labels[k] != v {
				continue next
			}
		}
		return smp.value, true
	}
	return 0, false
}

// TestMetricsScrape logs in, rightly and wrongly, as a planted user from a
// planted address, and reads /metrics: the histograms moved, the login
// route is counted, and neither the username nor the address is in any
// label.
func TestMetricsScrape(t *testing.T) {
	const (
		user     = "zq-planted-user-4471"
		password = "pw-of-the-planted-user"
		ip       = "198.51.100.213"
	)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
backends:
  - name: lockout
    plugin: lockout
    config: {failure_limit: 3, cooloff: 15m, lockout_parameters: [[username, ip_address]]}
  - {name: local, plugin: password}
signals:
  subscribers:
    # Nothing listens there: its deliveries wait, retried in an hour.
    - {name: hook, webhook: "http://127.0.0.1:9/hook", secret: %q, signals: [user_login_failed], mode: async}
  delivery: {backoff: 1h, backoff_max: 1h, poll: 50ms, max_attempts: 1000}
`, hookSecret))
	h := startHost(t, cfg)
	mustRun(t, cfg, password+"\n", "users", "add", user, "--password-stdin")

	if r := h.loginFrom(ip, user, password); r.status != 200 {
		t.Fatalf("the right password: %d %s", r.status, r.raw)
	}
	for i := 1; i <= 3; i++ { // the third locks the planted user at the planted address
		if r := h.loginFrom(ip, user, "wrong"); r.status != 401 {
			t.Fatalf("wrong password %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := h.loginFrom(ip, user, password); r.status != 429 {
		t.Fatalf("a login while locked out: %d %s", r.status, r.raw)
	}
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/forward-auth", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	s := h.scrapeMetrics()
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		// The histograms moved.
		{"portcullis_login_duration_seconds_count", []string{"outcome=success"}, 1},
		{"portcullis_login_duration_seconds_count", []string{"outcome=invalid_credentials"}, 3},
		{"portcullis_login_duration_seconds_count", []string{"outcome=denied"}, 1},
		{"portcullis_backend_call_duration_seconds_count", []string{"backend=local", "result=identity"}, 1},
		{"portcullis_backend_call_duration_seconds_count", []string{"backend=local", "result=abstain"}, 3},
		{"portcullis_backend_call_duration_seconds_count", []string{"backend=lockout", "result=allowed"}, 4},
		{"portcullis_backend_call_duration_seconds_count", []string{"backend=lockout", "result=refused"}, 1},
		{"portcullis_backend_call_duration_seconds_count", []string{"backend=lockout", "result=settled"}, 4},
		{"portcullis_http_request_duration_seconds_count", []string{"route=POST /v1/login", "method=POST"}, 5},
		// The login route, by status.
		{"portcullis_http_requests_total", []string{"route=POST /v1/login", "method=POST", "status=200"}, 1},
		{"portcullis_http_requests_total", []string{"route=POST /v1/login", "method=POST", "status=401"}, 3},
		{"portcullis_http_requests_total", []string{"route=POST /v1/login", "method=POST", "status=429"}, 1},
		// The counters, with the backend that decided.
		{"portcullis_logins_total", []string{"outcome=success", "backend=local"}, 1},
		{"portcullis_logins_total", []string{"outcome=invalid_credentials", "backend=local"}, 3},
		{"portcullis_logins_total", []string{"outcome=denied", "backend=lockout"}, 1},
		{"portcullis_lockouts_total", []string{"backend=lockout"}, 1},
		{"portcullis_lockout_refusals_total", []string{"backend=lockout"}, 1},
		{"portcullis_lockout_locked_keys", []string{"backend=lockout"}, 1},
		{"portcullis_tokens_issued_total", []string{"kind=access"}, 1},
		{"portcullis_tokens_issued_total", []string{"kind=refresh"}, 1},
		{"portcullis_token_verification_failures_total", []string{"error_type=malformed"}, 1},
		// The gauges read at scrape time.
		{"portcullis_plugin_up", []string{"backend=local"}, 1},
		{"portcullis_plugin_up", []string{"backend=lockout"}, 1},
		{"portcullis_outbox_depth", nil, 4},
		{"portcullis_outbox_oldest_age_seconds", nil, 0.000001},
		{"portcullis_outbox_dead_letters", nil, 0},
		// The standard collectors.
		{"go_goroutines", nil, 1},
		{"process_start_time_seconds", nil, 1},
	} {
		v, ok := s.value(c.name, c.labels...)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present: %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if t.Failed() {
		t.Logf("the scrape:\n%s", s.raw)
	}

	// Nothing about the user: grep the whole scrape, names and help
	// included.
	for _, planted := range []string{user, ip, password} {
		if strings.Contains(s.raw, planted) {
			t.Errorf("the scrape contains %q", planted)
		}
	}
	for _, smp := range s.samples {
		if route, ok := smp.labels["route"]; ok && strings.Contains(route, "/") && !strings.Contains(route, " ") {
			t.Errorf("a route label is a raw path: %s %v", smp.name, smp.labels)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("skipping promtool check metrics: promtool is not on PATH (Debian's prometheus package has it)")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(s.raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
