package hostsvc_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/hostsvc"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/signals"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// These tests call the host services the way a plugin does: through the
// sdk.Host a plugin is handed in Configure, over the go-plugin broker and
// gRPC (sdk's host client, sdk/hostside's host server), to hostsvc on a real
// storage.Store. The SDK's storage suite (sdktest.StorageSuite) runs here
// over that path, as it runs on storage.Store itself; the other tests check
// what is hostsvc's own: least privilege, namespaces by instance, users and
// signals.

// database opens handles on one fresh database, each as a separate host
// process would.
type database func(t testing.TB) *storage.Store

func TestSQLite(t *testing.T) {
	run(t, func(t testing.TB) database {
		path := storagetest.SQLitePath(t)
		return func(t testing.TB) *storage.Store { return storagetest.Open(t, storage.SQLite, path) }
	})
}

func TestPostgres(t *testing.T) {
	if os.Getenv(storagetest.PostgresEnv) == "" {
		t.Skipf("skipping: %s is not set (see DEVELOPERS.md)", storagetest.PostgresEnv)
	}
	run(t, func(t testing.TB) database {
		dsn := storagetest.PostgresDSN(t)
		return func(t testing.TB) *storage.Store { return storagetest.Open(t, storage.Postgres, dsn) }
	})
}

// run runs every test on a fresh database from newDB.
func run(t *testing.T, newDB func(t testing.TB) database) {
	tests := []struct {
		name string
		test func(t *testing.T, db database)
	}{
		{"Namespaces", testNamespaces},
		{"Users", testUsers},
		{"UsersOnlyForAuthenticators", testUsersOnlyForAuthenticators},
		{"HashesOnlyWithGrants", testHashesOnlyWithGrants},
		{"SetPasswordHashNeedsWriteGrant", testSetPasswordHashNeedsWriteGrant},
		{"ListUsers", testListUsers},
		{"ListUsersNeedsReadGrant", testListUsersNeedsReadGrant},
		{"NothingBeforeDeclare", testNothingBeforeDeclare},
		{"StorageIsTheInstances", testStorageIsTheInstances},
		{"Signals", testSignals},
		{"RefusedSignals", testRefusedSignals},
		{"HostSignalsRefused", testHostSignalsRefused},
		{"UndeclaredSignalsRefused", testUndeclaredSignalsRefused},
		{"SenderIsTheInstance", testSenderIsTheInstance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newDB(t))
		})
	}
	t.Run("Storage", func(t *testing.T) {
		t.Parallel()
		storageSuite(newDB).Run(t)
	})
}

// hangLimit bounds a sync signal delivery; it only catches hangs.
const hangLimit = 10 * time.Second

// testHost is one host process on a database: its store, and a dispatcher
// whose sync subscriber records every signal and whose async subscriber
// queues every signal in the outbox.
type testHost struct {
	store    *storage.Store
	signals  *signals.Dispatcher
	received *received
}

// queued returns the signals in the outbox, oldest first.
func (h *testHost) queued(t testing.TB) []storage.Delivery {
	t.Helper()
	rows, err := h.store.ListDeliveries(context.Background(), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(rows)
	return rows
}

func newHost(t testing.TB, db database) *testHost {
	store := db(t)
	h := &testHost{
		store:    store,
		signals:  signals.NewDispatcher(store, slog.New(slog.DiscardHandler), metrics.New()),
		received: &received{},
	}
	h.signals.Subscribe(
		&signals.Subscription{Name: "recorder", Mode: signals.Sync, Signals: []string{"*"}, Timeout: hangLimit, Receiver: h.received},
		&signals.Subscription{Name: "queue", Mode: signals.Async, Signals: []string{"*"}, Timeout: hangLimit, Receiver: &received{}},
	)
	return h
}

// role is what a plugin is to the host: whether it implements
// sdk.Authenticator, the signals its metadata declares, and the grants of
// its backend entry.
type role struct {
	authenticator bool
	emits         []string
	grants        []string
}

// plugin starts a plugin in role that runs as instance on this host, the
// way the supervisor starts one (hostsvc.New with the entry's grants;
// Declare from the metadata the plugin reports over the wire; Configure),
// and returns the sdk.Host it was configured with: every call on it crosses
// the wire to hostsvc.
func (h *testHost) plugin(t testing.TB, instance string, r role) sdk.Host {
	t.Helper()
	return h.pluginWithClock(t, instance, r, nil)
}

// pluginWithClock is plugin whose storage reads time from clock (nil: the
// wall clock).
func (h *testHost) pluginWithClock(t testing.TB, instance string, r role, clock *sdktest.Clock) sdk.Host {
	t.Helper()
	keeper := &hostKeeper{emits: r.emits, configured: make(chan sdk.Host, 1)}
	var p sdk.Plugin = keeper
	if r.authenticator {
		p = &authKeeper{keeper}
	}
	svc := hostsvc.New(h.store, instance, h.signals, r.grants)
	var served sdk.Host = svc
	if clock != nil {
		served = clocked{svc, clock}
	}
	remote := sdktest.StartUnconfigured(t, p, served)
	info, err := remote.Info(context.Background())
	if err != nil {
		t.Fatalf("Metadata of %s: %v", instance, err)
	}
	svc.Declare(info.Has(hostside.Authenticator), info.Emits)
	if err := remote.Configure(context.Background(), instance, json.RawMessage("{}")); err != nil {
		t.Fatalf("Configure %s: %v", instance, err)
	}
	return <-keeper.configured
}

// storage is the storage of a plugin running as instance.
func (h *testHost) storage(t testing.TB, instance string) sdk.Storage {
	t.Helper()
	return h.plugin(t, instance, role{}).Storage()
}

// clocked is a plugin's services whose storage, the instance's own, reads
// time from clock.
type clocked struct {
	*hostsvc.Services
	clock *sdktest.Clock
}

func (c clocked) Storage() sdk.Storage {
	return c.Services.Storage().(*storage.KV).WithClock(c.clock.Now)
}

// hostKeeper is a plugin that hands over the sdk.Host it is configured
// with, so that the test can use it as the plugin would.
type hostKeeper struct {
	emits      []string
	configured chan sdk.Host
}

func (p *hostKeeper) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "hostkeeper", Version: "test", Emits: p.emits}
}

func (p *hostKeeper) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	p.configured <- req.Host
	return nil
}

// authKeeper is a hostKeeper that is an Authenticator (it abstains).
type authKeeper struct{ *hostKeeper }

func (authKeeper) Authenticate(_ context.Context, _ *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	resp.Abstain("")
	return nil
}

// received is a sync signal receiver that records what it is given.
type received struct {
	mu   sync.Mutex
	sigs []sdk.Signal
}

func (r *received) Receive(_ context.Context, sig *sdk.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sigs = append(r.sigs, *sig)
	return nil
}

func (r *received) all() []sdk.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sdk.Signal(nil), r.sigs...)
}

// sentinels are the errors a plugin tells apart with errors.Is.
var sentinels = []error{sdk.ErrNotFound, sdk.ErrConflict, sdk.ErrInvalidArgument, sdk.ErrPermissionDenied, sdk.ErrUnavailable, sdk.ErrUnimplemented}

// wantErr fails unless err is want under errors.Is and no other sentinel.
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, want)
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) != (s == want) {
			t.Errorf("%s: errors.Is(%q, %v) = %v", what, err, s, s != want)
		}
	}
}
