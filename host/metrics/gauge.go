package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Gauge is a value that goes up and down, per label combination.
type Gauge struct {
	labels []string
	vec    *prometheus.GaugeVec
}

// Gauge returns the gauge with this name, creating it on first use with
// help and labels.
func (r *Registry) Gauge(name, help string, labels ...string) *Gauge {
	return lookup(r, name, func() (*Gauge, prometheus.Collector) {
		g := &Gauge{labels: labels, vec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)}
		if len(labels) == 0 {
			g.vec.WithLabelValues()
		}
		return g, g.vec
	})
}

// Set sets the value for the given label values; values that do not
// match the labels are dropped (see Counter.Add).
func (g *Gauge) Set(v float64, labelValues ...string) {
	if m, err := g.vec.GetMetricWithLabelValues(labelValues...); err == nil {
		m.Set(v)
	}
}

// Add adds v (which may be negative) for the given label values.
func (g *Gauge) Add(v float64, labelValues ...string) {
	if m, err := g.vec.GetMetricWithLabelValues(labelValues...); err == nil {
		m.Add(v)
	}
}

// Value returns the value for the given label values (0 for a series not
// set yet). It walks every series: for tests and rare reads.
func (g *Gauge) Value(labelValues ...string) float64 {
	if m, ok := find(g.vec, g.labels, labelValues); ok {
		return m.GetGauge().GetValue()
	}
	return 0
}

// Sample is one series of a gauge function: its label values (one per
// label, in order) and its value.
type Sample struct {
	Labels []string
	Value  float64
}

// GaugeFunc registers a gauge whose series read returns at each scrape,
// for a value that lives elsewhere (a plugin's state, a table's size)
// and would go stale if copied into a Gauge. An error leaves the gauge
// out of that scrape (Handler logs it) rather than showing a value that
// is not known. A read that costs a query should be wrapped in a Cache.
// Registering the same name twice panics.
func (r *Registry) GaugeFunc(name, help string, read func() ([]Sample, error), labels ...string) {
	made := false
	lookup(r, name, func() (*gaugeFunc, prometheus.Collector) {
		made = true
		g := &gaugeFunc{desc: prometheus.NewDesc(name, help, labels, nil), read: read}
		return g, g
	})
	if !made { // a second read for the same gauge would be silently ignored
		panic("metrics: gauge function " + name + " registered twice")
	}
}

// gaugeFunc is a GaugeFunc's collector.
type gaugeFunc struct {
	desc *prometheus.Desc
	read func() ([]Sample, error)
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	samples, err := g.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	for _, s := range samples {
		m, err := prometheus.NewConstMetric(g.desc, prometheus.GaugeValue, s.Value, s.Labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(g.desc, err)
		}
		ch <- m
	}
}

// Cache holds what a load returned for a while, so that a value read from
// the database at scrape time costs one query per ttl however many
// Prometheus servers (or a scrape storm) ask for it. It is safe for
// concurrent use: callers that arrive while a load runs wait for it
// rather than starting another.
type Cache[T any] struct {
	ttl  time.Duration
	load func() (T, error)
	now  func() time.Time

	mu     sync.Mutex
	loaded time.Time
	value  T
	err    error
}

// NewCache returns a Cache of load's result, kept for ttl. An error is
// kept for ttl too: a database that is down is not asked again at every
// scrape.
func NewCache[T any](ttl time.Duration, load func() (T, error)) *Cache[T] {
	return &Cache[T]{ttl: ttl, load: load, now: time.Now}
}

// Get returns the kept result, loading it first if it is older than ttl.
func (c *Cache[T]) Get() (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded.IsZero() || c.now().Sub(c.loaded) >= c.ttl {
		c.value, c.err = c.load()
		c.loaded = c.now()
	}
	return c.value, c.err
}
