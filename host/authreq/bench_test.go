package authreq_test

// BenchmarkAuthRequests measures the three steps of an authorization
// request, on SQLite and on PostgreSQL, one call at a time and many at
// once, against their storage yardsticks (docs/benchmarks.md,
// "Authorization requests"), with BenchmarkAuthRequestBackend below:
//
//	PORTCULLIS_TEST_POSTGRES_DSN=... go test ./host/authreq -run '^$' -bench AuthRequest -benchtime 2000x -count 10
//
// (docs/benchmarks.md runs -count 1 ten times instead, so that the steps
// and their yardsticks alternate.) A fixed -benchtime gives every check
// and grant run the same number of waiting requests, which on PostgreSQL
// changes what a step costs. Without PORTCULLIS_TEST_POSTGRES_DSN the
// PostgreSQL half is skipped, saying so.
//
// Sub-benchmarks are named db=/op=/run=/via=:
//
//   - op=create: Service.Create; op=check: Service.Check with the request's
//     right code, used once; op=grant: Service.Decide(granted).
//   - run=serial: one call at a time; run=parallel: b.RunParallel with 4
//     goroutines per CPU against one store, as behind an HTTP server.
//   - via=store, the yardstick: the one conditional statement the step
//     rests on, called on the store directly (CreateAuthRequest,
//     AcceptAnswer, DecideAuthRequest), on rows of the same shape;
//   - via=otp-grpc: the real authreq.Service with the real otp plugin
//     (plugins/otp) served by sdktest.Start and called through gRPC over a
//     unix socket, as the host calls it, but within this process;
//   - via=otp-call (create and check only): the same Service with the same
//     otp plugin value called directly as a Go value, no gRPC.
//
// The otp plugin draws each code, keeps its HMAC-SHA256 in the challenge's
// state and delivers it by its webhook sender, signed, to a receiver in
// this process that keeps the code (the benchmark's way to learn it). A
// check needs a waiting request whose code is known and not yet used, so
// the b.N requests a check or grant benchmark uses are created before the
// timer starts (through the same Service for otp-*, through the store for
// the yardstick); only the check or the grant is timed. Signals go to an
// emitter that drops them, as the host's dispatcher does with a signal
// nothing subscribes to. Each sub-benchmark opens its own database (on
// PostgreSQL, a schema of its own). cpu-ns/op is the CPU time this process
// used per operation (Linux): PostgreSQL's server is not in it.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/plugins/otp"
	"github.com/portcullis-auth/portcullis/sdk"
	sdkreq "github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
	"github.com/portcullis-auth/portcullis/testkit/procstat"
)

// benchNew is the request every benchmark creates: a transfer to approve.
var benchNew = authreq.NewRequest{Slug: "transfer", User: "alice", Title: "Approve the transfer of 500 EUR",
	Description: "To IBAN DE89 3704 0044 0532 0130 00", Data: json.RawMessage(`{"amount":500}`), App: "bank"}

func BenchmarkAuthRequests(b *testing.B) {
	for _, db := range []string{storage.SQLite, storage.Postgres} {
		b.Run("db="+db, func(b *testing.B) {
			if db == storage.Postgres && os.Getenv(storagetest.PostgresEnv) == "" {
				// go test shows a benchmark's skip only with -v: say it.
				fmt.Printf("skipping %s: %s is not set (see DEVELOPERS.md)\n", b.Name(), storagetest.PostgresEnv)
				b.Skipf("%s is not set (see DEVELOPERS.md)", storagetest.PostgresEnv)
			}
			for _, op := range []string{"create", "check", "grant"} {
				for _, run := range []string{"serial", "parallel"} {
					for _, via := range []string{"store", "otp-grpc", "otp-call"} {
						if op == "grant" && via == "otp-call" {
							continue // a grant does not call the backend
						}
						b.Run(fmt.Sprintf("op=%s/run=%s/via=%s", op, run, via), func(b *testing.B) {
							benchStep(b, newBenchRig(b, db, via), op, run == "parallel")
						})
					}
				}
			}
		})
	}
}

// benchRig is one sub-benchmark's database, service and code receiver.
type benchRig struct {
	store *storage.Store
	svc   *authreq.Service // nil for via=store
	user  storage.User
	codes *benchReceiver
}

