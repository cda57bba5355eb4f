package main

import "golang.org/x/sys/unix"

// closeInheritedOnExec marks every descriptor above standard error
// close-on-exec. Go opens its own files so, but one the host inherited
// from whatever started it (a wrapper script, a supervisor) is not, and
// would pass on to every plugin the host starts, sandbox or not.
func closeInheritedOnExec() {
	_ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}
