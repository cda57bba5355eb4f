package metrics

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scrape serves GET /metrics from r and returns the status and body.
func scrape(t *testing.T, r *Registry) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler(slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestCountersAndText(t *testing.T) {
	r := New()
	c := r.Counter("portcullis_logins_total", "Logins by outcome.", "outcome")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Inc("success") }()
	}
	wg.Wait()
	c.Add(3, `fail"ed`)
	if c.Value("success") != 50 || c.Value("nothing") != 0 {
		t.Fatalf("values: %d %d", c.Value("success"), c.Value("nothing"))
	}
	if r.Counter("portcullis_logins_total", "", "outcome") != c {
		t.Fatal("the same name gave another counter")
	}
	status, text := scrape(t, r)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		"# HELP portcullis_logins_total Logins by outcome.\n# TYPE portcullis_logins_total counter\n",
		"portcullis_logins_total{outcome=\"fail\\\"ed\"} 3\nportcullis_logins_total{outcome=\"success\"} 50\n",
		// The standard collectors every Go dashboard expects.
		"\ngo_goroutines ", "\nprocess_start_time_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %q:\n%s", want, text)
		}
	}
	// Reading a series never written does not make it appear.
	if strings.Contains(text, "nothing") {
		t.Errorf("reading a series made it:\n%s", text)
	}
}

func TestUnlabeledMetricsStartAtZero(t *testing.T) {
	r := New()
	r.Counter("portcullis_shed_total", "Shed.")
	r.Histogram("portcullis_wait_seconds", "Waits.", []float64{1})
	_, text := scrape(t, r)
	for _, want := range []string{"\nportcullis_shed_total 0\n", "\nportcullis_wait_seconds_count 0\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %q:\n%s", want, text)
		}
	}
}

func TestWrongLabelCountIsDropped(t *testing.T) {
	r := New()
	c := r.Counter("portcullis_x_total", "X.", "a", "b")
	h := r.Histogram("portcullis_y_seconds", "Y.", LoginBuckets, "a")
	g := r.Gauge("portcullis_z", "Z.", "a")
	c.Inc("only-one")
	c.Inc("1", "2", "3")
	h.Observe(1)
	g.Set(1, "1", "2")
	c.Inc("1", "2")
	if c.Value("1", "2") != 1 || c.Value("only-one") != 0 || h.Count() != 0 || g.Value("1", "2") != 0 {
		t.Fatalf("values: %d %d %d %v", c.Value("1", "2"), c.Value("only-one"), h.Count(), g.Value("1", "2"))
	}
}

func TestHistogram(t *testing.T) {
	r := New()
	h := r.Histogram("portcullis_login_duration_seconds", "Logins.", LoginBuckets, "outcome")
	h.Observe(0.003, "success")
	h.Since(time.Now().Add(-2*time.Second), "success")
	h.Observe(9, "denied")
	if h.Count("success") != 2 || h.Count("denied") != 1 || h.Count("busy") != 0 {
		t.Fatalf("counts: %d %d %d", h.Count("success"), h.Count("denied"), h.Count("busy"))
	}
	_, text := scrape(t, r)
	for _, want := range []string{
		"# TYPE portcullis_login_duration_seconds histogram\n",
		`portcullis_login_duration_seconds_bucket{outcome="success",le="0.0025"} 0` + "\n",
		`portcullis_login_duration_seconds_bucket{outcome="success",le="0.005"} 1` + "\n",
		`portcullis_login_duration_seconds_bucket{outcome="success",le="2.5"} 2` + "\n",
		`portcullis_login_duration_seconds_bucket{outcome="denied",le="5"} 0` + "\n",
		`portcullis_login_duration_seconds_bucket{outcome="denied",le="+Inf"} 1` + "\n",
		`portcullis_login_duration_seconds_count{outcome="success"} 2` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %q:\n%s", want, text)
		}
	}
}

