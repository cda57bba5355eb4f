package supervisor

import (
	"runtime"
	"time"

	"github.com/portcullis-auth/portcullis/host/internal/timerslack"
)

// spawner runs process starts on one OS thread that never exits.
//
// Linux sends a child its parent-death signal when the *thread* that forked
// it exits, not the process. Go may retire threads, so every plugin is
// forked from this locked thread, which lives as long as the host. A child
// also takes the forking thread's timer slack, so this thread carries the
// plugins' slack when it is not the host's (Options.TimerSlack).
type spawner struct {
	jobs chan func()
}

// newSpawner starts the spawner thread; with slack > 0, plugins take that
// timer slack.
func newSpawner(slack time.Duration) *spawner {
	s := &spawner{jobs: make(chan func())}
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread must outlive every child
		if slack > 0 {
			// A positive slack is always accepted; if it were not, the
			// plugins would run with the host's, which only makes their
			// timed waits coarser.
			_ = timerslack.SetThread(slack)
		}
		close(ready)
		for job := range s.jobs {
			job()
		}
	}()
	<-ready
	return s
}

// run runs f on the spawner thread and waits for it.
func (s *spawner) run(f func() error) error {
	done := make(chan error, 1)
	s.jobs <- func() { done <- f() }
	return <-done
}
