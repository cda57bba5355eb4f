package chain

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// lockingBackend denies once its counter is past limit, and offers a
// shortcut; it counts every call it gets, as the lockout does.
type lockingBackend struct {
	storage sdk.Storage
	limit   int64
	calls   int
}

func (b *lockingBackend) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	b.calls++
	n, err := b.storage.IncrementWindow(ctx, "c|"+req.Username, 1, time.Hour)
	if err != nil {
		return err
	}
	if n <= b.limit {
		resp.Abstain("")
		return nil
	}
	resp.Deny(sdk.ReasonLockedOut, time.Hour)
	resp.Details = map[string]any{"failure_count": n}
	resp.Shortcut = &sdk.Shortcut{TTL: time.Minute, Counters: []string{"c|" + req.Username}, Above: b.limit, Renew: time.Hour}
	return nil
}

func count(t *testing.T, st sdk.Storage, key string) int64 {
	t.Helper()
	e, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(string(e.Value), 10, 64)
	return n
}

func TestShortcutAnswersRepeatsAndCountsThem(t *testing.T) {
	host := sdktest.NewMemoryHost()
	lock := &lockingBackend{storage: host.Storage(), limit: 2}
	c := New(Link{Name: "lockout", Authenticator: lock, Storage: host.Storage()}, Link{Name: "rest", Authenticator: abstain("invalid_credentials")})
	req := &sdk.AuthenticateRequest{Username: "bob", Client: sdk.Client{IP: "192.0.2.1", UserAgent: "ua"}}
	for i := 0; i < 3; i++ { // 2 let through, the 3rd denied with a shortcut
		if _, err := c.Authenticate(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if lock.calls != 3 {
		t.Fatalf("backend calls = %d", lock.calls)
	}
	for i := 0; i < 10; i++ {
		res, err := c.Authenticate(context.Background(), req)
		if err != nil || res.Outcome != Denied || res.Reason != sdk.ReasonLockedOut || res.Backend != "lockout" {
			t.Fatalf("repeat %d: %+v, %v", i, res, err)
		}
		if res.Details["failure_count"] != int64(4+i) {
			t.Fatalf("repeat %d: failure_count %v, want %d", i, res.Details["failure_count"], 4+i)
		}
	}
	if lock.calls != 3 {
		t.Fatalf("the backend was asked %d times; the shortcut should have answered the repeats", lock.calls)
	}
	if n := count(t, host.Storage(), "c|bob"); n != 13 {
		t.Fatalf("counter = %d, want every repeat counted (13)", n)
	}
	// Another client is not answered by bob's shortcut.
	other := &sdk.AuthenticateRequest{Username: "bob", Client: sdk.Client{IP: "192.0.2.2", UserAgent: "ua"}}
	if _, err := c.Authenticate(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if lock.calls != 4 {
		t.Fatal("a different client was answered from another's shortcut")
	}
}

func TestShortcutStepsAsideAfterAReset(t *testing.T) {
	host := sdktest.NewMemoryHost()
	lock := &lockingBackend{storage: host.Storage(), limit: 1}
	c := New(Link{Name: "lockout", Authenticator: lock, Storage: host.Storage()}, Link{Name: "rest", Authenticator: grant("u")})
	req := &sdk.AuthenticateRequest{Username: "amy"}
	for i := 0; i < 2; i++ {
		c.Authenticate(context.Background(), req)
	}
	// The operator resets: the next attempt must reach the backend (and
	// be let through), and the shortcut's count must be undone.
	if _, err := host.Storage().Delete(context.Background(), "c|amy"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Authenticate(context.Background(), req)
	if err != nil || res.Outcome != Success {
		t.Fatalf("after a reset: %+v, %v; want success", res, err)
	}
	if lock.calls != 3 {
		t.Fatalf("backend calls = %d, want the attempt after the reset to reach it", lock.calls)
	}
	if n := count(t, host.Storage(), "c|amy"); n != 1 {
		t.Fatalf("counter = %d after the reset and one attempt, want 1 (the shortcut's count undone)", n)
	}
}

func TestShortcutExpires(t *testing.T) {
	host := sdktest.NewMemoryHost()
	lock := &lockingBackend{storage: host.Storage(), limit: 0}
	c := New(Link{Name: "lockout", Authenticator: lock, Storage: host.Storage()})
	now := time.Now()
	c.shortcuts[0].now = func() time.Time { return now }
	req := &sdk.AuthenticateRequest{Username: "eve"}
	c.Authenticate(context.Background(), req)
	c.Authenticate(context.Background(), req)
	if lock.calls != 1 {
		t.Fatalf("calls = %d", lock.calls)
	}
	now = now.Add(maxShortcutTTL) // capped below the backend's minute
	c.Authenticate(context.Background(), req)
	if lock.calls != 2 {
		t.Fatal("a shortcut was used past its time")
	}
}

func TestShortcutIgnoredWithoutStorage(t *testing.T) {
	host := sdktest.NewMemoryHost()
	lock := &lockingBackend{storage: host.Storage(), limit: 0}
	c := New(Link{Name: "lockout", Authenticator: lock})
	req := &sdk.AuthenticateRequest{Username: "x"}
	for i := 0; i < 3; i++ {
		c.Authenticate(context.Background(), req)
	}
	if lock.calls != 3 {
		t.Fatalf("calls = %d: a link without storage must not take shortcuts", lock.calls)
	}
}

// A shortcut that no longer holds leaves the counters as it found them:
// no renewed expiry, and no zero without expiry where it had to create one.
func TestShortcutStepsAsideWithoutTouchingExpiry(t *testing.T) {
	host := sdktest.NewMemoryHost()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	host.SetClock(func() time.Time { return now })
	lock := &lockingBackend{storage: host.Storage(), limit: 1}
	c := New(Link{Name: "lockout", Authenticator: lock, Storage: host.Storage()}, Link{Name: "rest", Authenticator: grant("u")})
	c.shortcuts[0].now = func() time.Time { return now }
	req := &sdk.AuthenticateRequest{Username: "kim"}
	c.Authenticate(context.Background(), req)
	c.Authenticate(context.Background(), req) // denied: the shortcut is left
	ctx := context.Background()
	// The counter expired: the shortcut's count creates it anew, then must
	// hand the attempt to the backend and leave no permanent zero behind.
	if _, err := host.Storage().Delete(ctx, "c|kim"); err != nil {
		t.Fatal(err)
	}
	lock.limit = 100 // and the backend now lets it through, counting it itself
	if res, _ := c.Authenticate(ctx, req); res.Outcome != Success {
		t.Fatalf("outcome %v, want the backend asked and success", res.Outcome)
	}
	e, err := host.Storage().Get(ctx, "c|kim")
	if err != nil || string(e.Value) != "1" {
		t.Fatalf("counter = %+v, %v; want the backend's one count", e, err)
	}
	// A live counter below the limit keeps its expiry when a shortcut
	// steps aside.
	lock.limit = 1
	if err := host.Storage().Put(ctx, "c|kim", nil, 0); err != nil {
		t.Fatal(err)
	}
	host.Storage().Delete(ctx, "c|kim")
	c.Authenticate(ctx, req) // 1: let through (a window of an hour starts)
	c.Authenticate(ctx, req) // 2: denied, shortcut left
	before, _ := host.Storage().Get(ctx, "c|kim")
	if _, err := host.Storage().Increment(ctx, "c|kim", -2, 0); err != nil { // an operator takes it back to 0
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	c.Authenticate(ctx, req)
	after, _ := host.Storage().Get(ctx, "c|kim")
	if !after.ExpiresAt.Equal(before.ExpiresAt) {
		t.Fatalf("a shortcut that stepped aside moved the expiry from %v to %v", before.ExpiresAt, after.ExpiresAt)
	}
}
