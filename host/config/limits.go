package config

import (
	"fmt"
	"runtime"
	"time"
)

// Limits bound what the host takes on at once, so that a flood of
// connections or logins costs it bounded memory and leaves room for the
// logins that are not part of the flood.
type Limits struct {
	// MaxConnections is the most HTTP connections open at once, idle
	// (kept alive, or not yet sent a request) and active alike. Further
	// connections wait in the kernel's listen backlog; while they wait,
	// the host closes connections that have waited longest for a request.
	MaxConnections int `json:"max_connections"`
	// MaxConcurrentLoginsPerAddress is the most logins one client address
	// (an IPv6 /64) may have in progress, running or queued; more are
	// refused with 429 before they reach the chain.
	MaxConcurrentLoginsPerAddress int `json:"max_concurrent_logins_per_address"`
	// MaxConcurrentLogins is the most logins that run the chain at once.
	MaxConcurrentLogins int `json:"max_concurrent_logins"`
	// MaxQueuedLogins is the most logins that wait for one of those turns;
	// more are refused with 503 at once.
	MaxQueuedLogins int `json:"max_queued_logins"`
	// LoginQueueWait bounds one login's wait for a turn; a login still
	// waiting then is refused with 503.
	LoginQueueWait Duration `json:"login_queue_wait"`
}

// Defaults of the limits that do not depend on the machine.
const (
	// DefaultMaxConnections holds the idle connections of a flood to a
	// few tens of MB (a connection costs the host about 11 KB).
	DefaultMaxConnections = 1024
	// DefaultMaxConcurrentLoginsPerAddress lets a burst of logins from
	// one address through (an office behind one NAT address at nine
	// o'clock, an application that does not pass its users' addresses,
	// correct passwords the lockout lets through failure_limit at a time),
	// while one address can never hold more than half of the default
	// queue.
	DefaultMaxConcurrentLoginsPerAddress = 128
	// DefaultLoginQueueWait is long enough for a full default queue to be
	// served at the rate the password backend hashes on a small machine,
	// short enough that a client under overload learns it well inside the
	// HTTP server's minute.
	DefaultLoginQueueWait = 10 * time.Second
	// minQueuedLogins is the smallest default queue, whatever the CPUs.
	minQueuedLogins = 256
	// MaxLoginQueueWait keeps a queued login's answer well inside the
	// 60 s the HTTP server gives a request to be answered.
	MaxLoginQueueWait = 30 * time.Second
)

// DefaultMaxConcurrentLogins is the default for max_concurrent_logins on a
// machine with cpus CPUs: four logins per CPU, four times the password
// backend's default number of hashes at once (one per CPU), so that the
// hashing stays busy while other logins wait on the lockout or the
// database.
func DefaultMaxConcurrentLogins(cpus int) int { return 4 * max(cpus, 1) }

// DefaultMaxQueuedLogins is the default for max_queued_logins: four
// waiting logins per running one, and at least 256, so that a burst of a
// hundred logins waits its turn instead of being refused.
func DefaultMaxQueuedLogins(maxConcurrentLogins int) int {
	return max(4*maxConcurrentLogins, minQueuedLogins)
}

func (l *Limits) applyDefaults() { l.applyDefaultsFor(runtime.NumCPU()) }

// applyDefaultsFor fills the limits left at zero for a machine with cpus
// CPUs. As for durations, an explicit 0 means the default.
func (l *Limits) applyDefaultsFor(cpus int) {
	if l.MaxConnections == 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxConcurrentLoginsPerAddress == 0 {
		l.MaxConcurrentLoginsPerAddress = DefaultMaxConcurrentLoginsPerAddress
	}
	if l.MaxConcurrentLogins == 0 {
		l.MaxConcurrentLogins = DefaultMaxConcurrentLogins(cpus)
	}
	if l.MaxQueuedLogins == 0 {
		running := l.MaxConcurrentLogins
		if running <= 0 { // a problem of its own; not one of this key too
			running = DefaultMaxConcurrentLogins(cpus)
		}
		l.MaxQueuedLogins = DefaultMaxQueuedLogins(running)
	}
	setDefault(&l.LoginQueueWait, DefaultLoginQueueWait)
}

// validate checks the limits (defaults applied) and returns their problems
// and warnings.
func (l *Limits) validate() (ps []Problem, warnings []string) {
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for _, f := range []struct {
		path string
		v    int
	}{
		{"limits.max_connections", l.MaxConnections},
		{"limits.max_concurrent_logins_per_address", l.MaxConcurrentLoginsPerAddress},
		{"limits.max_concurrent_logins", l.MaxConcurrentLogins},
		{"limits.max_queued_logins", l.MaxQueuedLogins},
	} {
		if f.v <= 0 {
			fail(f.path, "must be > 0")
		}
	}
	switch {
	case l.LoginQueueWait <= 0:
		fail("limits.login_queue_wait", "must be > 0")
	case l.LoginQueueWait.D() > MaxLoginQueueWait:
		fail("limits.login_queue_wait", "must be at most %s: a queued login must still be answered before the server gives up on the request", MaxLoginQueueWait)
	}
	if len(ps) == 0 && l.MaxConcurrentLoginsPerAddress >= l.MaxConcurrentLogins+l.MaxQueuedLogins {
		warnings = append(warnings, fmt.Sprintf("limits.max_concurrent_logins_per_address (%d) is not below max_concurrent_logins + max_queued_logins (%d): one address can take every login turn and place in the queue, and other clients are refused while it does",
			l.MaxConcurrentLoginsPerAddress, l.MaxConcurrentLogins+l.MaxQueuedLogins))
	}
	return ps, warnings
}
