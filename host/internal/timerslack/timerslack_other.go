//go:build !linux

package timerslack

import (
	"errors"
	"time"
)

// Ensure does nothing where there is no timer slack to set.
func Ensure(time.Duration) (Result, error) { return Result{}, nil }

// SetThread does nothing where there is no timer slack to set.
func SetThread(d time.Duration) error {
	if d <= 0 {
		return errors.New("timer slack: must be > 0")
	}
	return nil
}
