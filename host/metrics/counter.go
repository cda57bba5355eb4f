package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Counter is a monotonically increasing count per label combination.
type Counter struct {
	name   string
	labels []string
	vec    *prometheus.CounterVec
}

// Counter returns the counter with this name, creating it on first use
// with help and labels (later calls return it whatever they pass). A
// counter without labels is written as 0 until it counts, so that a
// rate over it exists from the start.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	return lookup(r, name, func() (*Counter, prometheus.Collector) {
		c := &Counter{name: name, labels: labels, vec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)}
		if len(labels) == 0 {
			c.vec.WithLabelValues()
		}
		return c, c.vec
	})
}

// Inc adds one for the given label values (one per label, in order).
func (c *Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Add adds n for the given label values. Values that do not match the
// counter's labels are dropped rather than panicking: a mistake in
// counting must not fail the login being counted.
func (c *Counter) Add(n uint64, labelValues ...string) {
	if m, err := c.vec.GetMetricWithLabelValues(labelValues...); err == nil {
		m.Add(float64(n))
	}
}

// Value returns the count for the given label values (0 for a series not
// written yet). It walks every series: for tests and rare reads.
func (c *Counter) Value(labelValues ...string) uint64 {
	if m, ok := find(c.vec, c.labels, labelValues); ok {
		return uint64(m.GetCounter().GetValue())
	}
	return 0
}
