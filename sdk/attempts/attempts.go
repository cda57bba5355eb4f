// Package attempts describes a rule the host enforces on login attempts,
// declared by a plugin that implements sdk.AttemptLimiter (the first-party
// lockout plugin is one).
//
// The host, not the plugin, counts: at the declaring backend's place in the
// chain it works out the attempt's counters (one per Counter, keyed by the
// client's values of its Fields), refuses an attempt while any counter is at
// its limit, and otherwise reserves the attempt on every counter. An
// attempt whose outcome is not yet known is in flight: it is never counted
// as a failure and never causes a refusal, but while a counter's failures
// and in-flight attempts together reach its limit, further attempts on it
// wait (up to Rule.MaxWait, then the host answers 503 try_again, not
// counted) until earlier ones end. When the login ends the host settles the
// reservation: a wrong password (sdk.LoginFailed) becomes a counted
// failure; anything else is given back. So under any burst at most a
// counter's limit of wrong attempts ever reach the backends after the
// declaring one, on one host or on many sharing a database, and a burst of
// correct passwords is never refused or counted.
package attempts

import (
	"net/netip"
	"time"
)

// The client fields a Counter can combine.
const (
	FieldUsername  = "username"
	FieldIPAddress = "ip_address"
	FieldUserAgent = "user_agent"
)

// Username normalizations, applied to the username before it keys a
// counter.
const (
	NormalizeNone      = ""
	NormalizeLowercase = "lowercase"
	// NormalizeCasefold folds case the Unicode way after compatibility
	// normalization (NFKC), so that "Bob", "BOB" and "ｂｏｂ" count together.
	NormalizeCasefold = "casefold"
)

// Rule is what an sdk.AttemptLimiter declares.
type Rule struct {
	// Counters are OR'd: an attempt is refused when any of its counters is
	// at its limit. A counter with FieldUsername does not apply to a login
	// without a username.
	Counters []Counter
	// UsernameNormalization is one of the Normalize constants.
	UsernameNormalization string
	// IPv6Prefix is how many leading bits of an IPv6 client address key a
	// counter (a single host often owns a whole /64); 0 means 64. IPv4
	// addresses are always counted whole.
	IPv6Prefix int
	// AllowIPs are never counted nor refused; BlockIPs are always refused
	// (403 ip_blocked, not counted). Block wins over allow.
	AllowIPs, BlockIPs []netip.Prefix
	// OnlyAllowedIPs refuses every address not in AllowIPs.
	OnlyAllowedIPs bool
	// NeverLock counts failures and keeps the logs but never refuses (and
	// keeps no bound on attempts in flight).
	NeverLock bool
	// StatusCode of a refusal: 429 (default) or 403.
	StatusCode int
	// AccessLog records successful logins, with logout time.
	AccessLog bool
	// FailureLog records failed logins with a locked-out flag, keeping at
	// most FailureLogPerUser records per username (oldest dropped).
	FailureLog        bool
	FailureLogPerUser int
	// SensitiveFields are masked in the host's log lines about the rule.
	SensitiveFields []string
	// MaxWait bounds how long an attempt waits while a counter is full of
	// attempts in flight; 0 means 30 seconds.
	MaxWait time.Duration
}

// Counter is one lockout group: the client fields whose values together key
// a counter, and the failures it allows.
type Counter struct {
	// Fields are some of FieldUsername, FieldIPAddress and FieldUserAgent.
	Fields []string
	// Tiers, ascending by Failures, give the cool-off once the count
	// reaches each; the first tier's Failures is the counter's limit. A
	// Cooloff of zero locks until an operator resets the counter, and
	// counts never expire below the limit either.
	Tiers []Tier
	// CountWhileLocked counts an attempt refused by this counter's lock on
	// it, and starts its cool-off again from that attempt.
	CountWhileLocked bool
	// ResetOnSuccess removes the client's count on this counter when a
	// login succeeds.
	ResetOnSuccess bool
}

// Limit is the number of failures the counter allows before it locks.
func (c Counter) Limit() int {
	if len(c.Tiers) == 0 {
		return 0
	}
	return c.Tiers[0].Failures
}

// Tier is one step of a progressive cool-off.
type Tier struct {
	Failures int
	Cooloff  time.Duration
}
