package lockout

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Fields a lockout group can combine.
const (
	FieldUsername  = "username"
	FieldIPAddress = "ip_address"
	FieldUserAgent = "user_agent"
)

// Config is the plugin's `config:` section as written.
type Config struct {
	// FailureLimit is the number of failures allowed; the next attempt is
	// locked out (default 3, as django-axes).
	FailureLimit int `json:"failure_limit"`
	// Cooloff is how long a lock lasts after the last counted attempt, as a
	// Go duration ("30m"); absent or "0" locks until an operator resets it.
	Cooloff string `json:"cooloff"`
	// LockoutParameters is a list of groups, OR'd; each group is a field or
	// a list of fields, AND'd (default [ip_address], as django-axes).
	LockoutParameters []json.RawMessage `json:"lockout_parameters"`
	// ResetOnSuccess removes this client's counts on a successful login.
	ResetOnSuccess bool `json:"reset_on_success"`
	// LockOutAtFailure false counts and logs but never locks (default true).
	LockOutAtFailure *bool `json:"lock_out_at_failure"`
	// ResetCooloffOnFailureDuringLockout makes attempts while locked count
	// and extend the lock (default true, as django-axes).
	ResetCooloffOnFailureDuringLockout *bool `json:"reset_cooloff_on_failure_during_lockout"`
	// Tiers give a progressive cool-off; they replace failure_limit (the
	// lowest tier's failures) and cooloff.
	Tiers []Tier `json:"tiers"`
	// AllowIPs are never locked out (CIDR or address).
	AllowIPs []string `json:"allow_ips"`
	// BlockIPs are always refused (403); block wins over allow.
	BlockIPs []string `json:"block_ips"`
	// OnlyAllowedIPs refuses every address not in AllowIPs.
	OnlyAllowedIPs bool `json:"only_allowed_ips"`
	// UsernameNormalization is "none" (default), "lowercase" or "casefold"
	// (Unicode case folding), applied before counting.
	UsernameNormalization string `json:"username_normalization"`
	// StatusCode of a lockout answer: 429 (default) or 403.
	StatusCode int `json:"status_code"`
	// AccessLog records successful logins, with logout time (default true).
	AccessLog *bool `json:"access_log"`
	// AccessFailureLog records failed logins with a locked-out flag
	// (default false, as django-axes).
	AccessFailureLog bool `json:"access_failure_log"`
	// AccessFailureLogPerUserLimit caps failure-log records per username,
	// dropping the oldest (default 1000).
	AccessFailureLogPerUserLimit int `json:"access_failure_log_per_user_limit"`
	// SensitiveParameters are masked in the plugin's log lines (default
	// [username, ip_address], as django-axes).
	SensitiveParameters []string `json:"sensitive_parameters"`
}

// Tier is one step of a progressive cool-off.
type Tier struct {
	Failures int    `json:"failures"`
	Cooloff  string `json:"cooloff"`
}

// Settings are a validated configuration, ready to use.
type Settings struct {
	FailureLimit     int
	Cooloff          time.Duration // 0: until reset
	Groups           []Group
	ResetOnSuccess   bool
	LockOutAtFailure bool
	CountDuringLock  bool
	Tiers            []ParsedTier // ascending by Failures
	AllowIPs         []netip.Prefix
	BlockIPs         []netip.Prefix
	OnlyAllowedIPs   bool
	Normalize        func(string) string
	StatusCode       int
	AccessLog        bool
	FailureLog       bool
	FailureLogLimit  int
	Sensitive        map[string]bool
	// Warnings are settings that work but are likely mistakes.
	Warnings []string
}

// ParsedTier is a tier with its cool-off parsed.
type ParsedTier struct {
	Failures int
	Cooloff  time.Duration
}

// Group is one lockout group: the fields whose values together identify a
// counter, in canonical order.
type Group []string

// Name is the group's stable name, e.g. "ip_address+username".
func (g Group) Name() string { return strings.Join(g, "+") }

// Has reports whether the group uses field.
func (g Group) Has(field string) bool {
	for _, f := range g {
		if f == field {
			return true
		}
	}
	return false
}

var knownFields = map[string]bool{FieldUsername: true, FieldIPAddress: true, FieldUserAgent: true}

