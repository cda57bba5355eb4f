package authreq_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
	sdkreq "github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// codes is a backend whose code for a request is known to the test: the
// state is a hash of the request, generation and code, and "used" once a
// valid answer was given.
type codes struct {
	fail bool
	mu   sync.Mutex
	sent map[string]string // request id -> its latest code
	n    int
}

func (c *codes) PrepareChallenge(_ context.Context, r *sdkreq.Request) (sdkreq.Challenge, error) {
	if c.fail {
		return sdkreq.Challenge{}, errors.New("delivery failed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	code := fmt.Sprintf("%06d", c.n)
	if c.sent == nil {
		c.sent = map[string]string{}
	}
	c.sent[r.ID] = code
	return sdkreq.Challenge{State: []byte(digest(r, code)), Delivery: "test"}, nil
}

func digest(r *sdkreq.Request, code string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%s", r.ID, r.Generation, code)))
	return hex.EncodeToString(sum[:])
}

func (c *codes) CheckAnswer(_ context.Context, r *sdkreq.Request, state []byte, a sdkreq.Answer) (sdkreq.Verdict, error) {
	if a.Code == "" || string(state) != digest(r, a.Code) {
		return sdkreq.Verdict{Reason: "invalid_code"}, nil
	}
	return sdkreq.Verdict{Valid: true, State: []byte("used")}, nil
}

func (c *codes) code(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[id]
}

type recorded struct {
	mu   sync.Mutex
	sigs []string
}

func (r *recorded) Emit(_ context.Context, sender string, args any) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, _ := signals.NameOf(args)
	r.sigs = append(r.sigs, sender+":"+name)
	return ""
}

func (r *recorded) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.sigs {
		if x == s {
			n++
		}
	}
	return n
}

type rig struct {
	svc   *authreq.Service
	store *storage.Store
	back  *codes
	sigs  *recorded
	now   time.Time
	mu    sync.Mutex
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = r.now.Add(d)
}

func newRig(t *testing.T, backends ...string) *rig {
	t.Helper()
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	if _, err := store.CreateUser(context.Background(), "alice", "h"); err != nil {
		t.Fatal(err)
	}
	r := &rig{store: store, back: &codes{}, sigs: &recorded{}, now: time.Now()}
	if len(backends) == 0 {
		backends = []string{"otp"}
	}
	bs := map[string]sdk.AuthorizationRequestBackend{}
	for _, b := range backends {
		bs[b] = r.back
	}
	r.svc = authreq.New(authreq.Options{Store: store, Backends: bs, Order: backends, Watched: backends, DefaultExpiration: time.Hour,
		MaxExpiration: 24 * time.Hour, MaxWrongAnswers: 5, Signals: r.sigs, Logger: slog.New(slog.DiscardHandler), Now: r.clock})
	return r
}

