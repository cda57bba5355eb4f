package supervisor

import "runtime"

// mainThread runs functions on the process's main thread, for tests of
// what the supervisor must not do there (TestSandboxSparesTheMainThread):
// the main goroutine is locked to the main thread (see init below) and
// serves it while the tests run (ServingMainThread, from TestMain).
var mainThread = make(chan func())

// The main goroutine stays on the main thread after the package's
// initialisation: init functions run there, and a LockOSThread in one
// keeps it so.
func init() { runtime.LockOSThread() }

// ServingMainThread runs run on another goroutine, and the functions sent
// on mainThread on this one, until run returns.
func ServingMainThread(run func() int) int {
	done := make(chan int)
	go func() { done <- run() }()
	for {
		select {
		case f := <-mainThread:
			f()
		case code := <-done:
			return code
		}
	}
}