func newBenchRig(b *testing.B, db, via string) *benchRig {
	b.Helper()
	dsn := storagetest.SQLitePath(b)
	if db == storage.Postgres {
		dsn = storagetest.PostgresDSN(b)
	}
	r := &benchRig{store: storagetest.Open(b, db, dsn)}
	var err error
	if r.user, err = r.store.CreateUser(context.Background(), benchNew.User, "h"); err != nil {
		b.Fatal(err)
	}
	if via == "store" {
		return r
	}
	var backend sdk.AuthorizationRequestBackend
	backend, r.codes = newBenchBackend(b, via)
	r.svc = authreq.New(authreq.Options{Store: r.store, Backends: map[string]sdk.AuthorizationRequestBackend{"otp": backend},
		Order: []string{"otp"}, DefaultExpiration: time.Hour, MaxExpiration: 24 * time.Hour, MaxWrongAnswers: 5,
		Signals: dropSignals{}})
	return r
}

// newBenchBackend returns the otp plugin, configured to deliver its codes
// to a new receiver: served over gRPC (via otp-grpc) or as the Go value
// (otp-call).
func newBenchBackend(b *testing.B, via string) (sdk.AuthorizationRequestBackend, *benchReceiver) {
	b.Helper()
	codes := newBenchReceiver(b)
	config := json.RawMessage(`{"hash_key":"a benchmark's key of at least 32 bytes","sender":{"webhook":"` +
		codes.srv.URL + `","secret":"` + benchSecret + `"}}`)
	if via == "otp-grpc" {
		return sdktest.Start(b, otp.New(), config, nil).AuthorizationRequestBackend(), codes
	}
	p := otp.New()
	if err := p.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "otp", Config: config, Host: sdktest.NewMemoryHost()}); err != nil {
		b.Fatal(err)
	}
	return p, codes
}

