package password

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The time of an answer must not tell which usernames exist, nor how their
// passwords are stored. Verifying a bcrypt-12 or a Django pbkdf2-1M hash
// takes several times what the current argon2id does, so a user imported
// with one, an unknown user and a current user each answer in their own
// time. So every attempt takes as long as the slowest kind of hash stored:
//
//   - The backend learns the kinds stored (ListUsers, when it starts; and
//     from each hash it looks up, if one appears later), and measures the
//     most costly kind of each family (argon2id, bcrypt, pbkdf2) to find
//     the slowest. The current argon2id kind always counts: new users get
//     it.
//   - An attempt without a usable stored hash (unknown user, user without a
//     password, a hash in an unknown format) verifies against a hash of the
//     slowest kind made of a random password.
//   - Every other attempt (a current hash, a cheaper legacy one) then waits,
//     after giving back its hashing slot, until it has taken as long as one
//     of the last floorWindow verifications of the slowest kind, drawn at
//     random. Its time then follows the distribution of the slowest kind's
//     under the same load, its spread included: not only the median, but
//     also how often an answer is slower than usual, matches. (A fixed
//     target such as the slowest of the window would leave the slowest
//     kind the only one ever slower than the target, and make every login
//     pay for the worst moment of the window.)
//
// docs/benchmarks.md measures the result.

// floorWindow is how many recent verifications of the slowest kind an
// attempt's time is drawn from.
const floorWindow = 64

// clock is the time the backend measures and waits with.
type clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// floor is what the backend knows about the kinds stored and the time of
// the slowest.
type floor struct {
	mu      sync.Mutex
	ready   bool
	seen    map[Kind]bool
	slowest Kind
	dummy   string // a hash of kind slowest, of a random password
	window  []time.Duration
	next    int // where the next duration goes in window
	// recalibrating is set while a goroutine measures kinds learned after
	// the start.
	recalibrating bool
}

// record adds a verification of the slowest kind to the window.
func (f *floor) record(d time.Duration) {
	if len(f.window) < floorWindow {
		f.window = append(f.window, d)
		return
	}
	f.window[f.next] = d
	f.next = (f.next + 1) % floorWindow
}

// draw returns one of the recent verification times of the slowest kind,
// picked by pick (a random index below its argument).
func (f *floor) draw(pick func(int) int) time.Duration { return f.window[pick(len(f.window))] }

// median is the median of the recent verification times of the slowest
// kind, for reports.
func (f *floor) median() time.Duration { return median(f.window) }

// prepare makes sure the backend knows the kinds stored and the time of
// the slowest: the first caller learns them (Configure starts it in the
// background), later ones wait for it or return at once. A failure is
// ErrUnavailable for this caller; the next one tries again.
func (b *Backend) prepare(ctx context.Context) error {
	b.floor.mu.Lock()
	ready := b.floor.ready
	b.floor.mu.Unlock()
	if ready {
		return nil
	}
	select {
	case b.preparing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.preparing }()
	b.floor.mu.Lock()
	ready = b.floor.ready
	b.floor.mu.Unlock()
	if ready {
		return nil
	}
	kinds, err := b.storedKinds(ctx)
	if err != nil {
		return err
	}
	kinds = append(kinds, CurrentKind(b.cfg.Argon2id))
	slowest, dummy, took, err := b.calibrate(ctx, kinds)
	if err != nil {
		return err
	}
	b.floor.mu.Lock()
	defer b.floor.mu.Unlock()
	b.floor.seen = map[Kind]bool{}
	for _, k := range kinds {
		b.floor.seen[k] = true
	}
	b.floor.slowest, b.floor.dummy = slowest, dummy
	b.floor.window, b.floor.next = nil, 0
	for _, d := range took {
		b.floor.record(d)
	}
	b.floor.ready = true
	b.log.Info("logins take as long as verifying the slowest kind of password hash stored",
		"kind", slowest.String(), "measured", median(took).Round(time.Millisecond).String())
	return nil
}

// storedKinds lists the kinds of every stored hash, once each.
func (b *Backend) storedKinds(ctx context.Context) ([]Kind, error) {
	seen := map[Kind]bool{}
	var kinds []Kind
	err := b.eachUser(ctx, func(u userHash) {
		if k := KindOf(u.hash); !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	})
	return kinds, err
}

// calibrateRuns is how many times each candidate kind is verified to find
// the slowest.
const calibrateRuns = 3

