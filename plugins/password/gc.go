package password

import (
	"runtime/debug"
	"sync"
)

// gcVerifications is how many verifications' memory the backend's process
// lets become garbage before its collector runs.
//
// Each argon2id verification allocates its whole memory cost (19 MiB by
// default) and drops it when it ends, and the process has little else on
// its heap: what is live when the collector marks is about the hashes in
// flight. At the runtime's default (GOGC=100) the collector then runs
// once every max_concurrent_hashes verifications. On two CPUs that was
// every 2.8 logins: each run stopped both hashing threads twice, and the
// runtime gave pages back to the system between runs and faulted them in
// again for the next hash (26–56 page faults and two or three madvise
// calls, each a TLB shootdown on the other CPU, a login). Letting six
// verifications' memory go to garbage between runs made the password
// plugin's CPU a login 2–12% lower and took its page faults to under one
// a login (docs/design/login-speed.md, "The password plugin's collector").
//
// The memory a burst leaves is not handed back on purpose (by
// debug.FreeOSMemory after an idle spell, say): the next verifications
// would fault their whole memory in again and take several times as long,
// while a legacy hash's attempt, padded to a recent warm verification,
// would not, and the time of an answer would tell the two apart.
const gcVerifications = 6

// gcPercent is the GOGC that makes a process verifying slots hashes at
// once collect about once every gcVerifications verifications: the heap
// may grow to about slots + gcVerifications verifications' memory, so
// the garbage waited for is bounded whatever slots is. Never below the
// runtime's default.
func gcPercent(slots int) int {
	return max(100, 100*gcVerifications/max(slots, 1))
}

// tuned is the GC percent tuneGC last set, so that a configuration with
// other slots replaces it (0 until it sets one).
var tuned struct {
	sync.Mutex
	percent int
}

// tuneGC sets the process's GC percent for slots concurrent hashes. It
// never lowers a percent set by anything else (nor turns on a collector
// that was turned off), and returns the percent in force.
func tuneGC(slots int) int {
	tuned.Lock()
	defer tuned.Unlock()
	want := gcPercent(slots)
	prev := debug.SetGCPercent(want)
	if prev != tuned.percent && (prev < 0 || prev > want) {
		debug.SetGCPercent(prev)
		return prev
	}
	tuned.percent = want
	return want
}
