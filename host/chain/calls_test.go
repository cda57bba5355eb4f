package chain

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// callLog records what a CallObserver was told.
type callLog struct {
	mu    sync.Mutex
	calls []string // "backend result"
	took  []time.Duration
}

func (c *callLog) observe(backend, result string, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, backend+" "+result)
	c.took = append(c.took, took)
}

func TestCallsAreObservedWithTheirResult(t *testing.T) {
	slow := &fakeAuth{fn: func(ctx context.Context, _ *sdk.AuthenticateRequest, _ *sdk.AuthenticateResponse) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	tests := []struct {
		name  string
		links []Link
		want  []string
	}{
		{"abstain then identity", []Link{{Name: "a", Authenticator: abstain("")}, {Name: "b", Authenticator: grant("u")}}, []string{"a abstain", "b identity"}},
		{"deny", []Link{{Name: "a", Authenticator: deny("banned")}}, []string{"a deny"}},
		{"error", []Link{{Name: "a", Authenticator: failing(sdk.ErrUnavailable)}}, []string{"a error"}},
		{"no decision is an error", []Link{{Name: "a", Authenticator: &fakeAuth{fn: func(context.Context, *sdk.AuthenticateRequest, *sdk.AuthenticateResponse) error { return nil }}}}, []string{"a error"}},
		{"timeout", []Link{{Name: "a", Authenticator: slow, Timeout: 5 * time.Millisecond}}, []string{"a timeout"}},
		{"a skipped error is still an error", []Link{{Name: "a", Authenticator: failing(errors.New("boom")), SkipErrors: true}, {Name: "b", Authenticator: abstain("")}}, []string{"a error", "b abstain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log callLog
			_, _ = authenticate(New(nil, tt.links...).ObserveCalls(log.observe), context.Background(), &sdk.AuthenticateRequest{Username: "u"})
			if !slices.Equal(log.calls, tt.want) {
				t.Fatalf("observed %q, want %q", log.calls, tt.want)
			}
		})
	}
	// The time is the call's: the timeout's call lasted at least its timeout.
	var log callLog
	_, _ = authenticate(New(nil, Link{Name: "a", Authenticator: slow, Timeout: 20 * time.Millisecond}).ObserveCalls(log.observe), context.Background(), &sdk.AuthenticateRequest{})
	if len(log.took) != 1 || log.took[0] < 20*time.Millisecond {
		t.Fatalf("took %v, want at least the 20ms timeout", log.took)
	}
	// Without an observer nothing is told, and nothing fails.
	if res, err := authenticate(New(nil, Link{Name: "a", Authenticator: grant("u")}), context.Background(), &sdk.AuthenticateRequest{}); err != nil || res.Outcome != Success {
		t.Fatalf("without an observer: %+v %v", res, err)
	}
}

// newLockout returns a store on SQLite and a lockout on it that locks a
// username at its first failure, for an hour.
func newLockout(t *testing.T) (*storage.Store, *limiter.Limiter) {
	t.Helper()
	store, err := storage.Open(context.Background(), storage.SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	rule := attempts.Rule{Counters: []attempts.Counter{{Fields: []string{attempts.FieldUsername}, Tiers: []attempts.Tier{{Failures: 1, Cooloff: time.Hour}}}}}
	lim, err := limiter.New("lockout", rule, store, limiter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return store, lim
}

func TestLimiterCallsAreObserved(t *testing.T) {
	ctx := context.Background()
	store, lim := newLockout(t)
	var log callLog
	c := New(nil, Link{Name: "lockout", Limiter: lim}, Link{Name: "local", Authenticator: abstain(sdk.ReasonInvalidCredentials)}).ObserveCalls(log.observe)
	req := &sdk.AuthenticateRequest{Username: "alice", Client: sdk.Client{IP: "192.0.2.1"}}
	// A wrong password (admitted, then settled as a failure) locks alice;
	// her next login is refused without reaching local.
	for range 2 {
		_, _ = authenticate(c, ctx, req)
	}
	want := []string{"lockout allowed", "local abstain", "lockout settled", "lockout refused"}
	if !slices.Equal(log.calls, want) {
		t.Fatalf("observed %q, want %q", log.calls, want)
	}
	// A settlement that fails is an error.
	log.calls = nil
	login := c.Run(ctx, &sdk.AuthenticateRequest{Username: "bob"})
	_ = store.Close()
	if err := login.End(ctx, sdk.LoginFailed, ""); err == nil {
		t.Fatal("settling on a closed database did not fail")
	}
	if got := strings.Join(log.calls, ","); got != "lockout allowed,local abstain,lockout error" {
		t.Fatalf("observed %q", got)
	}
}

// RefuseEarly looks only at the lockouts at the head of the chain, and
// only for a lock the host has seen: a lockout after a backend is left to
// Run, which may never reach it.
func TestRefuseEarly(t *testing.T) {
	ctx := context.Background()
	store, lim := newLockout(t)
	var log callLog
	head := New(nil, Link{Name: "lockout", Limiter: lim}, Link{Name: "local", Authenticator: abstain(sdk.ReasonInvalidCredentials)}).ObserveCalls(log.observe)
	tail := New(nil, Link{Name: "local", Authenticator: abstain(sdk.ReasonInvalidCredentials)}, Link{Name: "lockout", Limiter: lim})
	req := &sdk.AuthenticateRequest{Username: "alice", Client: sdk.Client{IP: "192.0.2.1"}}
	if login := head.RefuseEarly(ctx, req); login != nil {
		t.Fatalf("before any lock: %+v, want nothing decided", login.Result)
	}
	// A wrong password locks alice; the refusal of her next login shows
	// the lock to this host.
	for range 2 {
		_, _ = authenticate(head, ctx, req)
	}
	if login := tail.RefuseEarly(ctx, req); login != nil {
		t.Fatalf("a lockout after a backend decided early: %+v", login.Result)
	}
	log.calls = nil
	login := head.RefuseEarly(ctx, req)
	if login == nil || login.Result.Outcome != Denied || login.Result.Reason != limiter.ReasonLockedOut {
		t.Fatalf("the seen lock refused nothing: %+v", login)
	}
	if err := login.End(ctx, login.Result.LoginResult(), ""); err != nil {
		t.Fatal(err)
	}
	if want := []string{"lockout refused"}; !slices.Equal(log.calls, want) {
		t.Fatalf("observed %q, want %q", log.calls, want)
	}
	// A look that cannot read the counter fails the login closed: never
	// let through, never counted.
	_ = store.Close()
	login = head.RefuseEarly(ctx, req)
	if login == nil || login.Result.Outcome != Unavailable || login.Result.LoginResult() != sdk.LoginUnavailable {
		t.Fatalf("with the database closed: %+v, want the login unavailable", login)
	}
}
