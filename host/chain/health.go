package chain

import (
	"sync"
	"time"
)

// failingFor is how long after its last failed call, with no call since,
// a backend still counts as failing.
const failingFor = time.Minute

// Health records whether a backend's calls succeed, for /readyz. A nil
// *Health records nothing. It is safe for concurrent use.
type Health struct {
	now func() time.Time

	mu          sync.Mutex
	failures    int // in a row
	lastErr     string
	lastFailure time.Time
}

// NewHealth returns a Health with no calls recorded.
func NewHealth() *Health { return &Health{now: time.Now} }

func (h *Health) record(err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.failures, h.lastErr = 0, ""
		return
	}
	h.failures++
	h.lastErr, h.lastFailure = err.Error(), h.now()
}

// Failing reports whether the backend's last call failed, less than a
// minute ago, with how many calls in a row have failed and the last error.
func (h *Health) Failing() (bool, int, string) {
	if h == nil {
		return false, 0, ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures == 0 || h.now().Sub(h.lastFailure) > failingFor {
		return false, 0, ""
	}
	return true, h.failures, h.lastErr
}
