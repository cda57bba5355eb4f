package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/testkit/barereject"
)

// BenchmarkLockedOutRefusal is the host's own cost of turning away a
// locked-out client, without the network: the API's handler with the
// default limits over [lockout, a backend] on SQLite, 32 logins at a time
// (each refusal counted durably, in batches as under a flood). Its
// yardstick, run alongside, is the bare handler of the wrk benchmark
// (testkit/barereject): decoding the same body and answering 429 from an
// in-memory counter. host-three-groups is the same with the built-in
// chain's three counters (username and address, address, username), the
// first of them locked.
func BenchmarkLockedOutRefusal(b *testing.B) {
	const body = `{"username":"victim","password":"wrong","client":{"ip":"203.0.113.7"}}`
	wrong := &fakeAuth{authenticate: func(_ context.Context, _ *sdk.AuthenticateRequest, r *sdk.AuthenticateResponse) error {
		r.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}}
	a := newLimitedChainAPI(b, httpapi.LoginLimits{PerAddress: 128, Running: 8, Queued: 256, QueueWait: 10 * time.Second}, func(store *storage.Store) []chain.Link {
		rule := attempts.Rule{Counters: []attempts.Counter{{Fields: []string{attempts.FieldUsername, attempts.FieldIPAddress}, CountWhileLocked: true, Tiers: []attempts.Tier{{Failures: 5, Cooloff: 30 * time.Minute}}}}}
		lim, err := limiter.New("lockout", rule, store, limiter.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		return []chain.Link{{Name: "lockout", Limiter: lim}, {Name: "local", Authenticator: wrong, Timeout: 10 * time.Second}}
	})
	b.Run("host", func(b *testing.B) { refuseAll(b, a.handler, body) })
	three := newLimitedChainAPI(b, httpapi.LoginLimits{PerAddress: 128, Running: 8, Queued: 256, QueueWait: 10 * time.Second}, func(store *storage.Store) []chain.Link {
		tier := func(n int, d time.Duration) []attempts.Tier { return []attempts.Tier{{Failures: n, Cooloff: d}} }
		rule := attempts.Rule{Counters: []attempts.Counter{
			{Fields: []string{attempts.FieldUsername, attempts.FieldIPAddress}, CountWhileLocked: true, Tiers: tier(5, 30*time.Minute)},
			{Fields: []string{attempts.FieldIPAddress}, CountWhileLocked: true, Tiers: tier(20, 30*time.Minute)},
			{Fields: []string{attempts.FieldUsername}, Tiers: tier(20, 15*time.Minute)},
		}}
		lim, err := limiter.New("lockout", rule, store, limiter.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		return []chain.Link{{Name: "lockout", Limiter: lim}, {Name: "local", Authenticator: wrong, Timeout: 10 * time.Second}}
	})
	b.Run("host-three-groups", func(b *testing.B) { refuseAll(b, three.handler, body) })
	b.Run("bare", func(b *testing.B) { refuseAll(b, barereject.Handler(), body) })
}

// refuseAll sends body to h's POST /v1/login, 32 at a time, and checks
// every answer is 429, after six first logins that lock the client out.
func refuseAll(b *testing.B, h http.Handler, body string) {
	login := func() int {
		r := httptest.NewRequest("POST", "/v1/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "127.0.0.1:9000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for range 6 {
		login()
	}
	b.SetParallelism(16) // 32 at a time on two CPUs
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code := login(); code != http.StatusTooManyRequests {
				b.Errorf("answered %d, want 429", code)
				return
			}
		}
	})
}
