package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/builtin"
	"github.com/portcullis-auth/portcullis/host/hostsvc"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// Config is the whole configuration file.
type Config struct {
	// Listen is the HTTP listen address.
	Listen string `json:"listen"`
	// DataDir holds the SQLite database by default.
	DataDir string `json:"data_dir"`
	// TrustedProxies are the peers (addresses or CIDR prefixes) whose
	// X-Forwarded-For header and login `client` field are believed; none
	// by default, not even loopback.
	TrustedProxies []string `json:"trusted_proxies"`
	// AllowedHosts are the names the HTTP API answers to (the request's
	// Host, without its port). When the host listens on loopback,
	// localhost, 127.0.0.1 and ::1 are always allowed and any other name
	// is refused (a web page cannot reach the host through a DNS name of
	// its own that resolves to 127.0.0.1); elsewhere an empty list allows
	// every name.
	AllowedHosts []string `json:"allowed_hosts"`
	Storage      Storage  `json:"storage"`
	Tokens       Tokens   `json:"tokens"`
	// Sessions configures browser sessions and their cookie.
	Sessions Sessions `json:"sessions"`
	// ForwardAuth configures GET /v1/forward-auth.
	ForwardAuth ForwardAuth `json:"forward_auth"`
	// AuthorizationRequests configures authorization requests.
	AuthorizationRequests AuthorizationRequests `json:"authorization_requests"`
	// TwoFactor configures two-factor logins.
	TwoFactor TwoFactor `json:"two_factor"`
	// Devices configures mobile devices.
	Devices Devices `json:"devices"`
	// OAuth2 configures sign-ins with external providers.
	OAuth2  OAuth2  `json:"oauth2"`
	Plugins Plugins `json:"plugins"`
	// Backends is the login chain, in order.
	Backends []Backend `json:"backends"`
	Signals  Signals   `json:"signals"`
	Log      Log       `json:"log"`
	// Limits bound the connections and logins taken on at once.
	Limits Limits `json:"limits"`
	// Telemetry configures tracing; off by default.
	Telemetry Telemetry `json:"telemetry"`

	// trusted is TrustedProxies parsed by Validate.
	trusted []netip.Prefix
	// warnings are settings that work but are likely mistakes.
	warnings []string
	// secrets are the values taken from the environment (Redact).
	secrets secrets
}

// Storage selects the database.
type Storage struct {
	// Driver is "sqlite" or "postgres".
	Driver string `json:"driver"`
	// DSN is a file path for sqlite, a postgres:// URL for postgres.
	DSN string `json:"dsn"`
}

// Plugins configures plugin supervision for every backend.
type Plugins struct {
	// StartTimeout bounds a plugin's start and handshake.
	StartTimeout Duration `json:"start_timeout"`
	// RestartBackoff is the first wait before restarting a crashed plugin;
	// it doubles up to RestartBackoffMax.
	RestartBackoff    Duration `json:"restart_backoff"`
	RestartBackoffMax Duration `json:"restart_backoff_max"`
	// StopGrace is how long a plugin may take to stop before it is killed.
	StopGrace Duration `json:"stop_grace"`
	// Sandbox is whether plugins are confined to the files they need:
	// "auto" (the default: where the system can, with a warning where it
	// cannot), "required" (a plugin that cannot be confined does not
	// start) or "off".
	Sandbox string `json:"sandbox"`
}

// PluginSandbox is what one plugin's process may reach of the file system
// beyond the system's files (supervisor.Sandbox).
type PluginSandbox struct {
	// Read lists files and directories the plugin may read.
	Read []string `json:"read"`
	// Write lists files and directories the plugin may read and change.
	Write []string `json:"write"`
}

// SandboxPath is one path a PluginSandbox lists, and where in the entry it
// is listed ("sandbox.read[0]").
type SandboxPath struct {
	At, Path string
}

