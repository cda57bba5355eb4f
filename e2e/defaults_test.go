package e2e

import (
	"fmt"
	"testing"
)

// The built-in configuration slows the attacks users face (SPEC §8,
// docs/lockout.md "The default"): spraying one password over many
// usernames from one address, and guessing one username from many
// addresses — IPv6 addresses of one /64 count as one.
func TestDefaultLockoutStopsSprayingAndDistributedGuessing(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "storage: {driver: sqlite, dsn: ./portcullis.db}\n")
	h := startHost(t, cfg)
	mustRun(t, cfg, "pw-victim\n", "users", "add", "victim", "--password-stdin")

	// firstRefusal sends the attempts in order and returns the 1-based
	// number of the first one refused with 429 (0: none was).
	firstRefusal := func(attempts [][2]string) int {
		t.Helper()
		for i, a := range attempts {
			r := h.loginFrom(a[0], a[1], "Summer2026!")
			switch r.status {
			case 401:
			case 429:
				return i + 1
			default:
				t.Fatalf("attempt %d (%s from %s): %d %s", i+1, a[1], a[0], r.status, r.raw)
			}
		}
		return 0
	}

	t.Run("spraying 30 usernames from one address", func(t *testing.T) {
		var attempts [][2]string
		for i := range 30 {
			attempts = append(attempts, [2]string{"198.51.100.7", fmt.Sprintf("user%02d", i)})
		}
		if n := firstRefusal(attempts); n == 0 || n > 21 {
			t.Fatalf("first refusal at attempt %d of 30, want by the 21st (20 failures per address)", n)
		}
	})
	t.Run("40 guesses at one username from 40 addresses", func(t *testing.T) {
		var attempts [][2]string
		for i := range 40 {
			attempts = append(attempts, [2]string{fmt.Sprintf("203.0.113.%d", 100+i), "victim"})
		}
		if n := firstRefusal(attempts); n == 0 || n > 21 {
			t.Fatalf("first refusal at attempt %d of 40, want by the 21st (20 failures per username)", n)
		}
	})
	t.Run("40 addresses in one IPv6 /64", func(t *testing.T) {
		var attempts [][2]string
		for i := range 40 {
			attempts = append(attempts, [2]string{fmt.Sprintf("2001:db8:7:7::%x", 0x100+i), "other"})
		}
		if n := firstRefusal(attempts); n == 0 || n > 6 {
			t.Fatalf("first refusal at attempt %d of 40, want by the 6th (the /64 is one client: 5 failures per username and address)", n)
		}
	})
}
