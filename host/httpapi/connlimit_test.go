package httpapi_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/metrics"
)

// limitedServer is an HTTP server on loopback behind a ConnLimiter.
type limitedServer struct {
	addr     string
	srv      *http.Server
	metrics  *metrics.Registry
	accepted atomic.Int64 // connections the server has been given
	served   chan error
}

// startLimitedServer serves handler with at most max connections and the
// given idle grace. Its header timeout is a minute: a connection is only
// closed sooner by the limiter.
func startLimitedServer(t *testing.T, max int, grace time.Duration, handler http.Handler) *limitedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &limitedServer{addr: ln.Addr().String(), metrics: metrics.New(), served: make(chan error, 1)}
	lim := httpapi.LimitConnections(ln, httpapi.ConnLimitOptions{Max: max, IdleGrace: grace, Logger: slog.New(slog.DiscardHandler), Metrics: s.metrics})
	s.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       time.Minute,
		ConnState: func(c net.Conn, state http.ConnState) {
			lim.ConnState(c, state)
			if state == http.StateNew {
				s.accepted.Add(1)
			}
		},
	}
	go func() { s.served <- s.srv.Serve(lim) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *limitedServer) shed() uint64 {
	return s.metrics.Counter("portcullis_connections_shed_total", "").Value()
}

// dialSilent opens a connection that sends nothing.
func dialSilent(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newClient is an HTTP client with its own connections.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) error {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

func TestConnLimiterHoldsAtMostMax(t *testing.T) {
	s := startLimitedServer(t, 3, time.Hour, okHandler)
	conns := make([]net.Conn, 10)
	for i := range conns {
		conns[i] = dialSilent(t, s.addr)
	}
	waitUntil(t, "3 connections to be accepted", func() bool { return s.accepted.Load() >= 3 })
	time.Sleep(200 * time.Millisecond)
	if n := s.accepted.Load(); n != 3 {
		t.Fatalf("%d of 10 connections accepted, want 3 (the others wait in the backlog)", n)
	}
	// A connection that ends gives its place to one that waited.
	_ = conns[0].Close()
	waitUntil(t, "a waiting connection to be accepted", func() bool { return s.accepted.Load() == 4 })
	time.Sleep(200 * time.Millisecond)
	if n := s.accepted.Load(); n != 4 {
		t.Fatalf("%d connections accepted after one of 3 ended, want 4", n)
	}
}

func TestConnLimiterShedsSilentConnections(t *testing.T) {
	s := startLimitedServer(t, 2, 100*time.Millisecond, okHandler)
	silent := []net.Conn{dialSilent(t, s.addr), dialSilent(t, s.addr)}
	waitUntil(t, "2 connections to be accepted", func() bool { return s.accepted.Load() == 2 })

	// Without shedding this would wait for the minute of the header
	// timeout (and the client's 10 s timeout fails it first).
	start := time.Now()
	if err := get(t, newClient(t), "http://"+s.addr+"/"); err != nil {
		t.Fatalf("a request while silent connections fill the limit: %v", err)
	}
	t.Logf("answered after %v", time.Since(start))
	if n := s.shed(); n < 1 {
		t.Errorf("portcullis_connections_shed_total = %d, want at least 1", n)
	}
	// The one that waited longest was closed by the server.
	_ = silent[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent[0].Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("reading the oldest silent connection: %v, want EOF (closed by the server)", err)
	}
}

func TestConnLimiterShedsKeptAliveConnections(t *testing.T) {
	s := startLimitedServer(t, 1, 100*time.Millisecond, okHandler)
	a, b := newClient(t), newClient(t)
	url := "http://" + s.addr + "/"
	if err := get(t, a, url); err != nil { // a keeps its connection alive
		t.Fatal(err)
	}
	if err := get(t, b, url); err != nil {
		t.Fatalf("a second client while the first one's idle connection fills the limit: %v", err)
	}
	if err := get(t, a, url); err != nil {
		t.Fatalf("the first client again: %v", err)
	}
	if n := s.shed(); n != 2 {
		t.Errorf("portcullis_connections_shed_total = %d, want 2", n)
	}
}

func TestConnLimiterNeverShedsActiveConnections(t *testing.T) {
	entered := make(chan struct{}, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "ok")
	})
	s := startLimitedServer(t, 1, 20*time.Millisecond, handler)
	slow := make(chan error, 1)
	go func() { slow <- get(t, newClient(t), "http://"+s.addr+"/slow") }()
	<-entered
	if err := get(t, newClient(t), "http://"+s.addr+"/fast"); err != nil {
		t.Fatalf("the request that waited: %v", err)
	}
	if err := <-slow; err != nil {
		t.Fatalf("the request in progress at the limit was cut: %v", err)
	}
}

func TestConnLimiterCloseStopsAWaitingAccept(t *testing.T) {
	s := startLimitedServer(t, 1, time.Hour, okHandler)
	dialSilent(t, s.addr)
	dialSilent(t, s.addr)
	waitUntil(t, "1 connection to be accepted", func() bool { return s.accepted.Load() == 1 })
	_ = s.srv.Close()
	select {
	case err := <-s.served:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want http.ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close while Accept waited for a place")
	}
}
