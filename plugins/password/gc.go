package password

import (
	"runtime/debug"
	"sync"
	"time"
)

// gcVerifications is how many verifications' memory the backend's process
// lets become garbage before its collector runs.
//
// Each argon2id verification allocates its whole memory cost (19 MiB by
// default) and drops it when it ends, and the process has little else on
// its heap: what is live when the collector marks is about the hashes in
// flight. At the runtime's default (GOGC=100) the collector then runs
// once every max_concurrent_hashes verifications. On two CPUs that was
// every 2.5 logins: each run stopped both hashing threads twice, and the
// runtime gave pages back to the system between runs and faulted them in
// again for the next hash (about 25–50 page faults and two madvise calls,
// each a TLB shootdown on the other CPU, a login). Letting six
// verifications' memory go to garbage between runs made the password
// plugin's CPU a login 4–12% lower and took its page faults to under one
// a login (docs/design/login-speed.md, "The password plugin's collector").
// The heap a burst leaves behind is given back once the backend has been
// idle for idleFree (idleMemory).
const gcVerifications = 6

// gcPercent is the GOGC that makes a process verifying slots hashes at
// once collect about once every gcVerifications verifications: the heap
// may grow to about slots + gcVerifications verifications' memory, so
// the garbage waited for is bounded whatever slots is. Never below the
// runtime's default.
func gcPercent(slots int) int {
	return max(100, 100*gcVerifications/max(slots, 1))
}

// tuneGC sets the process's GC percent for slots concurrent hashes. It
// never lowers a percent set before (nor turns on a collector that was
// turned off), and returns the percent in force.
func tuneGC(slots int) int {
	want := gcPercent(slots)
	prev := debug.SetGCPercent(want)
	if prev < 0 || prev > want {
		debug.SetGCPercent(prev)
		return prev
	}
	return want
}

// idleFree is how long the backend's hashing slots stay empty before the
// memory a burst left behind is given back to the system.
const idleFree = 10 * time.Second

// idleMemory gives the process's free memory back to the system once no
// hash has run for a while. With the collector sized for bursts
// (gcPercent), the runtime would otherwise keep about four times what is
// live after a burst, at least until its next forced collection, and
// hold on to much of it afterwards.
type idleMemory struct {
	after  time.Duration
	free   func() // debug.FreeOSMemory; tests replace it
	mu     sync.Mutex
	active int
	timer  *time.Timer
}

func newIdleMemory() *idleMemory {
	return &idleMemory{after: idleFree, free: debug.FreeOSMemory}
}

// begin marks a hash started.
func (m *idleMemory) begin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active++
	if m.timer != nil {
		m.timer.Stop()
	}
}

// end marks a hash done; the last one to end starts the wait.
func (m *idleMemory) end() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active--
	if m.active > 0 {
		return
	}
	if m.timer == nil {
		m.timer = time.AfterFunc(m.after, m.fire)
	} else {
		m.timer.Reset(m.after)
	}
}

// fire gives the memory back if no hash started meanwhile.
func (m *idleMemory) fire() {
	m.mu.Lock()
	idle := m.active == 0
	m.mu.Unlock()
	if idle {
		m.free()
	}
}
