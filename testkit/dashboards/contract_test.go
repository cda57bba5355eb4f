package dashboards

// kind is how a metric family is exposed, which decides the names of its
// series and the labels they add.
type kind int

const (
	counter kind = iota
	gauge
	histogram // name_bucket{le}, name_sum, name_count
	summary   // name{quantile}, name_sum, name_count
)

type family struct {
	kind   kind
	labels []string
}

// contract is every metric a Portcullis host exports, with its labels. It is the
// one place the tests name them; docs/metrics.md is its source, so change the
// two together. The go_ and process_ families are the ones the standard Go and
// process collectors of the Prometheus client export; only those a dashboard or
// rule may reasonably use are listed.
var contract = map[string]family{
	"portcullis_logins_total":                      {counter, []string{"outcome", "backend"}},
	"portcullis_logins_refused_total":              {counter, []string{"reason"}},
	"portcullis_connections_shed_total":            {counter, nil},
	"portcullis_plugin_restarts_total":             {counter, []string{"backend"}},
	"portcullis_plugin_calls_total":                {counter, []string{"backend", "direction", "method"}},
	"portcullis_signals_emitted_total":             {counter, []string{"signal"}},
	"portcullis_signal_sync_failures_total":        {counter, []string{"subscriber", "signal"}},
	"portcullis_signal_enqueue_errors_total":       {counter, []string{"signal"}},
	"portcullis_signal_deliveries_total":           {counter, []string{"subscriber", "result"}},
	"portcullis_lockout_refusals_total":            {counter, []string{"backend"}},
	"portcullis_lockouts_total":                    {counter, []string{"backend"}},
	"portcullis_tokens_issued_total":               {counter, []string{"kind"}},
	"portcullis_token_verification_failures_total": {counter, []string{"error_type"}},
	"portcullis_http_requests_total":               {counter, []string{"route", "method", "status"}},

	"portcullis_login_duration_seconds":        {histogram, []string{"outcome"}},
	"portcullis_backend_call_duration_seconds": {histogram, []string{"backend", "result"}},
	"portcullis_http_request_duration_seconds": {histogram, []string{"route", "method"}},

	"portcullis_plugin_up":                 {gauge, []string{"backend"}},
	"portcullis_lockout_locked_keys":       {gauge, []string{"backend"}},
	"portcullis_outbox_depth":              {gauge, nil},
	"portcullis_outbox_oldest_age_seconds": {gauge, nil},
	"portcullis_outbox_dead_letters":       {gauge, nil},

	"go_goroutines":                 {gauge, nil},
	"go_threads":                    {gauge, nil},
	"go_info":                       {gauge, []string{"version"}},
	"go_gc_duration_seconds":        {summary, nil},
	"go_memstats_alloc_bytes":       {gauge, nil},
	"go_memstats_alloc_bytes_total": {counter, nil},
	"go_memstats_sys_bytes":         {gauge, nil},
	"go_memstats_heap_alloc_bytes":  {gauge, nil},
	"go_memstats_heap_inuse_bytes":  {gauge, nil},
	"go_memstats_heap_objects":      {gauge, nil},
	"go_memstats_next_gc_bytes":     {gauge, nil},
	"process_cpu_seconds_total":     {counter, nil},
	"process_open_fds":              {gauge, nil},
	"process_max_fds":               {gauge, nil},
	"process_resident_memory_bytes": {gauge, nil},
	"process_virtual_memory_bytes":  {gauge, nil},
	"process_start_time_seconds":    {gauge, nil},
}

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"job", "instance"}

// seriesInfo is what a series name in an expression refers to.
type seriesInfo struct {
	family string
	labels map[string]bool
}

// seriesNames maps every series name a query may select to its family and
// labels: a histogram's base name selects nothing, only its _bucket, _sum and
// _count series do.
func seriesNames() map[string]seriesInfo {
	out := map[string]seriesInfo{}
	for name, f := range contract {
		base := map[string]bool{"__name__": true}
		for _, l := range targetLabels {
			base[l] = true
		}
		for _, l := range f.labels {
			base[l] = true
		}
		with := func(extra string) map[string]bool {
			m := map[string]bool{}
			for l := range base {
				m[l] = true
			}
			if extra != "" {
				m[extra] = true
			}
			return m
		}
		switch f.kind {
		case counter, gauge:
			out[name] = seriesInfo{name, with("")}
		case histogram:
			out[name+"_bucket"] = seriesInfo{name, with("le")}
			out[name+"_sum"] = seriesInfo{name, with("")}
			out[name+"_count"] = seriesInfo{name, with("")}
		case summary:
			out[name] = seriesInfo{name, with("quantile")}
			out[name+"_sum"] = seriesInfo{name, with("")}
			out[name+"_count"] = seriesInfo{name, with("")}
		}
	}
	return out
}
