package lockout

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// The fields a lockout group can combine.
const (
	FieldUsername  = attempts.FieldUsername
	FieldIPAddress = attempts.FieldIPAddress
	FieldUserAgent = attempts.FieldUserAgent
)

// Config is the plugin's `config:` section as written.
type Config struct {
	// FailureLimit is the number of failures a group allows; the next
	// attempt is locked out (default 3, as django-axes). A group may set
	// its own.
	FailureLimit int `json:"failure_limit"`
	// Cooloff is how long a lock lasts after the last counted attempt, as a
	// Go duration ("30m"); absent or "0" locks until an operator resets it.
	// A group may set its own.
	Cooloff string `json:"cooloff"`
	// LockoutParameters is a list of groups, OR'd: each a field, a list of
	// fields (AND'd), or an object {group, failure_limit, cooloff, tiers}
	// with limits of its own (default [ip_address], as django-axes).
	LockoutParameters []json.RawMessage `json:"lockout_parameters"`
	// ResetOnSuccess removes this client's counts on a successful login.
	ResetOnSuccess bool `json:"reset_on_success"`
	// LockOutAtFailure false counts and logs but never locks (default true).
	LockOutAtFailure *bool `json:"lock_out_at_failure"`
	// ResetCooloffOnFailureDuringLockout makes attempts while locked count
	// and extend the lock (default true, as django-axes).
	ResetCooloffOnFailureDuringLockout *bool `json:"reset_cooloff_on_failure_during_lockout"`
	// Tiers give a progressive cool-off; they replace failure_limit (the
	// lowest tier's failures) and cooloff. A group may set its own.
	Tiers []Tier `json:"tiers"`
	// AllowIPs are never locked out (CIDR or address).
	AllowIPs []string `json:"allow_ips"`
	// BlockIPs are always refused (403); block wins over allow.
	BlockIPs []string `json:"block_ips"`
	// OnlyAllowedIPs refuses every address not in AllowIPs.
	OnlyAllowedIPs bool `json:"only_allowed_ips"`
	// IPv6Prefix is how many leading bits of an IPv6 address count as one
	// client (default 64).
	IPv6Prefix int `json:"ipv6_prefix"`
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
	// SensitiveParameters are masked in the host's log lines about the
	// lockout (default [username, ip_address], as django-axes).
	SensitiveParameters []string `json:"sensitive_parameters"`
	// MaxWait bounds how long an attempt waits while a group is full of
	// attempts in flight (default 30s); then the host answers 503.
	MaxWait string `json:"max_wait"`
}

// Tier is one step of a progressive cool-off.
type Tier struct {
	Failures int    `json:"failures"`
	Cooloff  string `json:"cooloff"`
}

// GroupConfig is a lockout group written as an object, with limits of its
// own.
type GroupConfig struct {
	Group        json.RawMessage `json:"group"`
	FailureLimit int             `json:"failure_limit"`
	Cooloff      *string         `json:"cooloff"`
	Tiers        []Tier          `json:"tiers"`
	// ResetOnSuccess and ResetCooloffOnFailureDuringLockout override the
	// top-level settings for this group.
	ResetOnSuccess                     *bool `json:"reset_on_success"`
	ResetCooloffOnFailureDuringLockout *bool `json:"reset_cooloff_on_failure_during_lockout"`
}

// withFlags sets a group's reset_on_success and
// reset_cooloff_on_failure_during_lockout: the group's own, else the
// top-level ones. Unset everywhere, a refusal while locked extends the lock
// of a group with ip_address (as django-axes) but not of one without: such
// a group can be locked by anyone from anywhere, and its lock must end on
// time however long an attacker goes on.
func withFlags(ctr attempts.Counter, c Config, reset, count *bool) attempts.Counter {
	ctr.ResetOnSuccess = boolOr(reset, c.ResetOnSuccess)
	ctr.CountWhileLocked = boolOr(count, boolOr(c.ResetCooloffOnFailureDuringLockout, slices.Contains(ctr.Fields, FieldIPAddress)))
	return ctr
}