// Paths lists the sandbox's paths, Read's first, each with where it is
// listed.
func (s PluginSandbox) Paths() []SandboxPath {
	var out []SandboxPath
	for i, p := range s.Read {
		out = append(out, SandboxPath{At: fmt.Sprintf("sandbox.read[%d]", i), Path: p})
	}
	for i, p := range s.Write {
		out = append(out, SandboxPath{At: fmt.Sprintf("sandbox.write[%d]", i), Path: p})
	}
	return out
}

// Backend is one link of the chain.
type Backend struct {
	// Name identifies the backend in logs, signals and errors.
	Name string `json:"name"`
	// Plugin is a first-party plugin name or a path to an executable.
	Plugin string `json:"plugin"`
	// SHA256 is the hex checksum an external plugin must match.
	SHA256 string `json:"sha256"`
	// Timeout bounds each call to the backend.
	Timeout Duration `json:"timeout"`
	// OnError is what a login does when the backend errors or is down:
	// "fail" (the default: fail closed, 503) or "skip" (treat the backend
	// as abstaining, logged and counted).
	OnError string `json:"on_error"`
	// Grants are host services the plugin may use beyond what its
	// capabilities give it (password_hashes:read, password_hashes:write).
	// First-party plugins have theirs built in.
	Grants []string `json:"grants"`
	// Sandbox lists what the plugin may reach of the file system beyond
	// the system's files.
	Sandbox PluginSandbox `json:"sandbox"`
	// Config is handed to the plugin as JSON.
	Config map[string]any `json:"config"`
}

// The values of on_error.
const (
	OnErrorFail = "fail"
	OnErrorSkip = "skip"
)

// EffectiveGrants are the grants the backend's plugin gets: a first-party
// plugin's built-in ones and the entry's own.
func (b Backend) EffectiveGrants() []string {
	var out []string
	if p, ok := builtin.Plugins[b.Plugin]; ok && !IsExternal(b.Plugin) {
		out = append(out, p.Grants...)
	}
	for _, g := range b.Grants {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// Log configures the host's own log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `json:"level"`
	// Format is text or json.
	Format string `json:"format"`
}

// Duration is a time.Duration written as "30s", "15m" or "1h30m".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("must be a duration such as 30s, 15m or 1h, not %q", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Problem is one mistake in the configuration, at its path. It is the
// problem type of the plugins' configuration (sdk.FieldError), of request
// bodies and of signal arguments too.
type Problem = strictjson.Problem

// Error lists every problem found in a configuration.
type Error struct {
	Source   string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s):", e.Source, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// DefaultFile is the configuration file used when --config is not given and
// it exists in the working directory.
const DefaultFile = "portcullis.yaml"

// Resolve returns the configuration at path; with an empty path, that of
// DefaultFile if it exists, else the built-in defaults.
func Resolve(path string) (*Config, error) {
	if path == "" {
		if _, err := os.Stat(DefaultFile); err != nil {
			return Default()
		}
		path = DefaultFile
	}
	return Load(path)
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, raw, os.LookupEnv)
}

// Default is the built-in configuration: SQLite in ./data and the chain
// [lockout, password].
func Default() (*Config, error) {
	return Parse("built-in defaults", nil, os.LookupEnv)
}

// Parse decodes and validates raw YAML; source names it in errors and
// lookup resolves ${NAME}.
func Parse(source string, raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	cfg := &Config{}
	r := newReader(lookup)
	if !r.read(raw, cfg) {
		return nil, &Error{Source: source, Problems: r.secrets.problems(r.problems)}
	}
	cfg.secrets = r.secrets
	cfg.applyDefaults()
	// A value whose ${NAME} could not be expanded was left out (so a
	// default may stand in for it); what validation then says about that
	// place would only repeat the environment problem.
	r.problems = append(r.problems, r.withoutSkipped(cfg.validate())...)
	if len(r.problems) > 0 {
		return nil, &Error{Source: source, Problems: r.secrets.problems(r.problems)}
	}
	for i, w := range cfg.warnings {
		cfg.warnings[i] = r.secrets.redact(w)
	}
	return cfg, nil
}

