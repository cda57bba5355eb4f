package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// holdingAuth is a backend that holds every login until open is called,
// then grants it. Each login's client address is sent on arrived when the
// login reaches it.
type holdingAuth struct {
	*fakeAuth
	arrived chan string
	release chan struct{}
	once    sync.Once
}

// newHoldingAuth returns a holding backend that opens when the test ends
// at the latest.
func newHoldingAuth(t *testing.T) *holdingAuth {
	h := &holdingAuth{arrived: make(chan string, 100), release: make(chan struct{})}
	t.Cleanup(h.open)
	h.fakeAuth = &fakeAuth{authenticate: func(ctx context.Context, req *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		h.arrived <- req.Client.IP
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.Grant(sdk.Identity{Subject: req.Username})
		return nil
	}}
	return h
}

// open lets every login held, and every later one, through.
func (h *holdingAuth) open() { h.once.Do(func() { close(h.release) }) }

// waitArrivals waits for n logins to reach the backend.
func (h *holdingAuth) waitArrivals(t *testing.T, n int) []string {
	t.Helper()
	var ips []string
	for range n {
		select {
		case ip := <-h.arrived:
			ips = append(ips, ip)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d logins reached the backend", len(ips), n)
		}
	}
	return ips
}

// recordedSignals records what the API emits.
type recordedSignals struct {
	mu   sync.Mutex
	args []any
}

func (r *recordedSignals) Emit(_ context.Context, _ string, args any) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.args = append(r.args, args)
	return ""
}

func (r *recordedSignals) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.args)
}

// limitedAPI is the API over one backend with login limits. Peers in
// 127.0.0.0/8 are trusted proxies.
type limitedAPI struct {
	handler http.Handler
	signals *recordedSignals
	metrics *metrics.Registry
}

func newLimitedAPI(t *testing.T, limits httpapi.LoginLimits, backend *fakeAuth) *limitedAPI {
	t.Helper()
	return newLimitedChainAPI(t, limits, func(*storage.Store) []chain.Link {
		return []chain.Link{{Name: "b0", Authenticator: backend, Timeout: 30 * time.Second}}
	})
}

// newLimitedChainAPI is newLimitedAPI over the chain of links.
func newLimitedChainAPI(t testing.TB, limits httpapi.LoginLimits, links func(*storage.Store) []chain.Link) *limitedAPI {
	t.Helper()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	a := &limitedAPI{signals: &recordedSignals{}, metrics: metrics.New()}
	a.handler = httpapi.New(httpapi.Options{
		Chain:          chain.New(slog.New(slog.DiscardHandler), links(store)...),
		Tokens:         newIssuer(t, store, accessTTL, 24*time.Hour),
		Ready:          func(context.Context) (bool, any) { return true, nil },
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:         slog.New(slog.DiscardHandler),
		Signals:        a.signals,
		Metrics:        a.metrics,
		LoginLimits:    limits,
	})
	return a
}

// login sends a login for the client address ip, from a trusted proxy.
func (a *limitedAPI) login(ip string) *httptest.ResponseRecorder {
	body := fmt.Sprintf(`{"username": "u", "password": "pw", "client": {"ip": %q}}`, ip)
	return a.loginAs("127.0.0.1:9000", body, nil)
}

func (a *limitedAPI) loginAs(peer, body string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/v1/login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header[k] = v
	}
	r.RemoteAddr = peer
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	return w
}

// background sends a login in its own goroutine; its answer comes on the
// returned channel.
func background(f func() *httptest.ResponseRecorder) <-chan *httptest.ResponseRecorder {
	c := make(chan *httptest.ResponseRecorder, 1)
	go func() { c <- f() }()
	return c
}

func receive(t *testing.T, c <-chan *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	return receiveWithin(t, c, 10*time.Second)
}

func receiveWithin(t *testing.T, c <-chan *httptest.ResponseRecorder, d time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	select {
	case w := <-c:
		return w
	case <-time.After(d):
		t.Fatalf("no answer within %v", d)
		return nil
	}
}

// promptly sends a login that the limits must answer without letting it
// reach the (holding) backend: within 5 seconds, far more than any wait
// the tests configure.
func promptly(t *testing.T, f func() *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	return receiveWithin(t, background(f), 5*time.Second)
}

// checkRefusal checks a capacity refusal: its status, code and
// Retry-After.
func checkRefusal(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	checkError(t, w, status, code)
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
}

