// Package metrics keeps the host's counters and writes them in the
// Prometheus text format for GET /metrics. It is deliberately small: named
// counters with labels, nothing else.
package metrics

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds counters. The zero value is not usable; use New.
type Registry struct {
	mu       sync.Mutex
	counters map[string]*Counter
}

// New returns an empty registry.
func New() *Registry { return &Registry{counters: map[string]*Counter{}} }

// Counter is a monotonically increasing count per label combination.
type Counter struct {
	name, help string
	labels     []string
	mu         sync.RWMutex
	values     map[string]*atomic.Uint64
}

// Counter returns the counter with this name, creating it on first use.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.counters[name]; ok {
		return c
	}
	c := &Counter{name: name, help: help, labels: labels, values: map[string]*atomic.Uint64{}}
	r.counters[name] = c
	return c
}

// Inc adds one for the given label values (one per label, in order).
func (c *Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Add adds n for the given label values.
func (c *Counter) Add(n uint64, labelValues ...string) {
	key := strings.Join(labelValues, "\x00")
	c.mu.RLock()
	v, ok := c.values[key]
	c.mu.RUnlock()
	if !ok {
		c.mu.Lock()
		if v, ok = c.values[key]; !ok {
			v = &atomic.Uint64{}
			c.values[key] = v
		}
		c.mu.Unlock()
	}
	v.Add(n)
}

// Value returns the count for the given label values.
func (c *Counter) Value(labelValues ...string) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v, ok := c.values[strings.Join(labelValues, "\x00")]; ok {
		return v.Load()
	}
	return 0
}

// WriteText writes every counter in the Prometheus text exposition format.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.counters))
	for n := range r.counters {
		names = append(names, n)
	}
	r.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		r.mu.Lock()
		c := r.counters[n]
		r.mu.Unlock()
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name); err != nil {
			return err
		}
		c.mu.RLock()
		keys := make([]string, 0, len(c.values))
		for k := range c.values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s%s %d\n", c.name, c.labelText(k), c.values[k].Load())
		}
		c.mu.RUnlock()
	}
	return nil
}

func (c *Counter) labelText(key string) string {
	if len(c.labels) == 0 {
		return ""
	}
	vals := strings.Split(key, "\x00")
	parts := make([]string, len(c.labels))
	for i, l := range c.labels {
		v := ""
		if i < len(vals) {
			v = vals[i]
		}
		v = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
		parts[i] = fmt.Sprintf(`%s="%s"`, l, v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
