package limiter

import (
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// maxSeenLocked bounds the counters a host remembers as locked.
const maxSeenLocked = 10000

// seenLocked is the counters this host has seen locked, until their lock
// ends. An attempt none of whose counters it holds skips the refusal check
// (a read) and goes straight to its admission, which finds a lock itself
// (storage.Locked); the refusal check then runs. It is only a hint: a
// counter locked on another host is found by the admission, one an
// operator unlocked by the refusal check, each at the cost of one
// statement more, and a counter left out for want of room is found like
// one locked elsewhere.
type seenLocked struct {
	mu    sync.Mutex
	until map[string]time.Time // the zero time: a lock without an end
}

func newSeenLocked() *seenLocked { return &seenLocked{until: map[string]time.Time{}} }

// add remembers st, if it is locked.
func (s *seenLocked) add(st storage.CounterState) {
	if !st.Locked() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.until[st.Key]; !ok && len(s.until) >= maxSeenLocked {
		for k := range s.until { // make room: any one
			delete(s.until, k)
			break
		}
	}
	s.until[st.Key] = st.ExpiresAt
}

// anyOf reports whether one of counters was seen locked and its lock has
// not ended by now; ended ones are forgotten.
func (s *seenLocked) anyOf(counters []storage.AttemptCounter, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, c := range counters {
		until, ok := s.until[c.Key]
		switch {
		case !ok:
		case !until.IsZero() && !now.Before(until):
			delete(s.until, c.Key)
		default:
			found = true
		}
	}
	return found
}

// empty reports whether no counter is held: no attempt needs looking up.
func (s *seenLocked) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.until) == 0
}

// forget drops counters, found not locked.
func (s *seenLocked) forget(counters []storage.AttemptCounter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range counters {
		delete(s.until, c.Key)
	}
}