// Settings are a validated configuration: the rule the host enforces, and
// warnings about settings that work but are likely mistakes.
type Settings struct {
	Rule     attempts.Rule
	Warnings []string
}

// problems collects configuration problems at their paths.
type problems = configcheck.Problems

// parsing is one run of ParseConfig: the configuration as written, the rule
// built from it, and what has been found so far.
type parsing struct {
	c        Config
	r        attempts.Rule
	ps       problems
	warnings []string
	// base are the top-level limits, which a group without its own takes;
	// baseOK is false when they have a problem of their own.
	base   []attempts.Tier
	baseOK bool
}

// ParseConfig decodes and validates a configuration, filling in defaults.
// Every problem is reported in one *sdk.ConfigError; warnings are in
// Settings.Warnings.
func ParseConfig(raw json.RawMessage) (*Settings, error) {
	p := &parsing{}
	var decodeErr *sdk.ConfigError
	if err := (&sdk.ConfigureRequest{Config: raw}).DecodeConfig(&p.c); errors.As(err, &decodeErr) {
		p.ps = append(p.ps, decodeErr.Problems...)
		// Fill in what can be read, so that the checks report the
		// remaining problems in the same run.
		_ = json.Unmarshal(raw, &p.c)
	} else if err != nil {
		return nil, err
	}
	for _, check := range checks {
		check(p)
	}
	if len(p.ps) > 0 {
		return nil, &sdk.ConfigError{Problems: p.ps}
	}
	p.warnings = append(p.warnings, contradictions(&p.r, p.c)...)
	return &Settings{Rule: p.r, Warnings: p.warnings}, nil
}

// checks check the settings and apply them to the rule, one or a few
// each, in the order their problems and warnings are listed. The groups
// come after the limits they default to.
var checks = []func(p *parsing){
	(*parsing).flags,
	(*parsing).ipLists,
	(*parsing).usernameNormalization,
	(*parsing).statusCode,
	(*parsing).ipv6Prefix,
	(*parsing).failureLogLimit,
	(*parsing).sensitiveParameters,
	(*parsing).maxWait,
	(*parsing).limits,
	(*parsing).groups,
}

// flags applies the settings that need no check, and the defaults of the
// others.
func (p *parsing) flags() {
	p.r = attempts.Rule{
		UsernameNormalization: attempts.NormalizeNone,
		IPv6Prefix:            64,
		OnlyAllowedIPs:        p.c.OnlyAllowedIPs,
		NeverLock:             !boolOr(p.c.LockOutAtFailure, true),
		StatusCode:            http.StatusTooManyRequests,
		AccessLog:             boolOr(p.c.AccessLog, true),
		FailureLog:            p.c.AccessFailureLog,
		FailureLogPerUser:     1000,
	}
}

// ipLists checks allow_ips and block_ips.
func (p *parsing) ipLists() {
	var err error
	if p.r.AllowIPs, err = parsePrefixes(p.c.AllowIPs); err != nil {
		p.ps.Add("allow_ips", "%v", err)
	}
	if p.r.BlockIPs, err = parsePrefixes(p.c.BlockIPs); err != nil {
		p.ps.Add("block_ips", "%v", err)
	}
}

func (p *parsing) usernameNormalization() {
	switch p.c.UsernameNormalization {
	case "", "none":
	case attempts.NormalizeLowercase, attempts.NormalizeCasefold:
		p.r.UsernameNormalization = p.c.UsernameNormalization
	default:
		p.ps.Add("username_normalization", "must be none, lowercase or casefold, not %q", p.c.UsernameNormalization)
	}
}

func (p *parsing) statusCode() {
	switch p.c.StatusCode {
	case 0:
	case http.StatusTooManyRequests, http.StatusForbidden:
		p.r.StatusCode = p.c.StatusCode
	default:
		p.ps.Add("status_code", "must be 429 or 403, not %d", p.c.StatusCode)
	}
}