// defaultBackends is the built-in chain: brute-force lockout in front of
// the password backend. The lockout counts three groups (docs/lockout.md,
// "The default"): a client guessing at one account (username and address,
// 5 failures), one address spraying a common password over many accounts
// (20 failures, whatever the usernames; not reset by someone else's
// success there), and one account guessed at from many addresses (20
// failures, whatever the address: IPv6 counts by /64). Every lock ends
// after its cool-off; the username-only one is not extended by refused
// attempts, so nobody can lock an account for longer than 15 minutes from
// addresses its user does not control.
func defaultBackends() []Backend {
	return []Backend{
		{Name: "lockout", Plugin: "lockout", Config: map[string]any{
			"cooloff":          "30m",
			"reset_on_success": true,
			"lockout_parameters": []any{
				map[string]any{"group": []any{"username", "ip_address"}, "failure_limit": 5},
				map[string]any{"group": []any{"ip_address"}, "failure_limit": 20, "reset_on_success": false},
				map[string]any{"group": []any{"username"}, "failure_limit": 20, "cooloff": "15m"},
			},
		}},
		{Name: "local", Plugin: "password"},
	}
}

func (c *Config) applyDefaults() {
	if c.Backends == nil { // absent, as opposed to an explicit empty list
		c.Backends = defaultBackends()
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8700"
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Storage.Driver == "" {
		c.Storage.Driver = "sqlite"
	}
	if c.Storage.Driver == "sqlite" && c.Storage.DSN == "" {
		c.Storage.DSN = filepath.Join(c.DataDir, "portcullis.db")
	}
	c.Tokens.applyDefaults(c.Listen)
	c.Sessions.applyDefaults(c.Tokens.Issuer)
	setDefault(&c.Plugins.StartTimeout, 10*time.Second)
	setDefault(&c.Plugins.RestartBackoff, 100*time.Millisecond)
	setDefault(&c.Plugins.RestartBackoffMax, 30*time.Second)
	setDefault(&c.Plugins.StopGrace, 5*time.Second)
	if c.Plugins.Sandbox == "" {
		c.Plugins.Sandbox = "auto"
	}
	for i := range c.Backends {
		setDefault(&c.Backends[i].Timeout, 5*time.Second)
		if c.Backends[i].OnError == "" {
			c.Backends[i].OnError = OnErrorFail
		}
	}
	c.Signals.applyDefaults()
	c.Limits.applyDefaults()
	c.Telemetry.applyDefaults()
	c.AuthorizationRequests.applyDefaults(c.Backends)
	c.TwoFactor.applyDefaults(c.AuthorizationRequests.Backends)
	c.Devices.applyDefaults(c.Backends)
	c.OAuth2.applyDefaults()
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

func setDefault(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

var (
	backendName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	hexSHA256   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// customSignal is the form of a plugin's own signal name.
	customSignal = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,62}$`)
)

// validate checks settings without I/O and returns every problem.
func (c *Config) validate() []Problem {
	var ps []Problem
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		fail("listen", "must be host:port, not %q", c.Listen)
	}
	c.trusted, c.warnings = nil, nil
	for i, s := range c.TrustedProxies {
		p, err := parsePrefix(s)
		var pe *prefixError
		switch {
		case errors.As(err, &pe):
			fail(fmt.Sprintf("trusted_proxies[%d]", i), "%s", pe.msg)
			continue
		case err != nil:
			fail(fmt.Sprintf("trusted_proxies[%d]", i), "must be an IP address or CIDR prefix, not %q", s)
			continue
		}
		c.trusted = append(c.trusted, p)
		if !narrowOrPrivate(p) {
			c.warnings = append(c.warnings, fmt.Sprintf("trusted_proxies[%d] %s is wider than a private network: every address in it may claim to speak for any client (X-Forwarded-For, the login's client field); list your proxies' own addresses", i, p))
		}
	}
	for i, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") && !isIPv6(h) {
			fail(fmt.Sprintf("allowed_hosts[%d]", i), "must be a host name or an address without a port, not %q", h)
		}
	}
	switch c.Storage.Driver {
	case "sqlite":
	case "postgres":
		if c.Storage.DSN == "" {
			fail("storage.dsn", "is required for postgres")
		}
	default:
		fail("storage.driver", "must be sqlite or postgres, not %q", c.Storage.Driver)
	}
	// An explicit zero duration (0, 0s) means "use the default":
	// applyDefaults has already replaced it, exactly as if the key were
	// absent, so only a negative duration gets here as a problem. This is
	// deliberate and documented; keep it.
	positive := func(path string, d Duration) {
		if d <= 0 {
			fail(path, "must be > 0")
		}
	}
	ps = append(ps, c.Tokens.validate(c.Listen)...)
	ps = append(ps, c.Sessions.validate()...)
	ps = append(ps, c.ForwardAuth.validate()...)
	ps = append(ps, c.AuthorizationRequests.validate(c.Backends)...)
	ps = append(ps, c.TwoFactor.validate(c.AuthorizationRequests.Backends)...)
	ps = append(ps, c.Devices.validate(c.Backends, c.AuthorizationRequests.Backends)...)
	ps = append(ps, c.OAuth2.validate()...)
	positive("plugins.start_timeout", c.Plugins.StartTimeout)
	positive("plugins.restart_backoff", c.Plugins.RestartBackoff)
	positive("plugins.stop_grace", c.Plugins.StopGrace)
	if c.Plugins.RestartBackoffMax < c.Plugins.RestartBackoff {
		fail("plugins.restart_backoff_max", "must be >= plugins.restart_backoff")
	}
	switch c.Plugins.Sandbox {
	case "auto", "required", "off":
	default:
		fail("plugins.sandbox", "must be auto, required or off, not %q", c.Plugins.Sandbox)
	}
	if len(c.Backends) == 0 {
		fail("backends", "must list at least one backend")
	}
	names := map[string]int{}
	for i, b := range c.Backends {
		path := fmt.Sprintf("backends[%d]", i)
		switch {
		case b.Name == "":
			fail(path+".name", "is required")
		case !backendName.MatchString(b.Name):
			fail(path+".name", "must be lower-case letters, digits, - and _, starting with a letter, not %q", b.Name)
		default:
			if j, dup := names[b.Name]; dup {
				fail(path+".name", "%q is already the name of backends[%d]", b.Name, j)
			}
			names[b.Name] = i
		}
		positive(path+".timeout", b.Timeout)
		switch b.OnError {
		case OnErrorFail, OnErrorSkip:
		default:
			fail(path+".on_error", "must be fail or skip, not %q", b.OnError)
		}
		for j, g := range b.Grants {
			if !slices.Contains(hostsvc.Grants, g) {
				fail(fmt.Sprintf("%s.grants[%d]", path, j), "unknown grant %q (known: %s)", g, strings.Join(hostsvc.Grants, ", "))
			}
		}
		ps = append(ps, validatePlugin(path, b)...)
	}
	ps = append(ps, c.Signals.validate(names)...)
	limitProblems, limitWarnings := c.Limits.validate()
	ps = append(ps, limitProblems...)
	c.warnings = append(c.warnings, limitWarnings...)
	ps = append(ps, c.Telemetry.validate()...)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		fail("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		fail("log.format", "must be text or json, not %q", c.Log.Format)
	}
	return ps
}

// validatePlugin checks a backend's plugin reference and, for a first-party
// plugin, its settings.
func validatePlugin(path string, b Backend) []Problem {
	var ps []Problem
	if b.Plugin == "" {
		return []Problem{{Path: path + ".plugin", Message: "is required"}}
	}
	for _, p := range b.Sandbox.Paths() {
		if p.Path == "" || strings.ContainsRune(p.Path, 0) {
			ps = append(ps, Problem{Path: path + "." + p.At, Message: "must be a path"})
		}
	}
	if !IsExternal(b.Plugin) {
		p, ok := builtin.Plugins[b.Plugin]
		if !ok {
			return []Problem{{Path: path + ".plugin", Message: fmt.Sprintf("unknown first-party plugin %q (known: %s; an external plugin is a path, e.g. ./bin/%s)", b.Plugin, strings.Join(builtin.Names(), ", "), b.Plugin)}}
		}
		if b.SHA256 != "" {
			ps = append(ps, Problem{Path: path + ".sha256", Message: "is only for external plugins"})
		}
		if err := p.CheckConfig(b.ConfigJSON()); err != nil {
			ps = append(ps, pluginProblems(path+".config", err)...)
		}
		return ps
	}
	switch {
	case b.SHA256 == "":
		ps = append(ps, Problem{Path: path + ".sha256", Message: "is required for an external plugin (run: portcullis plugins checksum " + b.Plugin + ")"})
	case !hexSHA256.MatchString(b.SHA256):
		ps = append(ps, Problem{Path: path + ".sha256", Message: "must be 64 lower-case hex digits"})
	}
	return ps
}

// IsExternal reports whether a backend's plugin names an executable rather
// than a first-party plugin.
func IsExternal(plugin string) bool { return strings.ContainsRune(plugin, '/') }

// ConfigJSON returns the backend's config section as JSON ("{}" when absent).
func (b Backend) ConfigJSON() json.RawMessage {
	if b.Config == nil {
		return json.RawMessage("{}")
	}
	raw, err := json.Marshal(b.Config)
	if err != nil {
		return json.RawMessage("{}") // unreachable: decoded from JSON
	}
	return raw
}

// pluginProblems turns a plugin's configuration error into problems under
// path.
func pluginProblems(path string, err error) []Problem {
	var cfgErr *sdk.ConfigError
	if errors.As(err, &cfgErr) {
		var ps []Problem
		for _, p := range cfgErr.Problems {
			p.Path = join(path, p.Path)
			ps = append(ps, p)
		}
		return ps
	}
	return []Problem{{Path: path, Message: err.Error()}}
}

// TrustedPrefixes returns trusted_proxies parsed.
func (c *Config) TrustedPrefixes() []netip.Prefix { return c.trusted }

// Warnings lists settings of the host's own that work but are likely
// mistakes (first-party plugins' warnings are theirs: builtin.Plugins).
func (c *Config) Warnings() []string { return c.warnings }

// privateNetworks are the ranges a proxy of one's own lives in.
var privateNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// narrowOrPrivate reports whether a trusted prefix is plausibly one's own
// proxies: inside a private network, or no wider than a /24 (IPv4) or a
// /64 (IPv6) of public addresses.
func narrowOrPrivate(p netip.Prefix) bool {
	for _, n := range privateNetworks {
		if n.Bits() <= p.Bits() && n.Contains(p.Addr()) {
			return true
		}
	}
	if p.Addr().Is4() {
		return p.Bits() >= 24
	}
	return p.Bits() >= 64
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// prefixError is a trusted_proxies entry that parses but cannot be used as
// written; its message replaces the generic one.
type prefixError struct{ msg string }

func (e *prefixError) Error() string { return e.msg }

// parsePrefix parses an address or CIDR prefix, masked. IPv4-mapped IPv6
// (::ffff:a.b.c.d) is turned into IPv4, as the HTTP API unmaps every peer
// address before matching: a mapped prefix left as IPv6 could never match.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			// The mapped block ::ffff:0:0/96 is the first 96 bits; a
			// shorter prefix also covers addresses that are not IPv4.
			if p.Bits() < 96 {
				return netip.Prefix{}, &prefixError{fmt.Sprintf("%q covers more than IPv4-mapped addresses; write the IPv4 prefix", s)}
			}
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
