// Package passwords helps a backend that checks passwords against stored
// hashes (a file, a table of its own, another service's export) do it
// without the two mistakes such backends make most:
//
//   - Answering sooner for an unknown user than for a known one. A backend
//     that abstains at once when it finds no hash, but spends 50 ms on
//     bcrypt when it finds one, tells anyone with a stopwatch which
//     usernames exist. A Checker verifies a dummy hash for unknown users,
//     and makes a known user whose hash is cheaper than the dummy wait as
//     long as the dummy would have taken.
//   - Hashing without a bound. Each verification takes a core for tens of
//     milliseconds; a burst of logins would queue on every core at once
//     and slow everything in the process. A Pool bounds how many run at a
//     time; the others wait their turn, or until their deadline.
//
// A backend makes one Pool and one Checker when it is configured:
//
//	pool := passwords.NewPool(0)
//	dummy, err := passwords.BcryptDummy(costliestStoredCost)
//	...
//	check, err := passwords.NewChecker(ctx, passwords.VerifyBcrypt, dummy, pool)
//	...
//	hash, found := table[req.Username]
//	ok, err := check.Check(ctx, hash, found, req.Password)
//
// sdktest.TimingCheck tests the result.
package passwords

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Pool bounds how many hashes are computed at once.
type Pool struct {
	slots chan struct{}
}

// NewPool returns a pool of n slots; n <= 0 means one per core the
// process may use (runtime.GOMAXPROCS).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Pool{slots: make(chan struct{}, n)}
}

// Size is how many slots the pool has.
func (p *Pool) Size() int { return cap(p.slots) }

// InUse is how many of its slots are taken now.
func (p *Pool) InUse() int { return len(p.slots) }

// Do runs f in one of the pool's slots, after waiting for one to be free.
// It returns ctx's error, without running f, if ctx ends first.
func (p *Pool) Do(ctx context.Context, f func()) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	f()
	return nil
}

// VerifyFunc reports whether password matches hash. An error means hash is
// not one it can verify; a mismatch is (false, nil).
type VerifyFunc func(hash, password string) (bool, error)

// calibrations is how many times NewChecker verifies the dummy hash to
// learn its time; window is how many recent times a Checker draws from.
// A window of unknown users' times lags a change of the machine's load by
// that many unknown users, and meanwhile a cheaper hash is padded to the
// old load's times; 16 catches up four times sooner than 64 did
// (docs/plugin-guide.md, "Unknown users must cost what known users cost").
const (
	calibrations = 3
	window       = 16
)

// Checker verifies passwords so that the time of an answer does not tell
// whether the user exists. Create it with NewChecker; it is safe for
// concurrent use.
type Checker struct {
	verify VerifyFunc
	dummy  string
	pool   *Pool

	// least is half the quickest calibration: a verification of the dummy
	// that takes less did not do the dummy's work (a verify that returned
	// early), and is not recorded, so that no request can teach the
	// Checker that the dummy is cheap and turn the padding off.
	least time.Duration

	mu    sync.Mutex
	times []time.Duration // recent verifications of the dummy hash
	next  int             // where the next time goes in times
	// late is how much later than asked a wait has been ending, on
	// average: timers wake late, and a padded answer would otherwise come
	// that much after an unknown user's, which enough tries can tell.
	late time.Duration
}

// NewChecker returns a Checker that verifies with verify, in pool's slots
// (nil: a pool of its own, one slot per core). dummy is a hash of a random
// password, at least as costly as the costliest hash the backend stores:
// unknown users are verified against it, and a user whose hash is costlier
// than it answers later than an unknown user would, which tells the two
// apart. NewChecker verifies dummy a few times to learn how long it takes;
// an error is ctx's, or verify's on dummy.
func NewChecker(ctx context.Context, verify VerifyFunc, dummy string, pool *Pool) (*Checker, error) {
	if pool == nil {
		pool = NewPool(0)
	}
	c := &Checker{verify: verify, dummy: dummy, pool: pool}
	for range calibrations {
		_, took, err := c.timed(ctx, dummy, "")
		if err != nil {
			return nil, fmt.Errorf("verifying the dummy hash: %w", err)
		}
		c.record(took)
	}
	c.least = slices.Min(c.times) / 2
	return c, nil
}

