//go:build !linux

// Package reach tries, from one process, to reach another that it should
// not: signal its threads and take its open files. It is Linux's: here
// every attempt is unsupported.
package reach

import "errors"

// Threads finds none here.
func Threads(int, int, int) []int { return nil }

// PidMax is of no use here.
func PidMax() int { return 1 << 22 }

// SignalAThread is unsupported here.
func SignalAThread(int, []int) error { return errors.ErrUnsupported }

// TakeAFile is unsupported here.
func TakeAFile(int, []int) error { return errors.ErrUnsupported }

// Capabilities is unsupported here.
func Capabilities() error { return errors.ErrUnsupported }