func TestLoginsPerAddress(t *testing.T) {
	tests := []struct {
		name string
		// held are logins that reach the backend and stay there; refused
		// are then refused, and other then gets in.
		held    []func(*limitedAPI) *httptest.ResponseRecorder
		refused func(*limitedAPI) *httptest.ResponseRecorder
		other   func(*limitedAPI) *httptest.ResponseRecorder
	}{
		{
			name:    "IPv4 address from a trusted proxy's client field",
			held:    repeatLogin(2, func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("203.0.113.5") }),
			refused: func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("203.0.113.5") },
			other:   func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("203.0.113.6") },
		},
		{
			name: "IPv6 addresses of one /64",
			held: []func(*limitedAPI) *httptest.ResponseRecorder{
				func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("2001:db8:1:2::1") },
				func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("2001:db8:1:2:ffff:ffff:ffff:fffe") },
			},
			refused: func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("2001:db8:1:2:abcd::9") },
			other:   func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("2001:db8:1:3::1") },
		},
		{
			name: "an IPv4-mapped address is its IPv4 address",
			held: []func(*limitedAPI) *httptest.ResponseRecorder{
				func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("198.51.100.7") },
				func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("::ffff:198.51.100.7") },
			},
			refused: func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("198.51.100.7") },
			other:   func(a *limitedAPI) *httptest.ResponseRecorder { return a.login("198.51.100.8") },
		},
		{
			name: "an untrusted peer is counted by its own address, whatever it claims",
			held: []func(*limitedAPI) *httptest.ResponseRecorder{
				func(a *limitedAPI) *httptest.ResponseRecorder {
					return a.loginAs("192.0.2.1:1000", `{"username": "u", "password": "pw", "client": {"ip": "203.0.113.1"}}`, nil)
				},
				func(a *limitedAPI) *httptest.ResponseRecorder {
					return a.loginAs("192.0.2.1:1001", `{"username": "u", "password": "pw"}`, http.Header{"X-Forwarded-For": {"203.0.113.2"}})
				},
			},
			refused: func(a *limitedAPI) *httptest.ResponseRecorder {
				return a.loginAs("192.0.2.1:1002", `{"username": "u", "password": "pw", "client": {"ip": "203.0.113.3"}}`, nil)
			},
			other: func(a *limitedAPI) *httptest.ResponseRecorder {
				return a.loginAs("192.0.2.2:1000", `{"username": "u", "password": "pw"}`, nil)
			},
		},
		{
			name: "X-Forwarded-For from a trusted proxy",
			held: repeatLogin(2, func(a *limitedAPI) *httptest.ResponseRecorder {
				return a.loginAs("127.0.0.1:1000", `{"username": "u", "password": "pw"}`, http.Header{"X-Forwarded-For": {"203.0.113.9"}})
			}),
			refused: func(a *limitedAPI) *httptest.ResponseRecorder {
				return a.loginAs("127.0.0.2:1000", `{"username": "u", "password": "pw"}`, http.Header{"X-Forwarded-For": {"203.0.113.9"}})
			},
			other: func(a *limitedAPI) *httptest.ResponseRecorder {
				return a.loginAs("127.0.0.1:1000", `{"username": "u", "password": "pw"}`, http.Header{"X-Forwarded-For": {"203.0.113.10"}})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := newHoldingAuth(t)
			a := newLimitedAPI(t, httpapi.LoginLimits{PerAddress: 2}, backend.fakeAuth)
			var held []<-chan *httptest.ResponseRecorder
			for _, f := range tt.held {
				held = append(held, background(func() *httptest.ResponseRecorder { return f(a) }))
			}
			backend.waitArrivals(t, len(tt.held))

			checkRefusal(t, promptly(t, func() *httptest.ResponseRecorder { return tt.refused(a) }), http.StatusTooManyRequests, "too_many_concurrent_logins")
			if n := backend.calls(); n != len(tt.held) {
				t.Errorf("the backend was asked %d times, want %d: the refused login reached it", n, len(tt.held))
			}
			if n := a.signals.count(); n != 0 {
				t.Errorf("%d signals sent for a refused login: %v", n, a.signals.args)
			}
			if n := a.metrics.Counter("portcullis_logins_refused_total", "", "reason").Value("per_address"); n != 1 {
				t.Errorf("portcullis_logins_refused_total{reason=per_address} = %d, want 1", n)
			}

			// Another address is not held back, and once the logins end the
			// address may log in again.
			other := background(func() *httptest.ResponseRecorder { return tt.other(a) })
			backend.waitArrivals(t, 1)
			backend.open()
			for _, c := range append(held, other) {
				if w := receive(t, c); w.Code != http.StatusOK {
					t.Errorf("held login: %d %s", w.Code, w.Body)
				}
			}
			if w := tt.refused(a); w.Code != http.StatusOK {
				t.Errorf("after the logins ended: %d %s, want 200", w.Code, w.Body)
			}
		})
	}
}

