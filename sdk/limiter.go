package sdk

import "github.com/portcullis-auth/portcullis/sdk/attempts"

// AttemptLimiter is a backend whose answer is a rule the host enforces on
// login attempts: which counters an attempt belongs to, how many failures
// each allows, for how long a client is locked (package sdk/attempts). The
// host evaluates the rule itself at the backend's place in the chain,
// counts every failure durably in its own storage, and keeps the burst
// bound (at most a counter's limit of wrong attempts in flight or counted)
// across hosts sharing a database; the plugin process is not called on the
// login path at all. The first-party lockout plugin is one.
//
// AttemptRule is called once after Configure; it must not do I/O.
type AttemptLimiter interface {
	AttemptRule() attempts.Rule
}
