package tokens

import (
	"testing"
	"time"
)

// SetClock makes i, and its key ring, read the time from now: a test
// moves time forward instead of waiting. Call it before i is used.
func SetClock(i *Issuer, now func() time.Time) {
	i.now = now
	i.keys.now = now
}

// AwaitReload waits until no reload of k's keys runs in the background
// (refreshIfStale starts one), failing t after a few seconds.
func AwaitReload(t testing.TB, k *KeyRing) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); k.reloading.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background reload of the signing keys did not end within 5s")
		}
	}
}
