package password

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// fakeClock is a clock that moves only when a verification "takes" time
// (verifyHash below) or an attempt sleeps. It records the sleeps.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  time.Duration
	sleeps int
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept += d
	c.sleeps++
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// scriptedCosts makes each verification take, on the fake clock, the time
// of its kind's family, as a real server might: argon2id 30 ms, bcrypt
// 240 ms, pbkdf2 170 ms. The real verification runs too, for its answer.
// It records the kind of every hash verified.
type scriptedCosts struct {
	clock    *fakeClock
	mu       sync.Mutex
	verified []Kind
}

var familyCost = map[string]time.Duration{"argon2id": 30 * time.Millisecond, "bcrypt": 240 * time.Millisecond, "pbkdf2_sha256": 170 * time.Millisecond}

func (s *scriptedCosts) verify(stored, password string) (bool, error) {
	k := KindOf(stored)
	s.clock.advance(familyCost[k.family()])
	s.mu.Lock()
	s.verified = append(s.verified, k)
	s.mu.Unlock()
	return Verify(stored, password)
}

func (s *scriptedCosts) last() Kind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verified[len(s.verified)-1]
}

// timedBackend is a configured backend on host whose verifications take
// the scripted times on a fake clock.
func timedBackend(t *testing.T, host sdk.Host) (*Backend, *fakeClock, *scriptedCosts) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	costs := &scriptedCosts{clock: clock}
	b := New()
	b.clock, b.verifyHash = clock, costs.verify
	if err := b.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "local", Config: fastConfig, Host: host}); err != nil {
		t.Fatal(err)
	}
	if err := b.prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b, clock, costs
}

// legacyHost holds a user of each kind: a current argon2id hash, bcrypt
// (cost 4 here; it stands for the 12 of an import), Django's pbkdf2, none,
// an unreadable hash, and a disabled current user.
func legacyHost(t *testing.T) *sdktest.MemoryHost {
	t.Helper()
	h := seededHost(t) // alice (argon2id), django (pbkdf2 10000), nohash
	bc, err := bcrypt.GenerateFromPassword([]byte("bob-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h.AddUser(sdk.User{Username: "bob", PasswordHash: string(bc)})
	h.AddUser(sdk.User{Username: "md5", PasswordHash: "md5$abc$def"})
	carol, _ := Hash("carol-pw", fastParams)
	h.AddUser(sdk.User{Username: "carol", PasswordHash: carol, Disabled: true})
	return h
}

// TestEveryLoginTakesTheSlowestKindsTime: whoever logs in, with whatever
// password, the attempt takes as long as verifying the slowest kind of
// hash stored (bcrypt here), and one without a usable hash verifies a hash
// of that kind. Timed on a fake clock: nothing here depends on the speed of
// the machine.
func TestEveryLoginTakesTheSlowestKindsTime(t *testing.T) {
	b, clock, costs := timedBackend(t, legacyHost(t))
	bcryptKind := Kind{Format: FormatBcrypt, Cost: "4"}
	if b.floor.slowest != bcryptKind {
		t.Fatalf("the slowest kind is %v, want %v", b.floor.slowest, bcryptKind)
	}
	tests := []struct {
		username, password string
		granted            bool
		verifies           Kind // the kind of hash the attempt verifies
	}{
		{"nobody", "whatever", false, bcryptKind},
		{"nohash", "", false, bcryptKind},
		{"md5", "whatever", false, bcryptKind},
		{"alice", "wrong", false, CurrentKind(fastParams)},
		{"alice", "alice-pw", true, CurrentKind(fastParams)},
		{"carol", "carol-pw", false, CurrentKind(fastParams)},
		{"django", "wrong", false, Kind{Format: FormatDjangoPBKDF2, Cost: "10000"}},
		{"bob", "wrong", false, bcryptKind},
	}
	for _, tt := range tests {
		t.Run(tt.username+" "+tt.password, func(t *testing.T) {
			start := clock.Now()
			var resp sdk.AuthenticateResponse
			if err := b.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: tt.username, Password: tt.password}, &resp); err != nil {
				t.Fatal(err)
			}
			if got := resp.Decision == sdk.DecisionIdentity; got != tt.granted {
				t.Fatalf("granted = %v, want %v (%+v)", got, tt.granted, resp)
			}
			if got := costs.last(); got != tt.verifies {
				t.Errorf("verified a hash of kind %v, want %v", got, tt.verifies)
			}
			if took := clock.Now().Sub(start); took != 240*time.Millisecond {
				t.Errorf("the attempt took %v, want the 240ms of the slowest kind", took)
			}
		})
	}
}

