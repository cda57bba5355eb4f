package config

import (
	"testing"
	"time"
)

func TestTimerSlack(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want time.Duration
	}{
		{"timer_slack: 50us\n", 50 * time.Microsecond},
		{"timer_slack: 10ms\n", 10 * time.Millisecond},
		{"timer_slack: 0s\n", time.Millisecond},
	} {
		if got := mustParse(t, tt.yaml, nil).TimerSlack.D(); got != tt.want {
			t.Errorf("%q: timer_slack = %s, want %s", tt.yaml, got, tt.want)
		}
	}
	for _, tt := range []struct {
		yaml string
		want want
	}{
		{"timer_slack: -1ms\n", want{"timer_slack", "must be > 0"}},
		{"timer_slack: 11ms\n", want{"timer_slack", "must be at most 10ms: every timer of the host may fire that late"}},
		{"timer_slack: 1\n", want{"timer_slack", "must be a duration"}},
	} {
		_, err := Parse("test.yaml", []byte(tt.yaml), (&env{}).lookup)
		if err == nil {
			t.Errorf("%q: Parse accepted it", tt.yaml)
			continue
		}
		checkProblems(t, problems(t, err), []want{tt.want})
	}
}
