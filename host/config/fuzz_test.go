package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any file is either a configuration or a list of problems,
// each with a message, none showing a value from the environment; a
// configuration read from a file is read the same way twice.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"listen: 127.0.0.1:8700\n",
		"listen: ${FUZZ_SECRET}\n",
		"storage: {driver: postgres, dsn: 'postgres://u:${FUZZ_SECRET}@db/x'}\n",
		"backends:\n  - {name: lockout, plugin: lockout, config: {failure_limit: 5, cooloff: 30m}}\n  - {name: local, plugin: password}\n",
		"backends: []\n",
		"backends:\n  - name: a\n    plugin: ./x\n    sha256: zz\n    timeout: 1\n",
		"trusted_proxies: [10.0.0.0/8, '::1', 0.0.0.0/0, nope]\n",
		"tokens: {access_ttl: -1s, refresh_ttl: 1h}\n",
		"signals:\n  subscribers:\n    - {name: h, webhook: 'https://x/?token=${FUZZ_SECRET}', secret: '${FUZZ_SECRET}', signals: ['*']}\n",
		"a: &a [*a]\n",
		"a: &a [1, 2]\nb: [*a, *a, *a]\n",
		"<<: {listen: ':1'}\n",
		"limits: {max_connections: 0, login_queue: -3}\n",
		"log: {level: \"${UNSET_FUZZ}\"}\n",
		"data_dir: $${X}\n",
		"listen: !!int x\n",
		"\t- :\n",
	} {
		f.Add([]byte(s))
	}
	const secret = "fuzz-planted-secret-61d2"
	lookup := func(name string) (string, bool) {
		if name == "FUZZ_SECRET" {
			return secret, true
		}
		if strings.HasPrefix(name, "UNSET") {
			return "", false
		}
		return "1", true
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse("fuzz.yaml", raw, lookup)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("Parse(%q) = %T %v, want an *Error with problems", raw, err, err)
			}
			for _, p := range ce.Problems {
				if p.Message == "" {
					t.Fatalf("Parse(%q): a problem at %q without a message", raw, p.Path)
				}
			}
			if strings.Contains(err.Error(), secret) && !strings.Contains(string(raw), secret) {
				t.Fatalf("Parse(%q) shows the environment's secret: %v", raw, err)
			}
			return
		}
		for _, w := range cfg.Warnings() {
			if strings.Contains(w, secret) && !strings.Contains(string(raw), secret) {
				t.Fatalf("Parse(%q) warns with the environment's secret: %s", raw, w)
			}
		}
		if len(cfg.Backends) == 0 || cfg.Listen == "" || cfg.Storage.Driver == "" {
			t.Fatalf("Parse(%q) accepted a configuration without its defaults: %+v", raw, cfg)
		}
		again, err := Parse("fuzz.yaml", raw, lookup)
		if err != nil || again.Listen != cfg.Listen || len(again.Backends) != len(cfg.Backends) {
			t.Fatalf("Parse(%q) gave a configuration, then %v", raw, err)
		}
	})
}