// calibrate finds the slowest of kinds: within a family, the one with the
// most work; across families, the one whose verifications took longest
// (the median of calibrateRuns, each in a hashing slot). It returns that
// kind, a dummy hash of it, and its verification times.
func (b *Backend) calibrate(ctx context.Context, kinds []Kind) (Kind, string, []time.Duration, error) {
	best := map[string]Kind{}
	for _, k := range kinds {
		f := k.family()
		if f == "" {
			continue
		}
		if k.tooCostly() {
			b.log.Warn("a stored password hash costs more than logins are made to wait for; its users' logins can be told apart by their time: replace these hashes (portcullis users rehash-report)", "kind", k.String())
			continue
		}
		if cur, ok := best[f]; !ok || k.work() > cur.work() || k.work() == cur.work() && k.String() < cur.String() {
			best[f] = k
		}
	}
	families := make([]string, 0, len(best))
	for f := range best {
		families = append(families, f)
	}
	slices.Sort(families)
	var slowest Kind
	var dummy string
	var slowestTook []time.Duration
	for _, f := range families {
		k := best[f]
		h, err := inSlot(ctx, b, func() (string, error) { return dummyHash(k) })
		if err != nil {
			return Kind{}, "", nil, fmt.Errorf("making a %s hash to measure: %w", k, err)
		}
		took := make([]time.Duration, calibrateRuns)
		for i := range took {
			if _, took[i], err = b.verify(ctx, h, "measuring"); err != nil {
				return Kind{}, "", nil, err
			}
		}
		sorted := slices.Sorted(slices.Values(took))
		if slowestTook == nil || sorted[len(sorted)/2] > median(slowestTook) {
			slowest, dummy, slowestTook = k, h, took
		}
	}
	if slowestTook == nil {
		return Kind{}, "", nil, fmt.Errorf("no kind of hash to measure")
	}
	return slowest, dummy, slowestTook, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	return s[len(s)/2]
}

// learn records the kind of a hash just looked up. A kind not stored when
// the backend started that is more costly than its family's, or of a
// family not seen, makes the backend measure again in the background: from
// then on, unknown users cost what it costs if it is the slowest.
func (b *Backend) learn(k Kind) {
	b.floor.mu.Lock()
	defer b.floor.mu.Unlock()
	if b.floor.seen[k] || k.family() == "" || k.tooCostly() {
		return
	}
	costlier := true
	for s := range b.floor.seen {
		if s.family() == k.family() && s.work() >= k.work() {
			costlier = false
		}
	}
	b.floor.seen[k] = true
	if !costlier || b.floor.recalibrating {
		return
	}
	b.floor.recalibrating = true
	kinds := make([]Kind, 0, len(b.floor.seen))
	for s := range b.floor.seen {
		kinds = append(kinds, s)
	}
	go b.recalibrate(kinds)
}

// recalibrate measures kinds again and makes the slowest the floor.
func (b *Backend) recalibrate(kinds []Kind) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slowest, dummy, took, err := b.calibrate(ctx, kinds)
	b.floor.mu.Lock()
	defer b.floor.mu.Unlock()
	b.floor.recalibrating = false
	if err != nil {
		b.log.Warn("measuring a kind of password hash learned at a login", "error", err)
		return
	}
	if slowest != b.floor.slowest {
		b.floor.slowest, b.floor.dummy = slowest, dummy
		b.floor.window, b.floor.next = nil, 0
		for _, d := range took {
			b.floor.record(d)
		}
		b.log.Info("logins take as long as verifying the slowest kind of password hash stored",
			"kind", slowest.String(), "measured", median(took).Round(time.Millisecond).String())
	}
}

// attempt verifies password against stored, of kind k, or, when usable is
// false, against the dummy hash of the slowest kind; an attempt that did
// not verify the slowest kind then waits until it has taken as long as a
// recent verification of it (see the top of this file).
func (b *Backend) attempt(ctx context.Context, usable bool, stored string, k Kind, password string) (bool, error) {
	b.floor.mu.Lock()
	slowest, dummy := b.floor.slowest, b.floor.dummy
	b.floor.mu.Unlock()
	if usable {
		b.learn(k)
	} else {
		stored, k = dummy, slowest
	}
	ok, took, err := b.verify(ctx, stored, password)
	if err != nil {
		return false, err
	}
	var wait time.Duration
	b.floor.mu.Lock()
	if k == b.floor.slowest {
		b.floor.record(took)
	} else {
		wait = b.floor.draw(b.pick) - took
	}
	b.floor.mu.Unlock()
	if wait > 0 {
		if err := b.clock.Sleep(ctx, wait); err != nil {
			return false, err
		}
	}
	return ok, nil
}
