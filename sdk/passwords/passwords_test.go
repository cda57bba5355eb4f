package passwords

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestPoolBoundsConcurrency(t *testing.T) {
	p := NewPool(2)
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.Do(context.Background(), func() {
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := most.Load(); got != 2 {
		t.Errorf("at most %d ran at once, want 2", got)
	}
}

func TestPoolGivesUpWhenTheContextEnds(t *testing.T) {
	p := NewPool(1)
	release := make(chan struct{})
	go p.Do(context.Background(), func() { <-release })
	defer close(release)
	if p.Size() != 1 {
		t.Fatalf("a pool of 1 has %d slots", p.Size())
	}
	for p.InUse() == 0 { // until the slot is taken
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	ran := false
	if err := p.Do(ctx, func() { ran = true }); !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("Do on a full pool = %v (ran %v), want the deadline and nothing run", err, ran)
	}
}

func bcryptHash(t *testing.T, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestVerifyBcrypt(t *testing.T) {
	h := bcryptHash(t, "right", 4)
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hash := prefix + strings.TrimPrefix(h, "$2a$")
		if ok, err := VerifyBcrypt(hash, "right"); !ok || err != nil {
			t.Errorf("%s: the right password = %v, %v", prefix, ok, err)
		}
		if ok, err := VerifyBcrypt(hash, "wrong"); ok || err != nil {
			t.Errorf("%s: a wrong password = %v, %v", prefix, ok, err)
		}
		if cost, err := BcryptCost(hash); cost != 4 || err != nil {
			t.Errorf("%s: BcryptCost = %d, %v", prefix, cost, err)
		}
	}
	// bcrypt reads 72 bytes: a longer password must not match a hash of
	// its first 72.
	long := strings.Repeat("x", 80)
	if ok, err := VerifyBcrypt(bcryptHash(t, long[:72], 4), long); ok || err != nil {
		t.Errorf("an 80-byte password against the hash of its first 72 = %v, %v", ok, err)
	}
	for _, bad := range []string{"", "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "$apr1$salt$hash", "$2y$xx$garbage"} {
		if ok, err := VerifyBcrypt(bad, "x"); ok || !errors.Is(err, ErrNotBcrypt) {
			t.Errorf("VerifyBcrypt(%q) = %v, %v; want ErrNotBcrypt", bad, ok, err)
		}
		if _, err := BcryptCost(bad); !errors.Is(err, ErrNotBcrypt) {
			t.Errorf("BcryptCost(%q) = %v; want ErrNotBcrypt", bad, err)
		}
	}
}

func TestBcryptDummyHasAtLeastTheDefaultCost(t *testing.T) {
	d, err := BcryptDummy(4)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := BcryptCost(d); cost != bcrypt.DefaultCost {
		t.Errorf("cost %d, want %d", cost, bcrypt.DefaultCost)
	}
	if d2, _ := BcryptDummy(4); d2 == d {
		t.Error("two dummies are the same hash")
	}
}

// slowVerify takes 20 ms for the hash "slow" and no time for "fast"; the
// password "right" matches either. The password "early" returns at once,
// as a verify that gives up on a password it cannot take does.
func slowVerify(hash, password string) (bool, error) {
	switch {
	case password == "early":
		return false, nil
	case hash == "slow":
		time.Sleep(20 * time.Millisecond)
	case hash == "fast":
	default:
		return false, errors.New("unknown hash")
	}
	return password == "right", nil
}

func TestCheckerAnswers(t *testing.T) {
	ctx := context.Background()
	c, err := NewChecker(ctx, slowVerify, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hash     string
		found    bool
		password string
		want     bool
	}{
		{"slow", true, "right", true},
		{"slow", true, "wrong", false},
		{"fast", true, "right", true},
		// The dummy matching does not make an unknown user known.
		{"", false, "right", false},
		{"fast", false, "right", false},
	} {
		if got, err := c.Check(ctx, tc.hash, tc.found, tc.password); got != tc.want || err != nil {
			t.Errorf("Check(%q, found %v, %q) = %v, %v; want %v", tc.hash, tc.found, tc.password, got, err, tc.want)
		}
	}
	if _, err := c.Check(ctx, "unreadable", true, "right"); err == nil {
		t.Error("a hash verify cannot read gave no error")
	}
}

// A cheaper hash is made to wait: it never answers sooner than the
// quickest verification of the dummy it has seen, less how late the
// Checker has learned its timers wake (it asks for that much less, so that
// on average the answer comes when the dummy's would). A lower bound the
// waiting guarantees, not a speed.
func TestCheckerPadsCheaperHashes(t *testing.T) {
	ctx := context.Background()
	c, err := NewChecker(ctx, slowVerify, "slow", NewPool(1))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.mu.Lock()
		late := c.late
		c.mu.Unlock()
		start := time.Now()
		if ok, err := c.Check(ctx, "fast", true, "wrong"); ok || err != nil {
			t.Fatal(ok, err)
		}
		if took := time.Since(start); took < 20*time.Millisecond-late {
			t.Fatalf("a cheap hash answered in %v, sooner than any verification of the dummy (20ms) less its timers' lateness (%v)", took, late)
		}
	}
	// And the wait ends with the caller's context.
	cctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if _, err := c.Check(cctx, "fast", true, "right"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Check past its deadline = %v", err)
	}
}

func TestNewCheckerRefusesAnUnreadableDummy(t *testing.T) {
	if _, err := NewChecker(context.Background(), VerifyBcrypt, "not a hash", nil); !errors.Is(err, ErrNotBcrypt) {
		t.Errorf("NewChecker with a dummy VerifyBcrypt cannot read = %v", err)
	}
}

// Unknown users whose verification returns at once (a password the verify
// gives up on) do not teach the Checker that the dummy is cheap: a cheap
// hash is still padded after many of them.
func TestCheckerCannotBeTaughtTheDummyIsCheap(t *testing.T) {
	ctx := context.Background()
	c, err := NewChecker(ctx, slowVerify, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 * window {
		if _, err := c.Check(ctx, "", false, "early"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := c.Check(ctx, "fast", true, "wrong"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Fatalf("a cheap hash answered in %v after %d unknown users that returned at once: the padding was turned off", took, 2*window)
	}
}

// A password longer than bcrypt reads costs a whole verification, like any
// other: VerifyBcrypt of it against a costly hash is not instant (a lower
// bound the work guarantees, not a speed).
func TestVerifyBcryptDoesTheWorkForLongPasswords(t *testing.T) {
	h := bcryptHash(t, "short", 10)
	start := time.Now()
	if ok, err := VerifyBcrypt(h, "short"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	full := time.Since(start)
	start = time.Now()
	if ok, err := VerifyBcrypt(h, strings.Repeat("y", 100)); ok || err != nil {
		t.Fatal(ok, err)
	}
	if long := time.Since(start); long < full/4 {
		t.Fatalf("a 100-byte password took %v, a right one %v: it skipped the work", long, full)
	}
}