// BenchmarkAuthRequestBackend measures the otp plugin alone, to show what
// it adds to BenchmarkAuthRequests' steps: op=prepare is PrepareChallenge
// (draw a code, hash it, deliver it by webhook), op=check CheckAnswer with
// the right code (decode the state, HMAC, compare, encode the state
// marked used), via=otp-grpc and via=otp-call as there. Neither touches a
// database: a check leaves nothing behind, so one challenge serves every
// iteration.
func BenchmarkAuthRequestBackend(b *testing.B) {
	for _, op := range []string{"prepare", "check"} {
		for _, run := range []string{"serial", "parallel"} {
			for _, via := range []string{"otp-grpc", "otp-call"} {
				b.Run(fmt.Sprintf("op=%s/run=%s/via=%s", op, run, via), func(b *testing.B) {
					backend, codes := newBenchBackend(b, via)
					ctx := context.Background()
					req := &sdkreq.Request{ID: "4f6c2a1e-8d3b-4c5a-9e7f-0a1b2c3d4e5f", Slug: benchNew.Slug, UserID: "u-alice",
						Username: benchNew.User, Title: benchNew.Title, Description: benchNew.Description, Data: benchNew.Data,
						ExpiresAt: time.Now().Add(time.Hour)}
					ch, err := backend.PrepareChallenge(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					answer := sdkreq.Answer{Code: codes.code(req.ID)}
					do := func() error {
						if op == "prepare" {
							_, err := backend.PrepareChallenge(ctx, req)
							return err
						}
						v, err := backend.CheckAnswer(ctx, req, ch.State, answer)
						if err == nil && !v.Valid {
							err = fmt.Errorf("the right code was not valid: %s", v.Reason)
						}
						return err
					}
					benchLoop(b, run == "parallel", func(int) error { return do() })
				})
			}
		}
	}
}

// benchState has the size and shape of an otp challenge's state.
var benchState = []byte(`{"v":1,"id":"00000000-0000-4000-8000-000000000000","gen":0,"mac":"` +
	base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","used":false}`)

// create makes one waiting request: through the service, or for the
// yardstick the row alone, as the service would store it.
func (r *benchRig) create(ctx context.Context) (storage.AuthRequest, error) {
	if r.svc != nil {
		return r.svc.Create(ctx, benchNew)
	}
	return r.store.CreateAuthRequest(ctx, storage.AuthRequest{Slug: benchNew.Slug, UserID: r.user.ID, Username: r.user.Username,
		Title: benchNew.Title, Description: benchNew.Description, Data: benchNew.Data, Backend: "otp", App: benchNew.App,
		Challenge: benchState, Delivery: "webhook", ExpiresAt: time.Now().Add(time.Hour)})
}

// check answers a request with its right code; it must be valid.
func (r *benchRig) check(ctx context.Context, req benchPrepared) error {
	var valid bool
	var err error
	if r.svc != nil {
		valid, _, err = r.svc.Check(ctx, req.id, sdkreq.Answer{Code: req.code})
	} else {
		valid, err = r.store.AcceptAnswer(ctx, req.id, 0, benchState, time.Now())
	}
	if err == nil && !valid {
		err = fmt.Errorf("the right code of %s was not valid", req.id)
	}
	return err
}

// grant grants a waiting request; it must win.
func (r *benchRig) grant(ctx context.Context, req benchPrepared) error {
	if r.svc != nil {
		_, err := r.svc.Decide(ctx, req.id, storage.AuthRequestGranted, "app")
		return err
	}
	_, won, err := r.store.DecideAuthRequest(ctx, req.id, storage.AuthRequestGranted, "app", time.Now())
	if err == nil && !won {
		err = fmt.Errorf("granting %s lost", req.id)
	}
	return err
}

// benchPrepared is a waiting request and its code.
type benchPrepared struct{ id, code string }

// benchStep runs b.N of one step. For check and grant it first creates the
// b.N requests, untimed.
func benchStep(b *testing.B, r *benchRig, op string, parallel bool) {
	ctx := context.Background()
	var prepared []benchPrepared
	if op != "create" {
		prepared = make([]benchPrepared, b.N)
		for i := range prepared {
			req, err := r.create(ctx)
			if err != nil {
				b.Fatal(err)
			}
			prepared[i].id = req.ID
			if r.codes != nil {
				prepared[i].code = r.codes.code(req.ID)
			}
		}
	} else if _, err := r.create(ctx); err != nil { // opens the database's connections, and a webhook's
		b.Fatal(err)
	}
	do := func(i int) error {
		switch op {
		case "create":
			_, err := r.create(ctx)
			return err
		case "check":
			return r.check(ctx, prepared[i])
		default:
			return r.grant(ctx, prepared[i])
		}
	}
	benchLoop(b, parallel, do)
}

// benchLoop times b.N calls of do(i), i from 0 to b.N-1: one at a time,
// or from 4 goroutines per CPU at once.
func benchLoop(b *testing.B, parallel bool, do func(i int) error) {
	b.ReportAllocs()
	b.ResetTimer()
	defer reportBenchCPU(b)()
	if !parallel {
		for i := 0; i < b.N; i++ {
			if err := do(i); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var next atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := do(int(next.Add(1) - 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// reportBenchCPU starts measuring the CPU time this process uses; the
// function it returns reports it per operation as "cpu-ns/op" (Linux only:
// /proc/PID/stat, in 10 ms ticks).
func reportBenchCPU(b *testing.B) func() {
	start, ok := procstat.CPU(os.Getpid())
	return func() {
		end, ok2 := procstat.CPU(os.Getpid())
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// dropSignals is an Emitter with no subscriber.
type dropSignals struct{}

func (dropSignals) Emit(context.Context, string, any) string { return "" }

// benchSecret is the otp webhook's secret.
var benchSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))

// benchReceiver is the app's delivery service: it keeps each code
// delivered, without checking the signature (which is the app's cost).
type benchReceiver struct {
	srv   *httptest.Server
	codes sync.Map // request id -> code
}

func newBenchReceiver(b *testing.B) *benchReceiver {
	r := &benchReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var d otp.Delivery
		if err := json.NewDecoder(req.Body).Decode(&d); err != nil || d.Code == "" {
			http.Error(w, "no code", http.StatusBadRequest)
			return
		}
		r.codes.Store(d.ID, d.Code)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(r.srv.Close)
	return r
}

func (r *benchReceiver) code(id string) string {
	c, _ := r.codes.Load(id)
	s, _ := c.(string)
	return s
}
