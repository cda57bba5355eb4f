// Package metrics keeps the host's metrics and serves them on GET /metrics
// in the Prometheus text format. It is a thin layer over
// github.com/prometheus/client_golang: callers ask a Registry for a metric
// by name and get the same one back on every call, so that a test can read
// a counter by its name without holding the component that counts it.
//
// Label values must be bounded (backend names and fixed enums): every new
// value is a new series in the operator's Prometheus, kept for weeks.
// Never label with a username, an address, a token or an id.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Registry holds the metrics. The zero value is not usable; use New.
type Registry struct {
	reg *prometheus.Registry

	mu      sync.Mutex
	metrics map[string]any // *Counter, *Histogram, *Gauge or *gaugeFunc, by name

	handlerOnce sync.Once
	handler     http.Handler
}

// New returns a registry holding the Go runtime's and the process's
// standard metrics (go_*, process_*), which every Prometheus dashboard
// expects of a Go program.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), metrics: map[string]any{}}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Prometheus returns the underlying registry, for collectors this package
// does not wrap.
func (r *Registry) Prometheus() *prometheus.Registry { return r.reg }

// Handler serves the registry for GET /metrics. A metric that cannot be
// collected (a gauge function whose database read failed) is left out
// and logged to log, and the rest is served: one failing source must not
// blind every dashboard.
func (r *Registry) Handler(log *slog.Logger) http.Handler {
	r.handlerOnce.Do(func() {
		if log == nil {
			log = slog.Default()
		}
		r.handler = promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
			ErrorLog:      errorLog{log},
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      r.reg, // counts its own errors: promhttp_metric_handler_errors_total
		})
	})
	return r.handler
}

// errorLog writes promhttp's errors as warnings.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) { l.log.Warn("serving /metrics: " + fmt.Sprint(v...)) }

// lookup returns the metric named name, making it with build and
// registering it on first use. The same name asked for as another kind of
// metric is a programming error, and panics.
func lookup[M any](r *Registry, name string, build func() (M, prometheus.Collector)) M {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.metrics[name]; ok {
		typed, ok := m.(M)
		if !ok {
			panic(fmt.Sprintf("metrics: %s is a %T, not a %T", name, m, typed))
		}
		return typed
	}
	m, c := build()
	r.reg.MustRegister(c)
	r.metrics[name] = m
	return m
}

// find reads the series of c whose labels (names, in order) have values,
// without making it: reading a series that was never written must not
// make it appear on /metrics. It is a walk of every series, for tests and
// rare reads, not for a hot path.
func find(c prometheus.Collector, names, values []string) (*dto.Metric, bool) {
	if len(names) != len(values) {
		return nil, false
	}
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var found *dto.Metric
	for m := range ch {
		if found != nil {
			continue // drain, so the collecting goroutine ends
		}
		var d dto.Metric
		if m.Write(&d) != nil || !sameLabels(d.GetLabel(), names, values) {
			continue
		}
		found = &d
	}
	return found, found != nil
}

func sameLabels(pairs []*dto.LabelPair, names, values []string) bool {
	if len(pairs) != len(names) {
		return false
	}
	for _, p := range pairs {
		i := slices.Index(names, p.GetName())
		if i < 0 || values[i] != p.GetValue() {
			return false
		}
	}
	return true
}