// ParseConfig decodes and validates a configuration, filling in defaults.
// Every problem is reported in one *sdk.ConfigError; warnings are in
// Settings.Warnings.
func ParseConfig(raw json.RawMessage) (*Settings, error) {
	var c Config
	var problems []sdk.FieldError
	fail := func(path, format string, args ...any) {
		problems = append(problems, sdk.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	var decodeErr *sdk.ConfigError
	if err := (&sdk.ConfigureRequest{Config: raw}).DecodeConfig(&c); errors.As(err, &decodeErr) {
		problems = append(problems, decodeErr.Problems...)
		// Fill in what can be read, so that the checks below report the
		// remaining problems in the same run.
		_ = json.Unmarshal(raw, &c)
	} else if err != nil {
		return nil, err
	}
	s := &Settings{
		FailureLimit:     c.FailureLimit,
		ResetOnSuccess:   c.ResetOnSuccess,
		LockOutAtFailure: boolOr(c.LockOutAtFailure, true),
		CountDuringLock:  boolOr(c.ResetCooloffOnFailureDuringLockout, true),
		OnlyAllowedIPs:   c.OnlyAllowedIPs,
		StatusCode:       c.StatusCode,
		AccessLog:        boolOr(c.AccessLog, true),
		FailureLog:       c.AccessFailureLog,
		FailureLogLimit:  c.AccessFailureLogPerUserLimit,
		Sensitive:        map[string]bool{},
	}
	if s.FailureLimit == 0 && len(c.Tiers) == 0 {
		s.FailureLimit = 3
	}
	if c.FailureLimit < 0 {
		fail("failure_limit", "must be > 0")
	}
	if c.Cooloff != "" {
		d, err := time.ParseDuration(c.Cooloff)
		switch {
		case err != nil:
			fail("cooloff", "must be a duration such as 30m or 1h, not %q", c.Cooloff)
		case d < 0:
			fail("cooloff", "must not be negative")
		default:
			s.Cooloff = d
		}
	}

	// Lockout parameters: a list of groups, each a field or a list of fields.
	if c.LockoutParameters == nil {
		s.Groups = []Group{{FieldIPAddress}}
	} else if len(c.LockoutParameters) == 0 {
		fail("lockout_parameters", "must list at least one group")
	}
	seenGroups := map[string]bool{}
	for i, raw := range c.LockoutParameters {
		path := fmt.Sprintf("lockout_parameters[%d]", i)
		var fields []string
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			fields = []string{one}
		} else if err := json.Unmarshal(raw, &fields); err != nil || len(fields) == 0 {
			fail(path, "must be a field name or a non-empty list of field names")
			continue
		}
		ok := true
		seen := map[string]bool{}
		for j, f := range fields {
			if !knownFields[f] {
				fail(fmt.Sprintf("%s[%d]", path, j), "%q is not a lockout parameter (allowed: username, ip_address, user_agent)", f)
				ok = false
			} else if seen[f] {
				fail(fmt.Sprintf("%s[%d]", path, j), "%q is given twice in one group", f)
				ok = false
			}
			seen[f] = true
		}
		if !ok {
			continue
		}
		g := Group(append([]string(nil), fields...))
		sort.Strings(g)
		if seenGroups[g.Name()] {
			s.Warnings = append(s.Warnings, fmt.Sprintf("lockout_parameters[%d] repeats the group %s", i, g.Name()))
			continue
		}
		seenGroups[g.Name()] = true
		s.Groups = append(s.Groups, g)
	}

	// Tiers replace failure_limit and cooloff.
	for i, t := range c.Tiers {
		path := fmt.Sprintf("tiers[%d]", i)
		d, err := time.ParseDuration(t.Cooloff)
		if err != nil || d <= 0 {
			fail(path+".cooloff", "must be a positive duration such as 15m, not %q", t.Cooloff)
		}
		if t.Failures < 1 {
			fail(path+".failures", "must be > 0")
		}
		s.Tiers = append(s.Tiers, ParsedTier{Failures: t.Failures, Cooloff: d})
	}
	sort.SliceStable(s.Tiers, func(i, j int) bool { return s.Tiers[i].Failures < s.Tiers[j].Failures })
	for i := 1; i < len(s.Tiers); i++ {
		if s.Tiers[i].Failures == s.Tiers[i-1].Failures {
			fail("tiers", "two tiers have %d failures", s.Tiers[i].Failures)
		} else if s.Tiers[i].Cooloff < s.Tiers[i-1].Cooloff {
			s.Warnings = append(s.Warnings, fmt.Sprintf("tiers: the tier at %d failures has a shorter cool-off than the one at %d", s.Tiers[i].Failures, s.Tiers[i-1].Failures))
		}
	}
	if len(s.Tiers) > 0 {
		if c.FailureLimit != 0 || c.Cooloff != "" {
			s.Warnings = append(s.Warnings, "tiers replace failure_limit and cooloff; those settings are ignored")
		}
		s.FailureLimit, s.Cooloff = s.Tiers[0].Failures, s.Tiers[0].Cooloff
	}

	var err error
	if s.AllowIPs, err = parsePrefixes(c.AllowIPs); err != nil {
		fail("allow_ips", "%v", err)
	}
	if s.BlockIPs, err = parsePrefixes(c.BlockIPs); err != nil {
		fail("block_ips", "%v", err)
	}
	switch c.UsernameNormalization {
	case "", "none":
		s.Normalize = func(u string) string { return u }
	case "lowercase":
		s.Normalize = strings.ToLower
	case "casefold":
		s.Normalize = caseFold
	default:
		fail("username_normalization", "must be none, lowercase or casefold, not %q", c.UsernameNormalization)
	}
	switch c.StatusCode {
	case 0:
		s.StatusCode = http.StatusTooManyRequests
	case http.StatusTooManyRequests, http.StatusForbidden:
	default:
		fail("status_code", "must be 429 or 403, not %d", c.StatusCode)
	}
	switch {
	case c.AccessFailureLogPerUserLimit == 0:
		s.FailureLogLimit = 1000
	case c.AccessFailureLogPerUserLimit < 0:
		fail("access_failure_log_per_user_limit", "must be > 0")
	}
	if c.SensitiveParameters == nil {
		c.SensitiveParameters = []string{FieldUsername, FieldIPAddress}
	}
	for i, p := range c.SensitiveParameters {
		if !knownFields[p] {
			fail(fmt.Sprintf("sensitive_parameters[%d]", i), "%q is not a lockout parameter", p)
		}
		s.Sensitive[p] = true
	}
	if len(problems) > 0 {
		return nil, &sdk.ConfigError{Problems: problems}
	}
	s.Warnings = append(s.Warnings, s.contradictions()...)
	return s, nil
}

// contradictions lists settings that work but are likely mistakes.
func (s *Settings) contradictions() []string {
	var w []string
	withIP := false
	for _, g := range s.Groups {
		withIP = withIP || g.Has(FieldIPAddress)
	}
	if !withIP {
		w = append(w, "no lockout group contains ip_address: an attacker who rotates user agents or usernames is not slowed down (django-axes W006)")
	}
	if !s.LockOutAtFailure && (s.Cooloff > 0 || len(s.Tiers) > 0 || !s.CountDuringLock) {
		w = append(w, "lock_out_at_failure is false: nobody is ever locked out, so cooloff, tiers and reset_cooloff_on_failure_during_lockout have no effect")
	}
	if s.OnlyAllowedIPs && len(s.AllowIPs) == 0 {
		w = append(w, "only_allowed_ips is true but allow_ips is empty: every login is refused")
	}
	for _, a := range s.AllowIPs {
		for _, b := range s.BlockIPs {
			if a.Overlaps(b) {
				w = append(w, fmt.Sprintf("allow_ips %s and block_ips %s overlap: block wins", a, b))
			}
		}
	}
	return w
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix", s)
			}
			// Client addresses are compared unmapped: an IPv4-mapped prefix
			// must be too.
			if p.Addr().Is4In6() {
				if p.Bits() < 96 {
					return nil, fmt.Errorf("%q covers more than IPv4-mapped addresses; write the IPv4 prefix", s)
				}
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// CooloffFor is the cool-off that applies after count failures: the
// highest tier reached, or the flat cool-off.
func (s *Settings) CooloffFor(count int64) time.Duration {
	if len(s.Tiers) == 0 {
		return s.Cooloff
	}
	d := s.Tiers[0].Cooloff
	for _, t := range s.Tiers {
		if count >= int64(t.Failures) {
			d = t.Cooloff
		}
	}
	return d
}

// locksAt reports whether the count n is where a lock starts or grows to a
// longer tier.
func (s *Settings) locksAt(n int64) bool {
	if n == int64(s.FailureLimit) {
		return true
	}
	for _, t := range s.Tiers {
		if n == int64(t.Failures) {
			return true
		}
	}
	return false
}

// renewExpiry is the expiry a counter gets after a batch of attempts that
// got the counts first to last: attempts refused while locked (when they
// count) extend the lock. Attempts let through leave the expiry alone until
// their outcome is known. 0: leave the expiry as is.
func (s *Settings) renewExpiry(first, last int64) time.Duration {
	if s.LockOutAtFailure && s.CountDuringLock && last > int64(s.FailureLimit) {
		return s.CooloffFor(last)
	}
	return 0
}

// shortcutTTL is how long the host may answer repeats of a locked-out
// attempt without asking the plugin.
const shortcutTTL = time.Second

// shortcut is what the host may do with repeats of an attempt refused with
// the counts counted (highest worst): count them on the same counters and
// refuse them, while the highest count stays past the limit and within the
// same tier. There is none when repeats must reach the plugin: when they
// are not counted, when each is written to the failure log, or when tiers
// could give the counters different cool-offs.
func (s *Settings) shortcut(counted map[string]int64, worst int64) *sdk.Shortcut {
	if !s.CountDuringLock || s.FailureLog || (len(s.Tiers) > 0 && len(counted) > 1) {
		return nil
	}
	sc := &sdk.Shortcut{TTL: shortcutTTL, Above: int64(s.FailureLimit), Renew: s.CooloffFor(worst)}
	for key := range counted {
		sc.Counters = append(sc.Counters, key)
	}
	for _, t := range s.Tiers {
		if int64(t.Failures) > worst {
			sc.Below = int64(t.Failures)
			break
		}
	}
	return sc
}
