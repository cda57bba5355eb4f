package host

import (
	"context"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/supervisor"
)

// gaugeTTL is how long a gauge read from the database is kept: however
// often /metrics is scraped (several Prometheus servers, a scrape storm),
// each such gauge costs the database one query per gaugeTTL.
const gaugeTTL = 10 * time.Second

// gaugeReadTimeout bounds a gauge's query, so that a slow database
// cannot hold a scrape (and the scrapes queued behind it) for long.
const gaugeReadTimeout = 5 * time.Second

// backendCalls returns the chains' observer of backend calls.
func (h *Host) backendCalls() chain.CallObserver {
	calls := h.metrics.Histogram("portcullis_backend_call_duration_seconds",
		"Time of each call from the login chain to a backend, by backend and result.", metrics.BackendCallBuckets, "backend", "result")
	return func(backend, result string, took time.Duration) { calls.Observe(took.Seconds(), backend, result) }
}

// limiterNames are the names of the links that enforce attempt rules.
func limiterNames(links ...[]chain.Link) []string {
	var names []string
	for _, ls := range links {
		for _, l := range ls {
			if l.Limiter != nil {
				names = append(names, l.Name)
			}
		}
	}
	return names
}

// registerGauges registers the gauges read at scrape time: the plugins'
// states, and from the database the locked lockout counters of limiters
// and the signal outbox.
func (h *Host) registerGauges(limiters []string) {
	h.metrics.GaugeFunc("portcullis_plugin_up", "1 while the plugin process of the backend (or signal subscriber) is running and ready, else 0.",
		func() ([]metrics.Sample, error) {
			statuses := h.sup.Statuses()
			out := make([]metrics.Sample, len(statuses))
			for i, st := range statuses {
				out[i] = metrics.Sample{Labels: []string{st.Name}}
				if st.State == supervisor.StateRunning {
					out[i].Value = 1
				}
			}
			return out, nil
		}, "backend")

	locked := metrics.NewCache(gaugeTTL, func() (map[string]int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeReadTimeout)
		defer cancel()
		return h.store.LockedCounters(ctx, limiters)
	})
	h.metrics.GaugeFunc("portcullis_lockout_locked_keys", "Lockout counters at or past their limit (clients locked out now), by backend.",
		func() ([]metrics.Sample, error) {
			n, err := locked.Get()
			if err != nil {
				return nil, err
			}
			out := make([]metrics.Sample, len(limiters))
			for i, name := range limiters {
				out[i] = metrics.Sample{Labels: []string{name}, Value: float64(n[name])}
			}
			return out, nil
		}, "backend")

	outbox := metrics.NewCache(gaugeTTL, func() (storage.OutboxStats, error) {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeReadTimeout)
		defer cancel()
		return h.store.OutboxStats(ctx)
	})
	outboxGauge := func(read func(storage.OutboxStats) float64) func() ([]metrics.Sample, error) {
		return func() ([]metrics.Sample, error) {
			st, err := outbox.Get()
			if err != nil {
				return nil, err
			}
			return []metrics.Sample{{Value: read(st)}}, nil
		}
	}
	h.metrics.GaugeFunc("portcullis_outbox_depth", "Async signal deliveries waiting for a first or a further attempt.",
		outboxGauge(func(st storage.OutboxStats) float64 { return float64(st.Pending) }))
	h.metrics.GaugeFunc("portcullis_outbox_oldest_age_seconds", "Age of the oldest waiting signal delivery (the delivery lag); 0 when none waits.",
		outboxGauge(func(st storage.OutboxStats) float64 {
			if st.OldestPending.IsZero() {
				return 0
			}
			return max(time.Since(st.OldestPending).Seconds(), 0)
		}))
	h.metrics.GaugeFunc("portcullis_outbox_dead_letters", "Async signal deliveries given up on, waiting for an operator's retry.",
		outboxGauge(func(st storage.OutboxStats) float64 { return float64(st.Dead) }))
}
