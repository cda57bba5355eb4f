package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LoginBuckets are the buckets of whole logins and HTTP requests, in
// seconds: from half a millisecond (a login answered without hashing a
// password, such as a lockout's refusal) to 5 s (a slow hash behind a
// queue). Password hashing
// dominates a login and is tuned to tens to hundreds of milliseconds, so
// the buckets are densest there; a login slower than 5 s is broken
// whatever its exact time.
var LoginBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// BackendCallBuckets are the buckets of one call from the chain to a
// backend, in seconds: from 100 µs (a lockout check or an in-process
// answer) to 10 s (the longest backend timeout worth configuring), so that
// a timing-out backend lands in a bucket of its own rather than +Inf.
var BackendCallBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram counts observations (durations, in seconds) into buckets, per
// label combination.
type Histogram struct {
	labels []string
	vec    *prometheus.HistogramVec
}

// Histogram returns the histogram with this name, creating it on first
// use with help, buckets (upper bounds, ascending) and labels.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *Histogram {
	return lookup(r, name, func() (*Histogram, prometheus.Collector) {
		h := &Histogram{labels: labels, vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)}
		if len(labels) == 0 {
			h.vec.WithLabelValues()
		}
		return h, h.vec
	})
}

// Observe records v for the given label values; values that do not match
// the labels are dropped (see Counter.Add).
func (h *Histogram) Observe(v float64, labelValues ...string) {
	if o, err := h.vec.GetMetricWithLabelValues(labelValues...); err == nil {
		o.Observe(v)
	}
}

// Since records the time since start, in seconds.
func (h *Histogram) Since(start time.Time, labelValues ...string) {
	h.Observe(time.Since(start).Seconds(), labelValues...)
}

// Count returns how many observations the given label values have had.
// It walks every series: for tests and rare reads.
func (h *Histogram) Count(labelValues ...string) uint64 {
	if m, ok := find(h.vec, h.labels, labelValues); ok {
		return m.GetHistogram().GetSampleCount()
	}
	return 0
}
