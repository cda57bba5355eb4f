package supervisor

import "runtime"

// spawner runs process starts on one OS thread that never exits.
//
// Linux sends a child its parent-death signal when the *thread* that forked
// it exits, not the process. Go may retire threads, so every plugin is
// forked from this locked thread, which lives as long as the host.
type spawner struct {
	jobs chan func()
}

func newSpawner() *spawner {
	s := &spawner{jobs: make(chan func())}
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread must outlive every child
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