func repeatLogin(n int, f func(*limitedAPI) *httptest.ResponseRecorder) []func(*limitedAPI) *httptest.ResponseRecorder {
	out := make([]func(*limitedAPI) *httptest.ResponseRecorder, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// TestLoginsPerAddressCountsBadRequestsNot checks that a malformed login,
// answered 400 before admission, holds no place of its address.
func TestLoginsPerAddressCountsBadRequestsNot(t *testing.T) {
	a := newLimitedAPI(t, httpapi.LoginLimits{PerAddress: 1}, granting(sdk.Identity{Subject: "s"}))
	for range 3 {
		if w := a.loginAs("192.0.2.1:1", `{"username": ""}`, nil); w.Code != http.StatusBadRequest {
			t.Fatalf("bad login: %d %s", w.Code, w.Body)
		}
	}
	for range 3 {
		if w := a.loginAs("192.0.2.1:1", goodLogin, nil); w.Code != http.StatusOK {
			t.Fatalf("one login at a time: %d %s", w.Code, w.Body)
		}
	}
}

func TestLoginQueueFull(t *testing.T) {
	backend := newHoldingAuth(t)
	a := newLimitedAPI(t, httpapi.LoginLimits{Running: 1, Queued: 1, QueueWait: 30 * time.Second}, backend.fakeAuth)
	running := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.1") })
	backend.waitArrivals(t, 1)

	// Of two more logins, one takes the only place in the queue and the
	// other is refused at once, whichever came first.
	b := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.2") })
	c := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.3") })
	var refused *httptest.ResponseRecorder
	var queued <-chan *httptest.ResponseRecorder
	select {
	case refused = <-b:
		queued = c
	case refused = <-c:
		queued = b
	case <-time.After(10 * time.Second):
		t.Fatal("with the queue full, neither login was refused")
	}
	checkRefusal(t, refused, http.StatusServiceUnavailable, "server_busy")
	if n := backend.calls(); n != 1 {
		t.Errorf("the backend was asked %d times, want 1", n)
	}
	if n := a.metrics.Counter("portcullis_logins_refused_total", "", "reason").Value("queue_full"); n != 1 {
		t.Errorf("portcullis_logins_refused_total{reason=queue_full} = %d, want 1", n)
	}
	if n := a.signals.count(); n != 0 {
		t.Errorf("%d signals sent before any login ended: %v", n, a.signals.args)
	}

	// The queued login runs once the running one ends.
	backend.open()
	for _, c := range []<-chan *httptest.ResponseRecorder{running, queued} {
		if w := receive(t, c); w.Code != http.StatusOK {
			t.Errorf("%d %s, want 200", w.Code, w.Body)
		}
	}
}

func TestLoginQueueWait(t *testing.T) {
	const wait = 150 * time.Millisecond
	backend := newHoldingAuth(t)
	a := newLimitedAPI(t, httpapi.LoginLimits{Running: 1, Queued: 10, QueueWait: wait}, backend.fakeAuth)
	running := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.1") })
	backend.waitArrivals(t, 1)

	start := time.Now()
	w := promptly(t, func() *httptest.ResponseRecorder { return a.login("203.0.113.2") })
	waited := time.Since(start)
	checkRefusal(t, w, http.StatusServiceUnavailable, "server_busy")
	if waited < wait {
		t.Errorf("refused after %v, before the queue wait of %v", waited, wait)
	}
	if n := backend.calls(); n != 1 {
		t.Errorf("the backend was asked %d times, want 1", n)
	}
	if n := a.metrics.Counter("portcullis_logins_refused_total", "", "reason").Value("queue_wait"); n != 1 {
		t.Errorf("portcullis_logins_refused_total{reason=queue_wait} = %d, want 1", n)
	}
	backend.open()
	if w := receive(t, running); w.Code != http.StatusOK {
		t.Errorf("running login: %d %s", w.Code, w.Body)
	}
	// With the turn free again, a login runs without waiting.
	if w := a.login("203.0.113.2"); w.Code != http.StatusOK {
		t.Errorf("after the running login ended: %d %s", w.Code, w.Body)
	}
}

// TestLoginQueueRefusalFreesTheAddress checks that a login the queue
// refuses gives its address's place back.
func TestLoginQueueRefusalFreesTheAddress(t *testing.T) {
	backend := newHoldingAuth(t)
	a := newLimitedAPI(t, httpapi.LoginLimits{PerAddress: 1, Running: 1, Queued: 1, QueueWait: 10 * time.Millisecond}, backend.fakeAuth)
	running := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.1") })
	backend.waitArrivals(t, 1)
	for range 3 {
		// Refused by the queue (wait), never by the address.
		checkRefusal(t, promptly(t, func() *httptest.ResponseRecorder { return a.login("203.0.113.2") }), http.StatusServiceUnavailable, "server_busy")
	}
	backend.open()
	receive(t, running)
	if w := a.login("203.0.113.2"); w.Code != http.StatusOK {
		t.Errorf("%d %s, want 200", w.Code, w.Body)
	}
}

// A client the lockout has turned away is turned away again, and its
// refusal counted, without waiting for a turn to run: with every turn and
// place in the queue taken, it is answered locked_out at once, not
// server_busy.
func TestLockedOutRefusedWithoutATurn(t *testing.T) {
	backend := newHoldingAuth(t)
	held := backend.authenticate
	backend.authenticate = func(ctx context.Context, req *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		if req.Username == "victim" {
			r.Abstain(sdk.ReasonInvalidCredentials)
			return nil
		}
		return held(ctx, req, r)
	}
	a := newLimitedChainAPI(t, httpapi.LoginLimits{Running: 1, Queued: 1, QueueWait: 30 * time.Second}, func(store *storage.Store) []chain.Link {
		rule := attempts.Rule{Counters: []attempts.Counter{{Fields: []string{attempts.FieldUsername}, CountWhileLocked: true, Tiers: []attempts.Tier{{Failures: 2, Cooloff: time.Hour}}}}}
		lim, err := limiter.New("lockout", rule, store, limiter.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return []chain.Link{{Name: "lockout", Limiter: lim}, {Name: "b0", Authenticator: backend.fakeAuth, Timeout: 30 * time.Second}}
	})
	victim := func() *httptest.ResponseRecorder {
		return a.loginAs("127.0.0.1:9000", `{"username": "victim", "password": "wrong", "client": {"ip": "203.0.113.9"}}`, nil)
	}
	for _, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		if w := victim(); w.Code != want {
			t.Fatalf("%d %s, want %d", w.Code, w.Body, want)
		}
	}

	// One login takes the only turn, another the only place in the queue.
	running := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.1") })
	backend.waitArrivals(t, 1)
	b := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.2") })
	c := background(func() *httptest.ResponseRecorder { return a.login("203.0.113.3") })
	var queued <-chan *httptest.ResponseRecorder
	select {
	case w := <-b:
		checkRefusal(t, w, http.StatusServiceUnavailable, "server_busy")
		queued = c
	case w := <-c:
		checkRefusal(t, w, http.StatusServiceUnavailable, "server_busy")
		queued = b
	case <-time.After(10 * time.Second):
		t.Fatal("with the queue full, neither login was refused")
	}

	for i := range 3 {
		w := promptly(t, victim)
		checkError(t, w, http.StatusTooManyRequests, "locked_out")
		if !strings.Contains(w.Body.String(), fmt.Sprintf(`"failure_count":%d`, 4+i)) {
			t.Errorf("refusal %d while the turns are taken: %s, want the refusal counted (failure_count %d)", i+1, w.Body, 4+i)
		}
	}
	if n := backend.calls(); n != 3 {
		t.Errorf("the backend was asked %d times, want 3 (two wrong passwords, one held)", n)
	}
	backend.open()
	for _, c := range []<-chan *httptest.ResponseRecorder{running, queued} {
		if w := receive(t, c); w.Code != http.StatusOK {
			t.Errorf("%d %s, want 200", w.Code, w.Body)
		}
	}
}
