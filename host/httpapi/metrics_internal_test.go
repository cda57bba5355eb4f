package httpapi

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/portcullis-auth/portcullis/host/metrics"
)

// A layer between the API and its ServeMux (tracing) may hand the mux a
// copy of the request, on which the mux then sets the pattern: the route
// is still the endpoint's.
func TestRouteOfARequestServedAsACopy(t *testing.T) {
	type key struct{}
	for _, tt := range []struct{ host, path, want string }{
		{"auth.example", "/healthz", "GET /healthz"},
		{"auth.example", "/no/such/thing", routeUnmatched},
		{"elsewhere.example", "/healthz", routeUnmatched}, // never reaches the mux
	} {
		s := New(Options{Metrics: metrics.New(), Logger: slog.New(slog.DiscardHandler), AllowedHosts: []string{"auth.example"}})
		r := httptest.NewRequest("GET", "http://"+tt.host+tt.path, nil)
		w, done := s.measure(httptest.NewRecorder())
		if s.hostAllowed(r.Host) {
			s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, 1)))
		}
		done(r)
		if r.Pattern != "" {
			t.Fatal("the mux set the pattern on the original request: the test shows nothing")
		}
		status := strconv.Itoa(w.(*statusWriter).answered())
		if n := s.metrics.requests.Value(tt.want, "GET", status); n != 1 {
			t.Errorf("%s%s: no request counted with route %q and status %s", tt.host, tt.path, tt.want, status)
		}
	}
}
