package config

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/builtin"
)

// env is a lookup over a fixed set of variables that records every name
// it was asked for.
type env struct {
	vars  map[string]string
	asked []string
}

func (e *env) lookup(name string) (string, bool) {
	e.asked = append(e.asked, name)
	v, ok := e.vars[name]
	return v, ok
}

// want is one expected problem: its exact path and a piece of its message.
type want struct {
	path string
	msg  string
}

// problems returns the problems of a Parse error, failing the test if err
// is not a *Error.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return cfgErr.Problems
}

// checkProblems requires got to hold exactly the wanted problems, in any
// order.
func checkProblems(t *testing.T, got []Problem, wants []want) {
	t.Helper()
	left := slices.Clone(got)
	for _, w := range wants {
		i := slices.IndexFunc(left, func(p Problem) bool {
			return p.Path == w.path && strings.Contains(p.Message, w.msg)
		})
		if i < 0 {
			t.Errorf("missing problem %q: ...%s...", w.path, w.msg)
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	for _, p := range left {
		t.Errorf("unexpected problem %s", p)
	}
	if t.Failed() {
		t.Logf("all problems:\n%s", problemList(got))
	}
}

func problemList(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

func mustParse(t *testing.T, raw string, vars map[string]string) *Config {
	t.Helper()
	e := &env{vars: vars}
	cfg, err := Parse("test.yaml", []byte(raw), e.lookup)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// checkDefaults requires every setting of cfg to hold its built-in default.
func checkDefaults(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.Listen != "127.0.0.1:8700" || cfg.DataDir != "data" {
		t.Errorf("listen/data_dir = %q/%q, want 127.0.0.1:8700/data", cfg.Listen, cfg.DataDir)
	}
	// Nobody is trusted to speak for clients by default, not even loopback.
	if len(cfg.TrustedProxies) != 0 || len(cfg.TrustedPrefixes()) != 0 {
		t.Errorf("trusted_proxies = %q (%v), want none", cfg.TrustedProxies, cfg.TrustedPrefixes())
	}
	if want := (Storage{Driver: "sqlite", DSN: filepath.Join("data", "portcullis.db")}); cfg.Storage != want {
		t.Errorf("storage = %+v, want %+v", cfg.Storage, want)
	}
	if want := (defaultTokens); cfg.Tokens != want {
		t.Errorf("tokens = %+v, want %+v", cfg.Tokens, want)
	}
	wantPlugins := Plugins{
		StartTimeout:      Duration(10 * time.Second),
		RestartBackoff:    Duration(100 * time.Millisecond),
		RestartBackoffMax: Duration(30 * time.Second),
		StopGrace:         Duration(5 * time.Second),
		Sandbox:           "auto",
	}
	if cfg.Plugins != wantPlugins {
		t.Errorf("plugins = %+v, want %+v", cfg.Plugins, wantPlugins)
	}
	wantBackends := defaultBackends()
	for i := range wantBackends {
		wantBackends[i].Timeout, wantBackends[i].OnError = Duration(5*time.Second), OnErrorFail
	}
	if !reflect.DeepEqual(cfg.Backends, wantBackends) {
		t.Errorf("backends = %+v, want %+v", cfg.Backends, wantBackends)
	}
	if want := (Log{Level: "info", Format: "text"}); cfg.Log != want {
		t.Errorf("log = %+v, want %+v", cfg.Log, want)
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
	}{
		{"nil", nil},
		{"empty", []byte("")},
		{"blank lines", []byte("\n\n  \n")},
		{"only a comment", []byte("# nothing configured yet\n")},
		{"empty mapping", []byte("{}")},
		{"document marker", []byte("---\n")},
		{"explicit nulls", []byte("listen: null\nstorage: ~\nbackends:\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("test.yaml", tt.raw, (&env{}).lookup)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkDefaults(t, cfg)
		})
	}
}

var defaultTokens = Tokens{
	Issuer: "http://127.0.0.1:8700", Audience: "portcullis", Algorithm: "EdDSA",
	AccessTTL: Duration(15 * time.Minute), RefreshTTL: Duration(30 * 24 * time.Hour),
	RefreshMaxLifetime: Duration(90 * 24 * time.Hour), RetainEnded: Duration(7 * 24 * time.Hour),
}

func TestDefault(t *testing.T) {
	cfg, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	checkDefaults(t, cfg)
}

func TestParseBackendsAbsentVersusEmpty(t *testing.T) {
	t.Run("absent gives the default chain", func(t *testing.T) {
		cfg := mustParse(t, "listen: 127.0.0.1:9000\n", nil)
		if got := cfg.Backends; len(got) != 2 || got[0].Plugin != "lockout" || got[1].Name != "local" || got[1].Plugin != "password" || got[1].Timeout.D() != 5*time.Second {
			t.Errorf("backends = %+v, want the default [lockout, local: password, 5s]", got)
		}
	})
	t.Run("explicit empty list is a problem", func(t *testing.T) {
		_, err := Parse("test.yaml", []byte("backends: []\n"), (&env{}).lookup)
		checkProblems(t, problems(t, err), []want{{"backends", "at least one backend"}})
	})
	t.Run("given backends replace the default", func(t *testing.T) {
		cfg := mustParse(t, "backends:\n  - {name: mine, plugin: password, timeout: 2s}\n", nil)
		if got := cfg.Backends; len(got) != 1 || got[0].Name != "mine" || got[0].Timeout.D() != 2*time.Second {
			t.Errorf("backends = %+v, want [mine: password, 2s]", got)
		}
	})
}

func TestParseValid(t *testing.T) {
	raw := `
listen: 0.0.0.0:8080
data_dir: /var/lib/portcullis
trusted_proxies: [10.0.0.0/8, 192.168.1.1, "2001:db8::/32"]
storage:
  driver: postgres
  dsn: postgres://u:p@db/portcullis
tokens:
  access_ttl: 5m
  refresh_ttl: 720h
plugins:
  start_timeout: 3s
  restart_backoff: 200ms
  restart_backoff_max: 1m
  stop_grace: 2s
  sandbox: required
backends:
  - name: local
    plugin: password
    timeout: 1500ms
    sandbox: {read: [/etc/ldap/ca.pem], write: [relative/dir]}
    config:
      argon2id: {memory_kib: 65536, iterations: 3, parallelism: 2}
      max_concurrent_hashes: 4
  - name: ext_1
    plugin: ./bin/portcullis-ldap
    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    config:
      url: ldaps://ldap.example.com
      anything: [goes, {because: external}]
log:
  level: debug
  format: json
`
	cfg := mustParse(t, raw, nil)
	if cfg.Listen != "0.0.0.0:8080" || cfg.DataDir != "/var/lib/portcullis" {
		t.Errorf("listen/data_dir = %q/%q", cfg.Listen, cfg.DataDir)
	}
	if cfg.Storage != (Storage{Driver: "postgres", DSN: "postgres://u:p@db/portcullis"}) {
		t.Errorf("storage = %+v", cfg.Storage)
	}
	if cfg.Tokens.AccessTTL.D() != 5*time.Minute || cfg.Tokens.RefreshTTL.D() != 720*time.Hour {
		t.Errorf("tokens = %+v", cfg.Tokens)
	}
	wantPlugins := Plugins{
		StartTimeout: Duration(3 * time.Second), RestartBackoff: Duration(200 * time.Millisecond),
		RestartBackoffMax: Duration(time.Minute), StopGrace: Duration(2 * time.Second), Sandbox: "required",
	}
	if cfg.Plugins != wantPlugins {
		t.Errorf("plugins = %+v, want %+v", cfg.Plugins, wantPlugins)
	}
	if cfg.Log != (Log{Level: "debug", Format: "json"}) {
		t.Errorf("log = %+v", cfg.Log)
	}
	if len(cfg.Backends) != 2 {
		t.Fatalf("backends = %+v, want 2", cfg.Backends)
	}
	if b := cfg.Backends[0]; b.Name != "local" || b.Plugin != "password" || b.Timeout.D() != 1500*time.Millisecond {
		t.Errorf("backends[0] = %+v", b)
	}
	if got, want := cfg.Backends[0].Sandbox, (PluginSandbox{Read: []string{"/etc/ldap/ca.pem"}, Write: []string{"relative/dir"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("backends[0].sandbox = %+v, want %+v", got, want)
	}
	if got, want := string(cfg.Backends[0].ConfigJSON()), `{"argon2id":{"iterations":3,"memory_kib":65536,"parallelism":2},"max_concurrent_hashes":4}`; got != want {
		t.Errorf("backends[0] config JSON = %s, want %s", got, want)
	}
	if b := cfg.Backends[1]; !IsExternal(b.Plugin) || b.SHA256 == "" || b.Timeout.D() != 5*time.Second {
		t.Errorf("backends[1] = %+v, want an external plugin with the default timeout", b)
	}
	if got, want := string(cfg.Backends[1].ConfigJSON()), `{"anything":["goes",{"because":"external"}],"url":"ldaps://ldap.example.com"}`; got != want {
		t.Errorf("backends[1] config JSON = %s, want %s", got, want)
	}
	wantTrusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32"), netip.MustParsePrefix("2001:db8::/32"),
	}
	if got := cfg.TrustedPrefixes(); !slices.Equal(got, wantTrusted) {
		t.Errorf("TrustedPrefixes = %v, want %v", got, wantTrusted)
	}
}

func TestConfigJSONAbsent(t *testing.T) {
	cfg := mustParse(t, "backends: [{name: a, plugin: password}]\n", nil)
	if got := string(cfg.Backends[0].ConfigJSON()); got != "{}" {
		t.Errorf("ConfigJSON = %s, want {}", got)
	}
}

func TestParseProblems(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		raw   string
		wants []want
	}{
		// Unknown keys, at every depth.
		{"unknown top-level key", "lisen: 127.0.0.1:1\n", []want{{"lisen", "unknown key (known: listen, data_dir,"}}},
		{"unknown storage key", "storage: {driver: sqlite, path: x}\n", []want{{"storage.path", "unknown key"}}},
		{"unknown tokens key", "tokens: {issuer_url: me}\n", []want{{"tokens.issuer_url", "unknown key"}}},
		{"tokens issuer not a URL", "tokens: {issuer: me, algorithm: HS256}\n", []want{{"tokens.issuer", "http(s) URL"}, {"tokens.algorithm", "EdDSA, ES256, RS256"}}},
		{"unknown plugins key", "plugins: {restart: 1s}\n", []want{{"plugins.restart", "unknown key"}}},
		{"unknown log key", "log: {colour: true}\n", []want{{"log.colour", "unknown key"}}},
		{"unknown backend key", "backends:\n  - {name: a, plugin: password}\n  - {name: b, plugin: password, sha: x}\n",
			[]want{{"backends[1].sha", "unknown key"}}},
		{"unknown first-party config key", "backends: [{name: a, plugin: password, config: {max_hashes: 1}}]\n",
			[]want{{"backends[0].config.max_hashes", "unknown key (known: argon2id, max_concurrent_hashes)"}}},
		{"unknown nested first-party config key", "backends: [{name: a, plugin: password, config: {argon2id: {memory: 1}}}]\n",
			[]want{{"backends[0].config.argon2id.memory", "unknown key (known: memory_kib, iterations, parallelism)"}}},

		// Wrong types.
		{"string given a list", "listen: [a, b]\n", []want{{"listen", "must be a string, not a list"}}},
		{"string given a mapping", "log: {level: {x: 1}}\n", []want{{"log.level", "must be a string, not a mapping"}}},
		{"list given a scalar", "trusted_proxies: 10.0.0.0/8\n", []want{{"trusted_proxies", "must be a list"}}},
		{"list given a mapping", "backends: {name: a}\n", []want{{"backends", "must be a list, not a mapping"}}},
		{"list item of the wrong type", "trusted_proxies: [[10.0.0.1]]\n", []want{
			{"trusted_proxies[0]", "must be a string, not a list"},
			{"trusted_proxies[0]", "must be an IP address"}, // the empty string left behind
		}},
		{"mapping given a scalar", "storage: sqlite\n", []want{{"storage", "must be a mapping"}}},
		{"mapping given a list", "tokens: [1h]\n", []want{{"tokens", "must be a mapping, not a list"}}},
		{"backend given a scalar", "backends: [local]\n", []want{
			{"backends[0]", "must be a mapping, not a string"},
			{"backends[0].name", "is required"},
			{"backends[0].plugin", "is required"},
		}},
		{"backend config given a scalar", "backends: [{name: a, plugin: password, config: fast}]\n",
			[]want{{"backends[0].config", "must be a mapping"}}},
		{"duration without unit", "tokens: {access_ttl: 15}\n", []want{{"tokens.access_ttl", "must be a duration"}}},
		{"duration not a duration", "plugins: {stop_grace: soon}\n", []want{{"plugins.stop_grace", `not "soon"`}}},
		{"unknown sandbox mode", "plugins: {sandbox: strict}\n", []want{{"plugins.sandbox", `must be auto, required or off, not "strict"`}}},
		{"empty sandbox path", "backends: [{name: a, plugin: password, sandbox: {read: [/etc/x], write: [\"\"]}}]\n",
			[]want{{"backends[0].sandbox.write[0]", "must be a path"}}},
		{"sandbox given a list", "backends: [{name: a, plugin: password, sandbox: [/etc/x]}]\n",
			[]want{{"backends[0].sandbox", "must be a mapping, not a list"}}},
		{"sandbox of a webhook", "signals: {subscribers: [{webhook: \"https://h/x\", secret: 0123456789abcdef, signals: [\"*\"], sandbox: {read: [/x]}}]}\n",
			[]want{{"signals.subscribers[0]", "sha256, config and sandbox are only for a plugin subscriber"}}},
		{"duration given a list", "backends: [{name: a, plugin: password, timeout: [1s]}]\n",
			[]want{{"backends[0].timeout", "must be a string, not a list"}}},
		{"first-party config int given a string", "backends: [{name: a, plugin: password, config: {max_concurrent_hashes: many}}]\n",
			[]want{{"backends[0].config.max_concurrent_hashes", "must be a whole number"}}},
		{"first-party config nested int given a string", "backends: [{name: a, plugin: password, config: {argon2id: {memory_kib: lots}}}]\n",
			[]want{{"backends[0].config.argon2id.memory_kib", "must be a whole number"}}},
		{"top level is a list", "- listen\n", []want{{"", "must be a mapping, not a list"}}},

		// Duplicate keys.
		{"duplicate top-level key", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", []want{{"listen", "given twice"}}},
		{"duplicate nested key", "storage:\n  driver: sqlite\n  driver: postgres\n", []want{{"storage.driver", "given twice"}}},
		{"duplicate backend key", "backends: [{name: a, plugin: password, name: b}]\n", []want{{"backends[0].name", "given twice"}}},

		// Backends.
		{"duplicate backend names", "backends:\n  - {name: local, plugin: password}\n  - {name: other, plugin: password}\n  - {name: local, plugin: password}\n",
			[]want{{"backends[2].name", `"local" is already the name of backends[0]`}}},
		{"missing backend name", "backends: [{plugin: password}]\n", []want{{"backends[0].name", "is required"}}},
		{"upper-case backend name", "backends: [{name: Local, plugin: password}]\n", []want{{"backends[0].name", `not "Local"`}}},
		{"backend name starting with a digit", "backends: [{name: 1st, plugin: password}]\n", []want{{"backends[0].name", "must be lower-case"}}},
		{"backend name with a dot", "backends: [{name: a.b, plugin: password}]\n", []want{{"backends[0].name", "must be lower-case"}}},
		{"backend name too long", "backends: [{name: a" + strings.Repeat("b", 63) + ", plugin: password}]\n", []want{{"backends[0].name", "must be lower-case"}}},
		{"missing plugin", "backends: [{name: a}]\n", []want{{"backends[0].plugin", "is required"}}},
		{"unknown first-party plugin", "backends: [{name: a, plugin: kerberos}]\n",
			[]want{{"backends[0].plugin", `unknown first-party plugin "kerberos" (known: ` + strings.Join(builtin.Names(), ", ") + `; an external plugin is a path, e.g. ./bin/kerberos)`}}},
		{"external plugin without sha256", "backends: [{name: a, plugin: ./bin/ldap}]\n",
			[]want{{"backends[0].sha256", "is required for an external plugin (run: portcullis plugins checksum ./bin/ldap)"}}},
		{"external plugin by absolute path without sha256", "backends: [{name: a, plugin: /usr/lib/ldap}]\n",
			[]want{{"backends[0].sha256", "is required"}}},
		{"external plugin with an upper-case sha256", "backends: [{name: a, plugin: ./bin/ldap, sha256: " + strings.ToUpper(sha) + "}]\n",
			[]want{{"backends[0].sha256", "64 lower-case hex digits"}}},
		{"external plugin with a short sha256", "backends: [{name: a, plugin: ./bin/ldap, sha256: " + sha[1:] + "}]\n",
			[]want{{"backends[0].sha256", "64 lower-case hex digits"}}},
		{"external plugin with a long sha256", "backends: [{name: a, plugin: ./bin/ldap, sha256: " + sha + "0}]\n",
			[]want{{"backends[0].sha256", "64 lower-case hex digits"}}},
		{"external plugin with a non-hex sha256", "backends: [{name: a, plugin: ./bin/ldap, sha256: " + strings.Repeat("g", 64) + "}]\n",
			[]want{{"backends[0].sha256", "64 lower-case hex digits"}}},
		{"sha256 on a first-party plugin", "backends: [{name: a, plugin: password, sha256: " + sha + "}]\n",
			[]want{{"backends[0].sha256", "only for external plugins"}}},
		{"first-party config values", "backends:\n  - {name: a, plugin: password}\n  - name: b\n    plugin: password\n    config: {argon2id: {memory_kib: 1, iterations: 65}, max_concurrent_hashes: -1}\n",
			[]want{
				{"backends[1].config.argon2id.memory_kib", "at least 8"},
				{"backends[1].config.argon2id.iterations", "between 1 and 64"},
				{"backends[1].config.max_concurrent_hashes", "must be > 0"},
			}},
		{"first-party config memory too large", "backends: [{name: a, plugin: password, config: {argon2id: {memory_kib: 4194305}}}]\n",
			[]want{{"backends[0].config.argon2id.memory_kib", "at most"}}},
		{"first-party config is not checked for an external plugin", "backends: [{name: a, plugin: ./p, sha256: " + sha + ", config: {argon2id: {memory_kib: 1}}}]\n",
			nil},

		// Listen, proxies, storage.
		{"listen without port", "listen: localhost\n", []want{{"listen", `must be host:port, not "localhost"`}}},
		{"listen with too many colons", "listen: a:b:c\n", []want{{"listen", "must be host:port"}}},
		{"bad trusted proxies", "trusted_proxies: [10.0.0.0/8, proxy.local, 10.0.0.0/33, 1.2.3, \"::1/129\"]\n",
			[]want{
				{"trusted_proxies[1]", `not "proxy.local"`},
				{"trusted_proxies[2]", "must be an IP address or CIDR prefix"},
				{"trusted_proxies[3]", "must be an IP address or CIDR prefix"},
				{"trusted_proxies[4]", "must be an IP address or CIDR prefix"},
			}},
		{"IPv4-mapped prefix shorter than /96", "trusted_proxies: ['::ffff:10.0.0.0/95', '::ffff:0.0.0.0/0', '::ffff:10.0.0.0/96']\n",
			[]want{
				{"trusted_proxies[0]", `"::ffff:10.0.0.0/95" covers more than IPv4-mapped addresses; write the IPv4 prefix`},
				{"trusted_proxies[1]", "covers more than IPv4-mapped addresses"},
			}},
		{"bad storage driver", "storage: {driver: mysql}\n", []want{{"storage.driver", `must be sqlite or postgres, not "mysql"`}}},
		{"postgres without dsn", "storage: {driver: postgres}\n", []want{{"storage.dsn", "is required for postgres"}}},

		// Durations.
		{"negative token ttls", "tokens: {access_ttl: -1s, refresh_ttl: -1h, retain_ended: -1m}\n",
			[]want{{"tokens.access_ttl", "must be > 0"}, {"tokens.refresh_ttl", "must be > 0"}, {"tokens.retain_ended", "must be > 0"}}},
		{"negative plugin durations", "plugins: {start_timeout: -1s, stop_grace: -1ms}\n",
			[]want{{"plugins.start_timeout", "must be > 0"}, {"plugins.stop_grace", "must be > 0"}}},
		{"negative restart backoff", "plugins: {restart_backoff: -1s}\n", []want{{"plugins.restart_backoff", "must be > 0"}}},
		{"negative backend timeout", "backends: [{name: a, plugin: password, timeout: -5s}]\n", []want{{"backends[0].timeout", "must be > 0"}}},
		{"restart_backoff_max below restart_backoff", "plugins: {restart_backoff: 10s, restart_backoff_max: 1s}\n",
			[]want{{"plugins.restart_backoff_max", "must be >= plugins.restart_backoff"}}},
		{"restart_backoff above the default max", "plugins: {restart_backoff: 1m}\n",
			[]want{{"plugins.restart_backoff_max", "must be >= plugins.restart_backoff"}}},

		// Log.
		{"bad log level", "log: {level: verbose}\n", []want{{"log.level", `must be debug, info, warn or error, not "verbose"`}}},
		{"upper-case log level", "log: {level: INFO}\n", []want{{"log.level", "must be debug"}}},
		{"bad log format", "log: {format: xml}\n", []want{{"log.format", `must be text or json, not "xml"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("test.yaml", []byte(tt.raw), (&env{}).lookup)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if cfg != nil {
				t.Errorf("Parse returned a config alongside an error")
			}
			checkProblems(t, problems(t, err), tt.wants)
		})
	}
}

func TestParseBackendNameBounds(t *testing.T) {
	for _, name := range []string{"a", "a-b_c9", "a" + strings.Repeat("b", 62)} {
		t.Run(name, func(t *testing.T) {
			cfg := mustParse(t, "backends: [{name: "+name+", plugin: password}]\n", nil)
			if cfg.Backends[0].Name != name {
				t.Errorf("name = %q, want %q", cfg.Backends[0].Name, name)
			}
		})
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	raw := `
listen: nowhere
bogus: 1
trusted_proxies: [10.0.0.0/8, not-an-ip]
storage: {driver: postgres, extra: 1}
tokens: {access_ttl: 15, refresh_ttl: -1h}
plugins: {restart_backoff: 2s, restart_backoff_max: 1s, stop_grace: [1s]}
backends:
  - name: local
    plugin: password
    config: {argon2id: {memory_kib: 1}}
  - name: local
    plugin: ./bin/ext
  - name: Bad
    plugin: radius
  - name: ext2
    plugin: ./bin/ext2
    sha256: nope
  - name: pw2
    plugin: password
    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    timeout: 0.5
    config: {argon2id: {lanes: 2}}
log: {level: loud, format: xml}
`
	_, err := Parse("portcullis.yaml", []byte(raw), (&env{}).lookup)
	checkProblems(t, problems(t, err), []want{
		{"bogus", "unknown key"},
		{"storage.extra", "unknown key"},
		{"tokens.access_ttl", "must be a duration"},
		{"plugins.stop_grace", "must be a string, not a list"},
		{"backends[4].timeout", "must be a duration"},
		{"listen", "must be host:port"},
		{"trusted_proxies[1]", "must be an IP address"},
		{"storage.dsn", "is required for postgres"},
		{"tokens.refresh_ttl", "must be > 0"},
		{"plugins.restart_backoff_max", "must be >="},
		{"backends[4].config.argon2id.lanes", "unknown key"},
		{"backends[0].config.argon2id.memory_kib", "at least 8"},
		{"backends[1].name", "already the name of backends[0]"},
		{"backends[1].sha256", "is required"},
		{"backends[2].name", "must be lower-case"},
		{"backends[2].plugin", "unknown first-party plugin"},
		{"backends[3].sha256", "64 lower-case hex digits"},
		{"backends[4].sha256", "only for external plugins"},
		{"log.level", "must be debug"},
		{"log.format", "must be text or json"},
	})
	msg := err.Error()
	if !strings.HasPrefix(msg, "portcullis.yaml: 20 problem(s):") {
		t.Errorf("Error() = %q, want it to start with the source and the count", msg)
	}
	if !strings.Contains(msg, "\n  backends[1].name: ") {
		t.Errorf("Error() = %q, want one problem per line with its path", msg)
	}
}

func TestParseInvalidYAML(t *testing.T) {
	_, err := Parse("bad.yaml", []byte("listen: [unclosed\n"), (&env{}).lookup)
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Path != "" || ps[0].Message == "" || strings.HasPrefix(ps[0].Message, "yaml: ") {
		t.Errorf("problems = %v, want one path-less problem without the yaml: prefix", ps)
	}
	if !strings.HasPrefix(err.Error(), "bad.yaml: 1 problem(s):") {
		t.Errorf("Error() = %q", err)
	}
}

// TestParseDuplicateKeysInBackendConfig checks that a key given twice inside
// a backend's config section is reported, as it is everywhere else.
func TestParseDuplicateKeysInBackendConfig(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want want
		bug  string
	}{
		{"nested mapping", "backends: [{name: a, plugin: password, config: {argon2id: {iterations: 2, iterations: 3}}}]\n",
			want{"backends[0].config.argon2id.iterations", "given twice"}, ""},
		{"top of config", "backends: [{name: a, plugin: password, config: {max_concurrent_hashes: 1, max_concurrent_hashes: 2}}]\n",
			want{"backends[0].config.max_concurrent_hashes", "given twice"}, ""},
		{"in an external plugin's config", extBackend + "      a: 1\n      a: 2\n",
			want{"backends[0].config.a", "given twice"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip("BUG: " + tt.bug)
			}
			_, err := Parse("test.yaml", []byte(tt.raw), (&env{}).lookup)
			if err == nil {
				t.Fatalf("Parse accepted a duplicate key")
			}
			checkProblems(t, problems(t, err), []want{tt.want})
		})
	}
}

// TestParseZeroDurations checks that an explicit zero duration means "use
// the default", as if the key were absent: this is documented behaviour,
// not an oversight.
func TestParseZeroDurations(t *testing.T) {
	cfg := mustParse(t, "tokens: {access_ttl: 0s, refresh_ttl: 0}\nplugins: {start_timeout: 0ms, restart_backoff: 0s, restart_backoff_max: 0s, stop_grace: 0h}\nbackends: [{name: a, plugin: password, timeout: 0s}]\n", nil)
	if want := (defaultTokens); cfg.Tokens != want {
		t.Errorf("tokens = %+v, want the defaults %+v", cfg.Tokens, want)
	}
	wantPlugins := Plugins{
		StartTimeout:      Duration(10 * time.Second),
		RestartBackoff:    Duration(100 * time.Millisecond),
		RestartBackoffMax: Duration(30 * time.Second),
		StopGrace:         Duration(5 * time.Second),
		Sandbox:           "auto",
	}
	if cfg.Plugins != wantPlugins {
		t.Errorf("plugins = %+v, want the defaults %+v", cfg.Plugins, wantPlugins)
	}
	if got := cfg.Backends[0].Timeout.D(); got != 5*time.Second {
		t.Errorf("backends[0].timeout = %v, want the default 5s", got)
	}
	// A negative duration is still refused.
	_, err := Parse("test.yaml", []byte("tokens: {access_ttl: -1s}\nbackends: [{name: a, plugin: password, timeout: -1s}]\n"), (&env{}).lookup)
	checkProblems(t, problems(t, err), []want{{"tokens.access_ttl", "must be > 0"}, {"backends[0].timeout", "must be > 0"}})
}

// extBackend starts a one-backend chain of an external plugin whose config
// section follows, indented by six spaces. (${NAME} cannot end a value in a
// YAML flow mapping: its "}" would close the mapping.)
const extBackend = "backends:\n  - name: a\n    plugin: ./x\n    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    config:\n"

func TestParseEnvExpansion(t *testing.T) {
	vars := map[string]string{
		"HOST":     "10.1.2.3",
		"PORT":     "9000",
		"DSN":      "postgres://u:p@db/x?sslmode=disable",
		"T":        "250ms",
		"N":        "3",
		"EMPTY":    "",
		"NESTED":   "${HOST}",
		"PROXY":    "192.168.0.0/16",
		"LEVEL":    "warn",
		"YAMLISH":  "a: b",
		"TRUEWORD": "true",
	}
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, cfg *Config)
	}{
		{"whole value", "storage: {driver: postgres, dsn: '${DSN}'}\n", func(t *testing.T, cfg *Config) {
			if cfg.Storage.DSN != vars["DSN"] {
				t.Errorf("dsn = %q", cfg.Storage.DSN)
			}
		}},
		{"several in one value", "listen: ${HOST}:${PORT}\n", func(t *testing.T, cfg *Config) {
			if cfg.Listen != "10.1.2.3:9000" {
				t.Errorf("listen = %q", cfg.Listen)
			}
		}},
		{"inside text", "data_dir: /srv/${PORT}/data\n", func(t *testing.T, cfg *Config) {
			if cfg.DataDir != "/srv/9000/data" {
				t.Errorf("data_dir = %q", cfg.DataDir)
			}
		}},
		{"in a list item", "trusted_proxies:\n  - ${PROXY}\n", func(t *testing.T, cfg *Config) {
			if !slices.Equal(cfg.TrustedPrefixes(), []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}) {
				t.Errorf("trusted = %v", cfg.TrustedPrefixes())
			}
		}},
		{"into a duration", "backends:\n  - name: a\n    plugin: password\n    timeout: ${T}\n", func(t *testing.T, cfg *Config) {
			if cfg.Backends[0].Timeout.D() != 250*time.Millisecond {
				t.Errorf("timeout = %v", cfg.Backends[0].Timeout.D())
			}
		}},
		{"into a quoted duration", "log: {level: \"${LEVEL}\"}\ntokens: {access_ttl: \"${T}\"}\n", func(t *testing.T, cfg *Config) {
			if cfg.Tokens.AccessTTL.D() != 250*time.Millisecond || cfg.Log.Level != "warn" {
				t.Errorf("access_ttl = %v, level = %q", cfg.Tokens.AccessTTL.D(), cfg.Log.Level)
			}
		}},
		{"plain scalar becomes a number in plugin config", "backends:\n  - name: a\n    plugin: password\n    config:\n      max_concurrent_hashes: ${N}\n", func(t *testing.T, cfg *Config) {
			if got := string(cfg.Backends[0].ConfigJSON()); got != `{"max_concurrent_hashes":3}` {
				t.Errorf("config JSON = %s", got)
			}
		}},
		{"plain scalar becomes a bool in plugin config", extBackend + "      on: ${TRUEWORD}\n      off: '${TRUEWORD}'\n", func(t *testing.T, cfg *Config) {
			if got := string(cfg.Backends[0].ConfigJSON()); got != `{"off":"true","on":true}` {
				t.Errorf("config JSON = %s", got)
			}
		}},
		{"a value that looks like YAML stays a string", extBackend + "      v: ${YAMLISH}\n", func(t *testing.T, cfg *Config) {
			if got := string(cfg.Backends[0].ConfigJSON()); got != `{"v":"a: b"}` {
				t.Errorf("config JSON = %s", got)
			}
		}},
		{"empty value", extBackend + "      v: x${EMPTY}y\n", func(t *testing.T, cfg *Config) {
			if got := string(cfg.Backends[0].ConfigJSON()); got != `{"v":"xy"}` {
				t.Errorf("config JSON = %s", got)
			}
		}},
		{"dollar-dollar is a literal", "data_dir: /a/$${HOME}/b\n", func(t *testing.T, cfg *Config) {
			if cfg.DataDir != "/a/${HOME}/b" {
				t.Errorf("data_dir = %q", cfg.DataDir)
			}
		}},
		{"a literal beside an expansion", "data_dir: $${X}-${PORT}\n", func(t *testing.T, cfg *Config) {
			if cfg.DataDir != "${X}-9000" {
				t.Errorf("data_dir = %q", cfg.DataDir)
			}
		}},
		{"values are expanded once", "data_dir: ${NESTED}\n", func(t *testing.T, cfg *Config) {
			if cfg.DataDir != "${HOST}" {
				t.Errorf("data_dir = %q, want the variable's text unexpanded", cfg.DataDir)
			}
		}},
		{"a lone dollar is kept", "data_dir: /a/$HOME/b$\n", func(t *testing.T, cfg *Config) {
			if cfg.DataDir != "/a/$HOME/b$" {
				t.Errorf("data_dir = %q", cfg.DataDir)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, tt.raw, vars))
		})
	}
}

func TestParseEnvQuotedNumberStaysString(t *testing.T) {
	// A quoted ${N} is a string even when N holds digits, so a plugin
	// expecting a number refuses it.
	e := &env{vars: map[string]string{"N": "3"}}
	_, err := Parse("test.yaml", []byte("backends: [{name: a, plugin: password, config: {max_concurrent_hashes: \"${N}\"}}]\n"), e.lookup)
	checkProblems(t, problems(t, err), []want{{"backends[0].config.max_concurrent_hashes", "must be a whole number, not a string"}})
}

func TestParseEnvProblems(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		wants []want
	}{
		// Each unset variable is one problem: the value is not decoded, so
		// neither decoding nor validation adds a follow-on problem there.
		{"unset at top level", "listen: ${ADDR}\n", []want{
			{"listen", "environment variable ADDR is not set"},
		}},
		{"unset in a mapping", "storage: {driver: postgres, dsn: \"${PG_DSN}\"}\n", []want{
			{"storage.dsn", "environment variable PG_DSN is not set"},
		}},
		{"unset in a list", "trusted_proxies: [10.0.0.0/8, '${PROXY}']\n", []want{
			{"trusted_proxies[1]", "environment variable PROXY is not set"},
		}},
		{"unset into a duration", "tokens:\n  access_ttl: ${TTL}\n  refresh_ttl: '${RTTL}'\nplugins:\n  stop_grace: x${G}\n", []want{
			{"tokens.access_ttl", "TTL is not set"},
			{"tokens.refresh_ttl", "RTTL is not set"},
			{"plugins.stop_grace", "G is not set"},
		}},
		{"unset into a backend's timeout", "backends:\n  - name: a\n    plugin: password\n    timeout: ${T}\n", []want{
			{"backends[0].timeout", "T is not set"},
		}},
		{"unset into a whole number in first-party config", "backends:\n  - name: a\n    plugin: password\n    config:\n      max_concurrent_hashes: ${N}\n      argon2id:\n        iterations: ${I}\n", []want{
			{"backends[0].config.max_concurrent_hashes", "N is not set"},
			{"backends[0].config.argon2id.iterations", "I is not set"},
		}},
		{"unset into a quoted number in first-party config", "backends: [{name: a, plugin: password, config: {max_concurrent_hashes: '${N}'}}]\n", []want{
			{"backends[0].config.max_concurrent_hashes", "N is not set"},
		}},
		{"unset into a required value", "backends:\n  - name: ${NAME}\n    plugin: password\n", []want{
			{"backends[0].name", "NAME is not set"},
		}},
		{"an alias of an unset value", "listen: &l ${ADDR}\nlog: {level: *l}\n", []want{
			{"listen", "ADDR is not set"},
		}},
		{"unset beside a real problem", "listen: ${ADDR}\nlog: {level: loud}\ntokens: {access_ttl: 15}\n", []want{
			{"listen", "ADDR is not set"},
			{"log.level", `must be debug, info, warn or error, not "loud"`},
			{"tokens.access_ttl", "must be a duration"},
		}},
		{"unset in plugin config", "backends:\n  - name: a\n    plugin: ./x\n    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    config: {bind_password: '${LDAP_PW}', servers: [a, '${SRV}']}\n",
			[]want{
				{"backends[0].config.bind_password", "LDAP_PW is not set"},
				{"backends[0].config.servers[1]", "SRV is not set"},
			}},
		{"unterminated", "data_dir: /x/${HOME\n", []want{{"data_dir", "unterminated ${"}}},
		{"unterminated into a duration", "tokens:\n  access_ttl: 1${TTL\n", []want{{"tokens.access_ttl", "unterminated ${"}}},
		{"several unset at once", "listen: ${A}\ndata_dir: ${B}\nlog: {level: '${C}'}\n", []want{
			{"listen", "A is not set"},
			{"data_dir", "B is not set"},
			{"log.level", "C is not set"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.raw), (&env{}).lookup)
			checkProblems(t, problems(t, err), tt.wants)
		})
	}
}

func TestParseEnvNeverExpandsKeys(t *testing.T) {
	e := &env{vars: map[string]string{"KEY": "listen", "V": "127.0.0.1:1"}}
	_, err := Parse("test.yaml", []byte("${KEY}: ${V}\n"), e.lookup)
	checkProblems(t, problems(t, err), []want{{"${KEY}", "unknown key"}})
	if slices.Contains(e.asked, "KEY") {
		t.Errorf("lookup was asked for KEY (asked %v); keys must not be expanded", e.asked)
	}
	if !slices.Contains(e.asked, "V") {
		t.Errorf("lookup was not asked for V (asked %v)", e.asked)
	}
}

func TestTrustedPrefixes(t *testing.T) {
	tests := []struct {
		name    string
		proxies string
		want    []string
		bug     string
	}{
		{"default trusts nobody", "", nil, ""},
		{"explicit empty trusts nobody", "trusted_proxies: []\n", nil, ""},
		{"bare IPv4 is /32", "trusted_proxies: [10.1.2.3]\n", []string{"10.1.2.3/32"}, ""},
		{"bare IPv6 is /128", "trusted_proxies: ['2001:db8::7']\n", []string{"2001:db8::7/128"}, ""},
		{"bare IPv4-mapped IPv6 is unmapped to /32", "trusted_proxies: ['::ffff:10.1.2.3']\n", []string{"10.1.2.3/32"}, ""},
		{"zone is dropped", "trusted_proxies: ['fe80::1%eth0']\n", []string{"fe80::1/128"}, ""},
		{"prefixes are masked", "trusted_proxies: [10.1.2.3/8, '2001:db8::1/32']\n", []string{"10.0.0.0/8", "2001:db8::/32"}, ""},
		{"order is kept", "trusted_proxies: [192.168.0.0/16, 10.0.0.1, '::1']\n", []string{"192.168.0.0/16", "10.0.0.1/32", "::1/128"}, ""},
		{"IPv4-mapped prefix is unmapped", "trusted_proxies: ['::ffff:10.0.0.0/104']\n", []string{"10.0.0.0/8"}, ""},
		{"IPv4-mapped prefix is unmapped and masked", "trusted_proxies: ['::ffff:192.168.7.9/112', '::ffff:10.1.2.3/128']\n", []string{"192.168.0.0/16", "10.1.2.3/32"}, ""},
		{"the whole IPv4-mapped block is all of IPv4", "trusted_proxies: ['::ffff:0.0.0.0/96']\n", []string{"0.0.0.0/0"}, ""},
		{"IPv4-mapped prefix in hex is unmapped", "trusted_proxies: ['::ffff:a00:0/104']\n", []string{"10.0.0.0/8"}, ""},
		{"plain IPv6 prefix over the mapped block stays IPv6", "trusted_proxies: ['::/80']\n", []string{"::/80"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip("BUG: " + tt.bug)
			}
			cfg := mustParse(t, tt.proxies, nil)
			var want []netip.Prefix
			for _, s := range tt.want {
				want = append(want, netip.MustParsePrefix(s))
			}
			if got := cfg.TrustedPrefixes(); !slices.Equal(got, want) {
				t.Errorf("TrustedPrefixes = %v, want %v", got, want)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1h30m")); err != nil || d.D() != 90*time.Minute {
		t.Fatalf("UnmarshalText(1h30m) = %v, %v", d.D(), err)
	}
	b, err := d.MarshalText()
	if err != nil || string(b) != "1h30m0s" {
		t.Errorf("MarshalText = %q, %v", b, err)
	}
	if err := d.UnmarshalText([]byte("90")); err == nil {
		t.Error("UnmarshalText(90) succeeded; a duration needs a unit")
	}
}

func TestProblemString(t *testing.T) {
	if got := (Problem{Path: "a.b", Message: "bad"}).String(); got != "a.b: bad" {
		t.Errorf("got %q", got)
	}
	if got := (Problem{Message: "bad"}).String(); got != "bad" {
		t.Errorf("got %q", got)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		yaml string
		want []string // pieces of the warnings, in order; none for none
	}{
		{"", nil},
		{"trusted_proxies: [10.0.0.0/8, 192.168.1.0/24, 127.0.0.1, '::1', 'fd00::/8', 203.0.113.0/24, '2001:db8:1::/64']\n", nil},
		{"trusted_proxies: [0.0.0.0/0]\n", []string{"trusted_proxies[0] 0.0.0.0/0 is wider than a private network"}},
		{"trusted_proxies: [10.0.0.0/8, 10.0.0.0/7, '::/0', 198.51.0.0/16]\n", []string{"trusted_proxies[1] 10.0.0.0/7", "trusted_proxies[2] ::/0", "trusted_proxies[3] 198.51.0.0/16"}},
	}
	for _, tt := range tests {
		cfg, err := Parse("test.yaml", []byte(tt.yaml), (&env{}).lookup)
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		got := cfg.Warnings()
		if len(got) != len(tt.want) {
			t.Errorf("%q: warnings %q, want %d", tt.yaml, got, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%q: warning %q, want it to hold %q", tt.yaml, got[i], w)
			}
		}
	}
}

func TestAllowedHosts(t *testing.T) {
	cfg, err := Parse("test.yaml", []byte("allowed_hosts: [auth.example.com, '::1', 10.0.0.5]\n"), (&env{}).lookup)
	if err != nil || len(cfg.AllowedHosts) != 3 {
		t.Fatalf("Parse: %+v, %v", cfg, err)
	}
	_, err = Parse("test.yaml", []byte("allowed_hosts: ['auth.example.com:8700', '', 'http://x']\n"), (&env{}).lookup)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 3 {
		t.Fatalf("Parse of bad allowed_hosts: %v, want 3 problems", err)
	}
}

// The built-in lockout is valid, and warns about nothing: it slows
// spraying from one address and guessing one username from many.
func TestDefaultLockoutIsValidWithoutWarnings(t *testing.T) {
	b := defaultBackends()[0]
	p := builtin.Plugins[b.Plugin]
	if err := p.CheckConfig(b.ConfigJSON()); err != nil {
		t.Fatalf("the built-in lockout configuration: %v", err)
	}
	if w := p.Warnings(b.ConfigJSON()); len(w) != 0 {
		t.Errorf("warnings about the built-in lockout: %q", w)
	}
}

// TestParseYAMLTyping checks how YAML's typing reaches the settings: a
// plain value is typed as YAML 1.2 reads it (yaml.v3: on and yes are
// strings, 0x10 is a number), a quoted one is a string, and a setting that
// is text takes a plain number or boolean as written.
func TestParseYAMLTyping(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	t.Run("valid", func(t *testing.T) {
		cfg := mustParse(t, "data_dir: 2024\n"+
			"signals:\n  delivery: {max_attempts: 0x10, batch_size: 1e2}\n"+
			"  subscribers:\n    - {webhook: https://siem.example.com/hook, secret: 1234567890123456, signals: ['*'], sender: on}\n"+
			"backends:\n  - name: a\n    plugin: ./x\n    sha256: "+sha+"\n"+
			"    config: {a: on, b: yes, c: true, d: ~, e: , f: .inf, g: 0o17, h: 18446744073709551615, i: '5', j: 2.50}\n", nil)
		if cfg.DataDir != "2024" {
			t.Errorf("data_dir = %q, want the text as written", cfg.DataDir)
		}
		if d := cfg.Signals.Delivery; d.MaxAttempts != 16 || d.BatchSize != 100 {
			t.Errorf("delivery = %+v, want max_attempts 16 and batch_size 100", d)
		}
		if s := cfg.Signals.Subscribers[0]; s.Secret != "1234567890123456" || s.Sender != "on" {
			t.Errorf("subscriber = %+v", s)
		}
		want := `{"a":"on","b":"yes","c":true,"d":null,"e":null,"f":".inf","g":15,"h":18446744073709551615,"i":"5","j":2.5}`
		if got := string(cfg.Backends[0].ConfigJSON()); got != want {
			t.Errorf("config JSON = %s, want %s", got, want)
		}
	})
	t.Run("problems", func(t *testing.T) {
		_, err := Parse("test.yaml", []byte("limits: {max_connections: '100', max_queued_logins: true}\nsignals: {delivery: {batch_size: .inf}}\nbackends: [{name: a, plugin: password, timeout: 30, config: {max_concurrent_hashes: 2.5}}]\n"), (&env{}).lookup)
		checkProblems(t, problems(t, err), []want{
			{"limits.max_connections", "must be a whole number, not a string"},
			{"limits.max_queued_logins", "must be a whole number, not a boolean"},
			{"signals.delivery.batch_size", "must be a whole number, not a string"},
			{"backends[0].timeout", `must be a duration such as 30s, 15m or 1h, not "30"`},
			{"backends[0].config.max_concurrent_hashes", "must be a whole number, not number 2.5"},
		})
	})
}

// TestParseMergeKeys checks that merge keys (<<) work in every section, as
// YAML merges them: the mapping's own keys win.
func TestParseMergeKeys(t *testing.T) {
	cfg := mustParse(t, `
backends:
  - &local
    name: local
    plugin: password
    timeout: 2s
    config: &common {argon2id: {iterations: 2}, max_concurrent_hashes: 4}
  - <<: *local
    name: other
    config: {<<: *common, max_concurrent_hashes: 8}
`, nil)
	if len(cfg.Backends) != 2 {
		t.Fatalf("backends = %+v", cfg.Backends)
	}
	if b := cfg.Backends[1]; b.Name != "other" || b.Plugin != "password" || b.Timeout.D() != 2*time.Second {
		t.Errorf("backends[1] = %+v, want local's settings under the name other", b)
	}
	for i, want := range []string{`{"argon2id":{"iterations":2},"max_concurrent_hashes":4}`, `{"argon2id":{"iterations":2},"max_concurrent_hashes":8}`} {
		if got := string(cfg.Backends[i].ConfigJSON()); got != want {
			t.Errorf("backends[%d] config JSON = %s, want %s", i, got, want)
		}
	}
}

// TestParseProblemOrder checks that the problems found in reading the file
// come in the order they are written, before those of the values.
func TestParseProblemOrder(t *testing.T) {
	_, err := Parse("test.yaml", []byte("log: {colour: true}\nlisten: nowhere\ntokens: {access_ttl: 15}\nbackends: [{name: a, plugin: password, timeout: x}]\ndata_dir: ${DIR}\n"), (&env{}).lookup)
	var got []string
	for _, p := range problems(t, err) {
		got = append(got, p.Path)
	}
	want := []string{"data_dir", "log.colour", "tokens.access_ttl", "backends[0].timeout", "listen"}
	if !slices.Equal(got, want) {
		t.Errorf("problems at %q, want %q", got, want)
	}
}