func (r *rig) create(t *testing.T) storage.AuthRequest {
	t.Helper()
	req, err := r.svc.Create(context.Background(), authreq.NewRequest{Slug: "transfer", User: "alice", Title: "Approve", App: "web"})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (r *rig) check(t *testing.T, id, code string) bool {
	t.Helper()
	valid, _, err := r.svc.Check(context.Background(), id, sdkreq.Answer{Code: code})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return valid
}

func TestCodesValidateOnceForTheirRequestAndGeneration(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	a, b := r.create(t), r.create(t)
	if got := r.sigs.count("transfer:authorization_requested"); got != 2 {
		t.Errorf("%d authorization_requested signals from sender 2FA, want 2", got)
	}
	for _, wrong := range []string{"", "000000", r.back.code(b.ID)} {
		if r.check(t, a.ID, wrong) {
			t.Errorf("code %q validated request a", wrong)
		}
	}
	code := r.back.code(a.ID)
	if !r.check(t, a.ID, code) {
		t.Fatal("the right code did not validate")
	}
	if r.check(t, a.ID, code) {
		t.Error("a used code validated again")
	}
	// A reset kills b's code.
	old := r.back.code(b.ID)
	if _, err := r.svc.Reset(ctx, b.ID, 0); err != nil {
		t.Fatal(err)
	}
	if r.check(t, b.ID, old) {
		t.Error("the code from before the reset validated")
	}
	if !r.check(t, b.ID, r.back.code(b.ID)) {
		t.Error("the new code did not validate")
	}
}

func TestTheSixthWrongAnswerDenies(t *testing.T) {
	r := newRig(t)
	req := r.create(t)
	for i := range 5 {
		if r.check(t, req.ID, "nope") {
			t.Fatal("a wrong code validated")
		}
		if got, _ := r.svc.Get(context.Background(), req.ID); got.State != storage.AuthRequestWaiting {
			t.Fatalf("after %d wrong answers the request is %s", i+1, got.State)
		}
	}
	r.check(t, req.ID, "nope")
	got, _ := r.svc.Get(context.Background(), req.ID)
	if got.State != storage.AuthRequestDenied || got.Reason != storage.ReasonTooManyAttempts {
		t.Fatalf("after 6 wrong answers: %s (%s)", got.State, got.Reason)
	}
	if r.sigs.count("transfer:authorization_denied") != 1 {
		t.Errorf("signals: %v", r.sigs.sigs)
	}
	if _, _, err := r.svc.Check(context.Background(), req.ID, sdkreq.Answer{Code: r.back.code(req.ID)}); !errors.Is(err, authreq.ErrNotWaiting) {
		t.Errorf("checking a denied request: %v", err)
	}
}

func TestDecisionsAndExpiry(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	req := r.create(t)
	if _, err := r.svc.Decide(ctx, req.ID, storage.AuthRequestGranted, "app"); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{storage.AuthRequestGranted, storage.AuthRequestDenied, storage.AuthRequestCancelled} {
		if got, err := r.svc.Decide(ctx, req.ID, to, "app"); !errors.Is(err, authreq.ErrNotWaiting) || got.State != storage.AuthRequestGranted {
			t.Errorf("%s after a grant: %v, %s", to, err, got.State)
		}
	}
	late := r.create(t)
	r.advance(2 * time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = r.svc.Get(ctx, late.ID) }()
		go func() { defer wg.Done(); _, _ = r.svc.ExpireDue(ctx) }()
	}
	wg.Wait()
	if got, _ := r.svc.Get(ctx, late.ID); got.State != storage.AuthRequestExpired {
		t.Fatalf("after its expiry: %s", got.State)
	}
	if n := r.sigs.count("transfer:authorization_expired"); n != 1 {
		t.Errorf("%d authorization_expired signals, want 1", n)
	}
	for _, to := range []string{storage.AuthRequestGranted, storage.AuthRequestDenied, storage.AuthRequestCancelled} {
		if _, err := r.svc.Decide(ctx, late.ID, to, "app"); !errors.Is(err, authreq.ErrNotWaiting) {
			t.Errorf("%s an expired request: %v", to, err)
		}
	}
	if _, err := r.svc.Reset(ctx, late.ID, 0); !errors.Is(err, authreq.ErrNotWaiting) {
		t.Errorf("reset of an expired request: %v", err)
	}
}

func TestCreateRefusesBadInputAndFailsClosed(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	base := authreq.NewRequest{Slug: "transfer", User: "alice", Title: "Approve"}
	bad := map[string]func(*authreq.NewRequest){
		"no slug":          func(n *authreq.NewRequest) { n.Slug = "" },
		"a slug with /":    func(n *authreq.NewRequest) { n.Slug = "a/b" },
		"no title":         func(n *authreq.NewRequest) { n.Title = "" },
		"unknown user":     func(n *authreq.NewRequest) { n.User = "bob" },
		"data not object":  func(n *authreq.NewRequest) { n.Data = []byte(`[1]`) },
		"unknown backend":  func(n *authreq.NewRequest) { n.Backend = "sms" },
		"too long":         func(n *authreq.NewRequest) { n.Expiration = 48 * time.Hour },
		"control in title": func(n *authreq.NewRequest) { n.Title = "a\x00b" },
		"the host's slug":  func(n *authreq.NewRequest) { n.Slug = "2fa" },
	}
	for what, f := range bad {
		in := base
		f(&in)
		if _, err := r.svc.Create(ctx, in); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", what, err)
		}
	}
	two := newRig(t, "otp", "device")
	if _, err := two.svc.Create(ctx, base); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("no backend named among two: %v", err)
	}
	r.back.fail = true
	if _, err := r.svc.Create(ctx, base); !errors.Is(err, authreq.ErrUnavailable) {
		t.Errorf("a backend that cannot deliver: %v", err)
	}
	if _, n, _ := r.store.QueryAuthRequests(ctx, storage.AuthRequestQuery{}); n != 0 {
		t.Errorf("%d requests stored, want none", n)
	}
}