func (p *parsing) ipv6Prefix() {
	switch {
	case p.c.IPv6Prefix == 0:
	case p.c.IPv6Prefix < 32 || p.c.IPv6Prefix > 128:
		p.ps.Add("ipv6_prefix", "must be between 32 and 128, not %d", p.c.IPv6Prefix)
	default:
		p.r.IPv6Prefix = p.c.IPv6Prefix
	}
}

func (p *parsing) failureLogLimit() {
	switch {
	case p.c.AccessFailureLogPerUserLimit < 0:
		p.ps.Add("access_failure_log_per_user_limit", "must be > 0")
	case p.c.AccessFailureLogPerUserLimit > 0:
		p.r.FailureLogPerUser = p.c.AccessFailureLogPerUserLimit
	}
}

func (p *parsing) sensitiveParameters() {
	if p.c.SensitiveParameters == nil {
		p.c.SensitiveParameters = []string{FieldUsername, FieldIPAddress}
	}
	for i, f := range p.c.SensitiveParameters {
		if !knownField(f) {
			p.ps.Add(fmt.Sprintf("sensitive_parameters[%d]", i), "%q is not a lockout parameter", f)
		}
	}
	p.r.SensitiveFields = p.c.SensitiveParameters
}

func (p *parsing) maxWait() {
	if p.c.MaxWait == "" {
		return
	}
	d, err := time.ParseDuration(p.c.MaxWait)
	if err != nil || d <= 0 || d > 5*time.Minute {
		p.ps.Add("max_wait", "must be a duration between 1ms and 5m such as 10s, not %q", p.c.MaxWait)
		return
	}
	p.r.MaxWait = d
}

// limits checks failure_limit, cooloff and tiers: the limits of every
// group without its own.
func (p *parsing) limits() {
	before := len(p.ps)
	p.base = tiersOf("", p.c.FailureLimit, optional(p.c.Cooloff), p.c.Tiers, 3, &p.ps)
	p.baseOK = len(p.ps) == before
	p.warnings = append(p.warnings, shorterCooloffs("tiers", p.base)...)
	if len(p.c.Tiers) > 0 && (p.c.FailureLimit != 0 || p.c.Cooloff != "") {
		p.warnings = append(p.warnings, "tiers replace failure_limit and cooloff; those settings are ignored")
	}
}

// groups checks lockout_parameters: each group's fields and limits, that
// it is not a repeat, and that a group without ip_address, which anyone can
// lock from anywhere, has a cool-off.
func (p *parsing) groups() {
	switch {
	case p.c.LockoutParameters == nil:
		p.r.Counters = []attempts.Counter{withFlags(attempts.Counter{Fields: []string{FieldIPAddress}, Tiers: p.base}, p.c, nil, nil)}
	case len(p.c.LockoutParameters) == 0:
		p.ps.Add("lockout_parameters", "must list at least one group")
	}
	seen := map[string]bool{}
	for i, raw := range p.c.LockoutParameters {
		path := fmt.Sprintf("lockout_parameters[%d]", i)
		before := len(p.ps)
		counter, ok := parseGroup(path, raw, p.c, p.base, &p.ps)
		if !ok {
			continue
		}
		// Limits already reported as wrong are not judged again.
		own := !slices.Equal(counter.Tiers, p.base)
		tiersOK := len(p.ps) == before && (own || p.baseOK)
		name := strings.Join(counter.Fields, "+")
		if seen[name] {
			p.warnings = append(p.warnings, fmt.Sprintf("%s repeats the group %s", path, name))
			continue
		}
		seen[name] = true
		if own {
			p.warnings = append(p.warnings, shorterCooloffs(path+".tiers", counter.Tiers)...)
		}
		if tiersOK && !slices.Contains(counter.Fields, FieldIPAddress) && !p.r.NeverLock && permanent(counter.Tiers) {
			p.ps.Add(path, "the group %s has no cool-off: anyone could lock its clients out for good from anywhere; give it a cooloff", name)
		}
		p.r.Counters = append(p.r.Counters, counter)
	}
}

