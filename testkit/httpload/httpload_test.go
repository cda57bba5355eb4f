package httpload

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// server answers every POST with status and a small JSON body, counting the
// requests, the bodies it was sent and the connections it accepted.
type server struct {
	*httptest.Server
	requests, conns atomic.Int64
	mu              sync.Mutex
	bodies          map[string]int
}

func newServer(t *testing.T, h func(w http.ResponseWriter, n int64)) *server {
	s := &server{bodies: map[string]int{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies[r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.UserAgent()+" "+string(body)]++
		s.mu.Unlock()
		h(w, s.requests.Add(1))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) addr() string { return strings.TrimPrefix(s.URL, "http://") }

func answer(status int) func(http.ResponseWriter, int64) {
	return func(w http.ResponseWriter, _ int64) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"locked_out","error_description":"Too many failed attempts."}`)
	}
}

func TestRunCountsEveryRequestOverKeptAliveConnections(t *testing.T) {
	s := newServer(t, answer(http.StatusTooManyRequests))
	body := []byte(`{"username":"victim","password":"wrong"}`)
	res := Run(context.Background(), Options{
		Addr: s.addr(), Conns: 8, Requests: 1000, Want: http.StatusTooManyRequests,
		Request: Request(s.addr(), "/v1/login", "application/json", body),
	})
	if res.Matched != 1000 || res.Other != 0 || res.FirstErr != nil {
		t.Fatalf("result %+v, want 1000 matched", res)
	}
	if got := s.requests.Load(); got != 1000 {
		t.Errorf("server saw %d requests, want 1000", got)
	}
	if got := s.conns.Load(); got != 8 {
		t.Errorf("server accepted %d connections, want 8 kept alive", got)
	}
	want := "POST /v1/login application/json " + UserAgent + " " + string(body)
	if s.bodies[want] != 1000 || len(s.bodies) != 1 {
		t.Errorf("server saw %v, want 1000 × %q", s.bodies, want)
	}
}

func TestRunSendsEachConnectionItsOwnRequest(t *testing.T) {
	s := newServer(t, answer(http.StatusOK))
	var reqs [][]byte
	for _, u := range []string{"alice", "bob", "carol"} {
		reqs = append(reqs, Request(s.addr(), "/v1/login", "application/json", []byte(`{"username":"`+u+`"}`)))
	}
	// Six connections, each sending one request at a time: every body is
	// sent, by two connections each.
	res := Run(context.Background(), Options{Addr: s.addr(), Conns: 6, Requests: 600, Want: http.StatusOK, PerConn: reqs})
	if res.Matched != 600 || res.FirstErr != nil {
		t.Fatalf("result %+v, want 600 matched", res)
	}
	if len(s.bodies) != 3 {
		t.Fatalf("server saw %d kinds of request, want 3: %v", len(s.bodies), s.bodies)
	}
	for body, n := range s.bodies {
		if n < 20 {
			t.Errorf("%q was sent %d times of 600: the connections did not each send their own", body, n)
		}
	}
}

func TestRunReportsOtherStatuses(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, n int64) {
		if n%10 == 0 {
			answer(http.StatusOK)(w, n)
			return
		}
		answer(http.StatusTooManyRequests)(w, n)
	})
	res := Run(context.Background(), Options{
		Addr: s.addr(), Conns: 1, Requests: 100, Want: http.StatusTooManyRequests,
		Request: Request(s.addr(), "/", "application/json", []byte(`{}`)),
	})
	if res.Matched != 90 || res.Other != 10 {
		t.Fatalf("result %+v, want 90 matched and 10 other", res)
	}
	if res.FirstErr == nil || res.FirstErr.Error() != "status 200, want 429" {
		t.Errorf("first error %v, want status 200, want 429", res.FirstErr)
	}
}

func TestRunDialsAgainWhenTheServerCloses(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, n int64) {
		if n%3 == 0 {
			w.Header().Set("Connection", "close")
		}
		answer(http.StatusTooManyRequests)(w, n)
	})
	res := Run(context.Background(), Options{
		Addr: s.addr(), Conns: 1, Requests: 30, Want: http.StatusTooManyRequests,
		Request: Request(s.addr(), "/", "application/json", []byte(`{}`)),
	})
	if res.Matched != 30 || res.FirstErr != nil {
		t.Fatalf("result %+v, want 30 matched", res)
	}
	if got := s.conns.Load(); got != 10 {
		t.Errorf("server accepted %d connections, want 10 (closed after every third answer)", got)
	}
}

func TestRunRefusesAnAnswerWithoutLength(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ int64) {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, "part")
		w.(http.Flusher).Flush() // chunked from here on
		_, _ = io.WriteString(w, "rest")
	})
	res := Run(context.Background(), Options{
		Addr: s.addr(), Conns: 1, Requests: 3, Want: http.StatusTooManyRequests,
		Request: Request(s.addr(), "/", "application/json", []byte(`{}`)),
	})
	if res.Matched != 0 || res.Other != 3 || res.FirstErr != errChunked {
		t.Fatalf("result %+v, want 3 failures with %v", res, errChunked)
	}
}

func TestRunFailsWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := Run(context.Background(), Options{
		Addr: addr, Conns: 2, Requests: 4, Want: http.StatusTooManyRequests,
		Request: Request(addr, "/", "application/json", []byte(`{}`)),
	})
	if res.Matched != 0 || res.Other != 4 || res.FirstErr == nil {
		t.Fatalf("result %+v, want 4 failures", res)
	}
}