func TestGauges(t *testing.T) {
	r := New()
	g := r.Gauge("portcullis_things", "Things.", "kind")
	g.Set(3, "a")
	g.Add(-1, "a")
	if g.Value("a") != 2 {
		t.Fatalf("gauge: %v", g.Value("a"))
	}
	var up atomic.Int64
	r.GaugeFunc("portcullis_plugin_up", "Up.", func() ([]Sample, error) {
		return []Sample{{Labels: []string{"local"}, Value: float64(up.Load())}, {Labels: []string{"sso"}, Value: 1}}, nil
	}, "backend")
	var fail atomic.Bool
	r.GaugeFunc("portcullis_outbox_depth", "Depth.", func() ([]Sample, error) {
		if fail.Load() {
			return nil, errors.New("database is down")
		}
		return []Sample{{Value: 7}}, nil
	})
	_, text := scrape(t, r)
	for _, want := range []string{
		`portcullis_things{kind="a"} 2`, `portcullis_plugin_up{backend="local"} 0`, `portcullis_plugin_up{backend="sso"} 1`,
		"# TYPE portcullis_outbox_depth gauge\nportcullis_outbox_depth 7\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %q:\n%s", want, text)
		}
	}
	// Read at every scrape.
	up.Store(1)
	if _, text = scrape(t, r); !strings.Contains(text, `portcullis_plugin_up{backend="local"} 1`) {
		t.Errorf("the gauge function was not read again:\n%s", text)
	}
	// A failing one is left out; the rest is served.
	fail.Store(true)
	status, text := scrape(t, r)
	if status != http.StatusOK || strings.Contains(text, "portcullis_outbox_depth") || !strings.Contains(text, `portcullis_plugin_up{backend="sso"} 1`) {
		t.Errorf("with a failing gauge function: %d\n%s", status, text)
	}
	if _, text = scrape(t, r); !strings.Contains(text, `promhttp_metric_handler_errors_total{cause="gathering"} `) {
		t.Errorf("the failure was not counted:\n%s", text)
	}
}

func TestKindMismatchPanics(t *testing.T) {
	r := New()
	r.Counter("portcullis_a_total", "A.")
	defer func() {
		if recover() == nil {
			t.Fatal("asking for a counter as a histogram did not panic")
		}
	}()
	r.Histogram("portcullis_a_total", "A.", LoginBuckets)
}

func TestGaugeFuncTwicePanics(t *testing.T) {
	r := New()
	read := func() ([]Sample, error) { return nil, nil }
	r.GaugeFunc("portcullis_up", "Up.", read)
	defer func() {
		if recover() == nil {
			t.Fatal("a second gauge function of the same name did not panic")
		}
	}()
	r.GaugeFunc("portcullis_up", "Up.", read)
}

func TestLint(t *testing.T) {
	r := New()
	r.Counter("portcullis_logins_total", "Logins.", "outcome", "backend").Inc("success", "local")
	r.Histogram("portcullis_backend_call_duration_seconds", "Calls.", BackendCallBuckets, "backend", "result").Observe(0.01, "local", "identity")
	r.GaugeFunc("portcullis_outbox_oldest_age_seconds", "Age.", func() ([]Sample, error) { return []Sample{{Value: 1.5}}, nil })
	problems, err := testutil.GatherAndLint(r.Prometheus(), "portcullis_logins_total", "portcullis_backend_call_duration_seconds", "portcullis_outbox_oldest_age_seconds")
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}

func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	var loads atomic.Int64
	fail := false
	c := NewCache(10*time.Second, func() (int64, error) {
		n := loads.Add(1)
		time.Sleep(5 * time.Millisecond) // long enough for callers to pile up
		if fail {
			return 0, errors.New("down")
		}
		return n, nil
	})
	var mu sync.Mutex
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(); v != 1 || err != nil {
				t.Errorf("Get: %d %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("20 concurrent reads loaded %d times, want 1", n)
	}
	advance(9 * time.Second)
	if v, _ := c.Get(); v != 1 {
		t.Fatalf("within the ttl: %d", v)
	}
	advance(time.Second)
	if v, _ := c.Get(); v != 2 {
		t.Fatalf("after the ttl: %d", v)
	}
	fail = true
	advance(10 * time.Second)
	if _, err := c.Get(); err == nil {
		t.Fatal("the load's error was not returned")
	}
	if _, err := c.Get(); err == nil || loads.Load() != 3 {
		t.Fatalf("the error was not kept: %v, %d loads", err, loads.Load())
	}
}