// parseGroup reads one entry of lockout_parameters: a field, a list of
// fields, or an object with limits of its own (base otherwise).
func parseGroup(path string, raw json.RawMessage, c Config, base []attempts.Tier, ps *problems) (attempts.Counter, bool) {
	tiers := base
	fieldsRaw := raw
	var reset, count *bool
	if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "{") {
		var g GroupConfig
		if err := (&sdk.ConfigureRequest{Config: raw}).DecodeConfig(&g); err != nil {
			var ce *sdk.ConfigError
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					p.Path = joinPath(path, p.Path)
					*ps = append(*ps, p)
				}
			}
			return attempts.Counter{}, false
		}
		if g.Group == nil {
			ps.Add(path+".group", "is required: a field or a list of fields")
			return attempts.Counter{}, false
		}
		fieldsRaw = g.Group
		reset, count = g.ResetOnSuccess, g.ResetCooloffOnFailureDuringLockout
		if g.FailureLimit != 0 || g.Cooloff != nil || g.Tiers != nil {
			limit, cooloff := g.FailureLimit, g.Cooloff
			if limit == 0 && len(g.Tiers) == 0 {
				limit = baseLimit(base)
			}
			if cooloff == nil && len(g.Tiers) == 0 {
				cooloff = optional(c.Cooloff)
			}
			tiers = tiersOf(path+".", limit, cooloff, g.Tiers, baseLimit(base), ps)
		}
		path += ".group"
	}
	var fields []string
	var one string
	if err := json.Unmarshal(fieldsRaw, &one); err == nil {
		fields = []string{one}
	} else if err := json.Unmarshal(fieldsRaw, &fields); err != nil || len(fields) == 0 {
		ps.Add(path, "must be a field name, a non-empty list of field names, or an object with a group")
		return attempts.Counter{}, false
	}
	ok := true
	seen := map[string]bool{}
	for j, f := range fields {
		switch {
		case !knownField(f):
			ps.Add(fmt.Sprintf("%s[%d]", path, j), "%q is not a lockout parameter (allowed: username, ip_address, user_agent)", f)
			ok = false
		case seen[f]:
			ps.Add(fmt.Sprintf("%s[%d]", path, j), "%q is given twice in one group", f)
			ok = false
		}
		seen[f] = true
	}
	sorted := slices.Clone(fields)
	sort.Strings(sorted)
	return withFlags(attempts.Counter{Fields: sorted, Tiers: tiers}, c, reset, count), ok && len(tiers) > 0
}

// tiersOf builds a group's tiers from a failure limit and cool-off, or from
// explicit tiers (which win). prefix is the path of the object they are in
// ("" for the top level); defaultLimit stands in for an absent limit.
func tiersOf(prefix string, limit int, cooloff *string, tiers []Tier, defaultLimit int, ps *problems) []attempts.Tier {
	if len(tiers) > 0 {
		var out []attempts.Tier
		for i, t := range tiers {
			path := fmt.Sprintf("%stiers[%d]", prefix, i)
			d, err := time.ParseDuration(t.Cooloff)
			if err != nil || d <= 0 {
				ps.Add(path+".cooloff", "must be a positive duration such as 15m, not %q", t.Cooloff)
			}
			if t.Failures < 1 {
				ps.Add(path+".failures", "must be > 0")
			}
			out = append(out, attempts.Tier{Failures: t.Failures, Cooloff: d})
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Failures < out[j].Failures })
		for i := 1; i < len(out); i++ {
			if out[i].Failures == out[i-1].Failures {
				ps.Add(prefix+"tiers", "two tiers have %d failures", out[i].Failures)
			}
		}
		return out
	}
	if limit == 0 {
		limit = defaultLimit
	}
	if limit < 0 {
		ps.Add(prefix+"failure_limit", "must be > 0")
		return nil
	}
	var d time.Duration
	if cooloff != nil && *cooloff != "" {
		var err error
		d, err = time.ParseDuration(*cooloff)
		switch {
		case err != nil:
			ps.Add(prefix+"cooloff", "must be a duration such as 30m or 1h, not %q", *cooloff)
		case d < 0:
			ps.Add(prefix+"cooloff", "must not be negative")
		}
	}
	return []attempts.Tier{{Failures: limit, Cooloff: d}}
}