// TestPaddedAttemptsTakeARecentTimeOfTheSlowestKind: an attempt that
// verified a cheaper kind takes as long as one of the recent verifications
// of the slowest kind, drawn at random, so that its time follows theirs as
// the load changes.
func TestPaddedAttemptsTakeARecentTimeOfTheSlowestKind(t *testing.T) {
	b, clock, _ := timedBackend(t, legacyHost(t))
	var picked []int
	pickIndex := -1 // -1: the newest
	b.pick = func(n int) int {
		picked = append(picked, n)
		if pickIndex < 0 {
			return n - 1
		}
		return pickIndex
	}
	login := func(username string) time.Duration {
		start := clock.Now()
		var resp sdk.AuthenticateResponse
		if err := b.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: username, Password: "wrong"}, &resp); err != nil {
			t.Fatal(err)
		}
		return clock.Now().Sub(start)
	}
	familyCost["bcrypt"] = 300 * time.Millisecond // the machine got busier
	defer func() { familyCost["bcrypt"] = 240 * time.Millisecond }()
	if took := login("nobody"); took != 300*time.Millisecond {
		t.Fatalf("an unknown user took %v, want its own 300ms", took)
	}
	if len(picked) != 0 {
		t.Fatalf("an attempt that verified the slowest kind drew a time to wait for")
	}
	if took := login("alice"); took != 300*time.Millisecond {
		t.Fatalf("alice, drawing the newest verification, took %v; want 300ms", took)
	}
	pickIndex = 0
	if took := login("django"); took != 240*time.Millisecond {
		t.Fatalf("django, drawing the first verification, took %v; want 240ms", took)
	}
	// Three calibration runs and the unknown user's: the draw is among them.
	if len(picked) != 2 || picked[0] != calibrateRuns+1 || picked[1] != calibrateRuns+1 {
		t.Errorf("drew among %v verifications, want %d each time", picked, calibrateRuns+1)
	}
	for range floorWindow + 5 {
		login("bob")
	}
	if b.floor.draw(func(n int) int {
		if n != floorWindow {
			t.Errorf("the window holds %d verifications, want %d", n, floorWindow)
		}
		return 0
	}) != 300*time.Millisecond {
		t.Error("the window does not hold the recent verifications")
	}
}

// TestLearnsAKindStoredAfterStart: a kind of hash imported while the host
// runs is learned at its user's first lookup; if it is the slowest, unknown
// users cost what it costs from then on.
func TestLearnsAKindStoredAfterStart(t *testing.T) {
	host := seededHost(t) // argon2id and pbkdf2 10000
	b, _, costs := timedBackend(t, host)
	if b.floor.slowest.family() != "pbkdf2_sha256" {
		t.Fatalf("the slowest kind is %v, want pbkdf2", b.floor.slowest)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("late-pw"), bcrypt.MinCost)
	host.AddUser(sdk.User{Username: "late", PasswordHash: string(bc)})
	var resp sdk.AuthenticateResponse
	if err := b.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "late", Password: "wrong"}, &resp); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.floor.mu.Lock()
		slowest := b.floor.slowest
		b.floor.mu.Unlock()
		if slowest.family() == "bcrypt" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slowest kind is still %v after a bcrypt hash was looked up", slowest)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "nobody", Password: "x"}, &resp); err != nil {
		t.Fatal(err)
	}
	if got := costs.last(); got.family() != "bcrypt" {
		t.Errorf("an unknown user verified a hash of kind %v, want bcrypt", got)
	}
}

// TestRehashTakesAHashingSlot: the argon2id hash that replaces a legacy one
// after a login is made within the backend's hashing concurrency limit,
// like every verification.
func TestRehashTakesAHashingSlot(t *testing.T) {
	host := seededHost(t)
	b := New()
	var held []int
	b.newHash = func(password string, p Argon2Params) (string, error) {
		held = append(held, b.pool.InUse())
		return Hash(password, p)
	}
	cfg := json.RawMessage(`{"argon2id":{"memory_kib":64,"iterations":1,"parallelism":1},"max_concurrent_hashes":1}`)
	if err := b.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "local", Config: cfg, Host: host}); err != nil {
		t.Fatal(err)
	}
	var resp sdk.AuthenticateResponse
	if err := b.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "django", Password: "lètmein"}, &resp); err != nil || resp.Decision != sdk.DecisionIdentity {
		t.Fatalf("login: %+v, %v", resp, err)
	}
	if u, _ := host.User("django"); NeedsRehash(u.PasswordHash, fastParams) {
		t.Fatal("the legacy hash was not replaced")
	}
	if len(held) != 1 || held[0] != 1 {
		t.Fatalf("slots held while rehashing: %v, want [1]", held)
	}
}

// deniedLister is a host whose ListUsers is refused, as for a backend
// without password_hashes:read.
type deniedLister struct{ *sdktest.MemoryHost }

func (h deniedLister) Users() sdk.Users { return h }

func (deniedLister) ListUsers(context.Context, string, int) ([]sdk.User, error) {
	return nil, fmt.Errorf("%w: not granted", sdk.ErrPermissionDenied)
}

// TestLoginFailsClosedWithoutTheStoredKinds: a backend that cannot learn
// which kinds of hash are stored does not decide logins (503), rather than
// answer in times that tell users apart.
func TestLoginFailsClosedWithoutTheStoredKinds(t *testing.T) {
	b := New()
	if err := b.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "local", Config: fastConfig, Host: deniedLister{seededHost(t)}}); err != nil {
		t.Fatal(err)
	}
	var resp sdk.AuthenticateResponse
	err := b.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "alice", Password: "alice-pw"}, &resp)
	if !errors.Is(err, sdk.ErrUnavailable) || resp.Decision == sdk.DecisionIdentity {
		t.Fatalf("got %+v, %v; want ErrUnavailable and no identity", resp, err)
	}
}