// Check reports whether password matches hash. With found false (no such
// user, or none with a usable hash) it verifies the dummy hash instead and
// reports false. A verification that took less than every recent one of
// the dummy hash was of a cheaper hash (a legacy format, a lower cost):
// it then waits, after giving back its slot, until it has taken as long as
// one of them, drawn at random, so that its time follows theirs. An error
// is verify's, or ctx's while waiting.
func (c *Checker) Check(ctx context.Context, hash string, found bool, password string) (bool, error) {
	if !found {
		hash = c.dummy
	}
	ok, took, err := c.timed(ctx, hash, password)
	if err != nil {
		return false, err
	}
	var wait time.Duration
	c.mu.Lock()
	if !found {
		if took >= c.least {
			c.record(took)
		}
	} else if took < slices.Min(c.times) {
		wait = c.times[mrand.IntN(len(c.times))] - took - c.late
	}
	c.mu.Unlock()
	if wait > 0 {
		if err := c.sleep(ctx, wait); err != nil {
			return false, err
		}
	}
	return ok && found, nil
}

// sleep waits for d, or until ctx ends, and learns how late the wait
// ended.
func (c *Checker) sleep(ctx context.Context, d time.Duration) error {
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	late := time.Since(start) - d
	c.mu.Lock()
	c.late += (late - c.late) / 8
	c.mu.Unlock()
	return nil
}

// timed verifies password against hash in a slot, and returns how long
// the verification took, not counting the wait for the slot.
func (c *Checker) timed(ctx context.Context, hash, password string) (ok bool, took time.Duration, err error) {
	perr := c.pool.Do(ctx, func() {
		start := time.Now()
		ok, err = c.verify(hash, password)
		took = time.Since(start)
	})
	if perr != nil {
		return false, 0, perr
	}
	return ok, took, err
}

// record adds a verification time of the dummy hash; c.mu is held or c
// is not shared yet.
func (c *Checker) record(d time.Duration) {
	if len(c.times) < window {
		c.times = append(c.times, d)
		return
	}
	c.times[c.next] = d
	c.next = (c.next + 1) % window
}

// ErrNotBcrypt is VerifyBcrypt's error for a hash that is not bcrypt.
var ErrNotBcrypt = errors.New("not a bcrypt hash")

// bcryptMaxPassword is the most bcrypt reads of a password: it ignores
// the rest, so Go's bcrypt refuses longer ones rather than let two
// passwords that share their first 72 bytes match the same hash.
const bcryptMaxPassword = 72

// VerifyBcrypt is a VerifyFunc for bcrypt hashes, with any of the prefixes
// $2a$, $2b$ and $2y$ (Apache's htpasswd writes $2y$). A password longer
// than bcrypt reads never matches, after the same work as any other: an
// answer that came at once would tell a known user from an unknown one.
func VerifyBcrypt(hash, password string) (bool, error) {
	if !isBcrypt(hash) {
		return false, ErrNotBcrypt
	}
	tooLong := len(password) > bcryptMaxPassword
	if tooLong {
		password = password[:bcryptMaxPassword]
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if tooLong && (err == nil || errors.Is(err, bcrypt.ErrMismatchedHashAndPassword)) {
		return false, nil
	}
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrNotBcrypt, err)
	}
	return true, nil
}

// BcryptCost returns the cost of a bcrypt hash, or an error for anything
// else.
func BcryptCost(hash string) (int, error) {
	if !isBcrypt(hash) {
		return 0, ErrNotBcrypt
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotBcrypt, err)
	}
	return cost, nil
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// BcryptDummy returns a bcrypt hash of cost (at least bcrypt's default,
// 10) made of a random password nobody knows.
func BcryptDummy(cost int) (string, error) {
	cost = max(cost, bcrypt.DefaultCost)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(base64.RawStdEncoding.EncodeToString(secret)), cost)
	return string(h), err
}