// shorterCooloffs warns about tiers (sorted) whose cool-off is shorter
// than a lower tier's: a client who keeps failing would be locked for less
// time, not more.
func shorterCooloffs(path string, tiers []attempts.Tier) []string {
	var w []string
	for i := 1; i < len(tiers); i++ {
		if tiers[i].Cooloff < tiers[i-1].Cooloff {
			w = append(w, fmt.Sprintf("%s: the tier at %d failures has a shorter cool-off than the one at %d", path, tiers[i].Failures, tiers[i-1].Failures))
		}
	}
	return w
}

func baseLimit(base []attempts.Tier) int {
	if len(base) == 0 {
		return 3
	}
	return base[0].Failures
}

// permanent reports whether a group's tiers ever lock until reset.
func permanent(tiers []attempts.Tier) bool {
	for _, t := range tiers {
		if t.Cooloff <= 0 {
			return true
		}
	}
	return false
}

func optional(s string) *string { return &s }

func joinPath(path, sub string) string {
	if sub == "" {
		return path
	}
	return path + "." + sub
}

func knownField(f string) bool {
	return f == FieldUsername || f == FieldIPAddress || f == FieldUserAgent
}

// contradictions lists settings that work but are likely mistakes.
func contradictions(r *attempts.Rule, cfg Config) []string {
	var w []string
	withIP, withUser := false, false
	for _, c := range r.Counters {
		withIP = withIP || slices.Contains(c.Fields, FieldIPAddress)
		withUser = withUser || slices.Contains(c.Fields, FieldUsername)
	}
	if !withIP {
		w = append(w, "no lockout group contains ip_address: an attacker who rotates user agents or usernames is not slowed down (django-axes W006)")
	}
	everyWithUser, everyWithIP := true, true
	for _, c := range r.Counters {
		everyWithUser = everyWithUser && slices.Contains(c.Fields, FieldUsername)
		everyWithIP = everyWithIP && slices.Contains(c.Fields, FieldIPAddress)
	}
	if len(r.Counters) > 0 && everyWithUser {
		w = append(w, "every lockout group contains username: one address spraying a common password over many usernames is not slowed down; add an [ip_address] group with a higher limit")
	}
	if len(r.Counters) > 0 && everyWithIP && withUser {
		w = append(w, "every lockout group contains ip_address: one username can be guessed at from many addresses without limit; add a [username] group with a cool-off")
	}
	for _, c := range r.Counters {
		if len(c.Fields) == 1 && c.Fields[0] == FieldIPAddress && c.ResetOnSuccess {
			w = append(w, "reset_on_success with an [ip_address] group: one valid login from an address resets an attacker's count there; give the group reset_on_success: false")
			break
		}
	}
	for _, c := range r.Counters {
		if !slices.Contains(c.Fields, FieldIPAddress) && c.CountWhileLocked && !r.NeverLock {
			w = append(w, fmt.Sprintf("the group %s extends its lock on every refused attempt, and anyone can make them: an attacker can keep its clients locked out for as long as the attack goes on; give it reset_cooloff_on_failure_during_lockout: false", strings.Join(c.Fields, "+")))
		}
	}
	if r.NeverLock && (cfg.ResetCooloffOnFailureDuringLockout != nil && !*cfg.ResetCooloffOnFailureDuringLockout || len(cfg.Tiers) > 0 || cfg.Cooloff != "") {
		w = append(w, "lock_out_at_failure is false: nobody is ever locked out, so cooloff, tiers and reset_cooloff_on_failure_during_lockout have no effect")
	}
	if r.OnlyAllowedIPs && len(r.AllowIPs) == 0 {
		w = append(w, "only_allowed_ips is true but allow_ips is empty: every login is refused")
	}
	for _, a := range r.AllowIPs {
		for _, b := range r.BlockIPs {
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
