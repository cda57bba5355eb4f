package config

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLimitsDefaults(t *testing.T) {
	for _, tt := range []struct {
		cpus int
		want Limits
	}{
		{1, Limits{MaxConnections: 1024, MaxConcurrentLoginsPerAddress: 128, MaxConcurrentLogins: 4, MaxQueuedLogins: 256, LoginQueueWait: Duration(10 * time.Second)}},
		{2, Limits{MaxConnections: 1024, MaxConcurrentLoginsPerAddress: 128, MaxConcurrentLogins: 8, MaxQueuedLogins: 256, LoginQueueWait: Duration(10 * time.Second)}},
		{128, Limits{MaxConnections: 1024, MaxConcurrentLoginsPerAddress: 128, MaxConcurrentLogins: 512, MaxQueuedLogins: 2048, LoginQueueWait: Duration(10 * time.Second)}},
	} {
		var got Limits
		got.applyDefaultsFor(tt.cpus)
		if got != tt.want {
			t.Errorf("defaults on %d CPUs = %+v, want %+v", tt.cpus, got, tt.want)
		}
	}

	// A file without the section gets them for this machine.
	cfg := mustParse(t, "", nil)
	var want Limits
	want.applyDefaultsFor(runtime.NumCPU())
	if cfg.Limits != want {
		t.Errorf("limits of an empty file = %+v, want %+v", cfg.Limits, want)
	}
}

func TestLimitsParse(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(cpus int) Limits
	}{
		{"every key", "limits: {max_connections: 50, max_concurrent_logins_per_address: 3, max_concurrent_logins: 5, max_queued_logins: 7, login_queue_wait: 750ms}\n",
			func(int) Limits {
				return Limits{MaxConnections: 50, MaxConcurrentLoginsPerAddress: 3, MaxConcurrentLogins: 5, MaxQueuedLogins: 7, LoginQueueWait: Duration(750 * time.Millisecond)}
			}},
		{"the queue follows the running logins", "limits: {max_concurrent_logins: 100}\n",
			func(int) Limits {
				return Limits{MaxConnections: 1024, MaxConcurrentLoginsPerAddress: 128, MaxConcurrentLogins: 100, MaxQueuedLogins: 400, LoginQueueWait: Duration(10 * time.Second)}
			}},
		{"explicit zeros take the defaults", "limits: {max_connections: 0, max_concurrent_logins_per_address: 0, max_concurrent_logins: 0, max_queued_logins: 0, login_queue_wait: 0s}\n",
			func(cpus int) Limits {
				var l Limits
				l.applyDefaultsFor(cpus)
				return l
			}},
		{"an empty section", "limits:\n", func(cpus int) Limits {
			var l Limits
			l.applyDefaultsFor(cpus)
			return l
		}},
		{"the longest wait", "limits: {login_queue_wait: 30s}\n", func(cpus int) Limits {
			l := Limits{LoginQueueWait: Duration(30 * time.Second)}
			l.applyDefaultsFor(cpus)
			return l
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.yaml, nil)
			if want := tt.want(runtime.NumCPU()); cfg.Limits != want {
				t.Errorf("limits = %+v, want %+v", cfg.Limits, want)
			}
		})
	}
}

func TestLimitsProblems(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		wants []want
	}{
		{"unknown key", "limits: {max_conns: 5}\n", []want{{"limits.max_conns", "unknown key (known: max_connections, max_concurrent_logins_per_address, max_concurrent_logins, max_queued_logins, login_queue_wait)"}}},
		{"not a mapping", "limits: 100\n", []want{{"limits", "must be a mapping"}}},
		{"not a number", "limits: {max_connections: many}\n", []want{{"limits.max_connections", "must be a whole number, not a string"}}},
		{"a fraction", "limits: {max_queued_logins: 2.5}\n", []want{{"limits.max_queued_logins", "must be a whole number, not number 2.5"}}},
		{"a wait without a unit", "limits: {login_queue_wait: 2}\n", []want{{"limits.login_queue_wait", "must be a duration"}}},
		{"negative counts and wait", "limits: {max_connections: -1, max_concurrent_logins_per_address: -2, max_concurrent_logins: -3, max_queued_logins: -4, login_queue_wait: -1s}\n", []want{
			{"limits.max_connections", "must be > 0"},
			{"limits.max_concurrent_logins_per_address", "must be > 0"},
			{"limits.max_concurrent_logins", "must be > 0"},
			{"limits.max_queued_logins", "must be > 0"},
			{"limits.login_queue_wait", "must be > 0"},
		}},
		// One mistake, one problem: the queue's default does not follow a
		// negative number of running logins.
		{"negative running logins only", "limits: {max_concurrent_logins: -3}\n", []want{{"limits.max_concurrent_logins", "must be > 0"}}},
		{"a wait too long", "limits: {login_queue_wait: 31s}\n", []want{{"limits.login_queue_wait", "must be at most 30s"}}},
		{"reported with the other problems", "listen: nowhere\nlimits: {max_connections: -5, login_queue_wait: 1h}\n", []want{
			{"listen", "must be host:port"},
			{"limits.max_connections", "must be > 0"},
			{"limits.login_queue_wait", "must be at most 30s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.raw), (&env{}).lookup)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			checkProblems(t, problems(t, err), tt.wants)
		})
	}
}

func TestLimitsWarnings(t *testing.T) {
	tests := []struct {
		yaml string
		want string // a piece of the one warning; "" for none
	}{
		{"limits: {max_concurrent_logins_per_address: 4, max_concurrent_logins: 2, max_queued_logins: 3}\n", ""},
		{"limits: {max_concurrent_logins_per_address: 5, max_concurrent_logins: 2, max_queued_logins: 3}\n",
			"limits.max_concurrent_logins_per_address (5) is not below max_concurrent_logins + max_queued_logins (5)"},
		{"limits: {max_concurrent_logins_per_address: 1000}\n", "one address can take every login turn"},
	}
	for _, tt := range tests {
		cfg := mustParse(t, tt.yaml, nil)
		got := cfg.Warnings()
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%q: warnings %q, want none", tt.yaml, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("%q: warnings %q, want one holding %q", tt.yaml, got, tt.want)
		}
	}
}
