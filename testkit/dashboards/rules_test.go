package dashboards

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	rulesPath     = filepath.Join(repo, "docs", "prometheus", "alerts.yml")
	rulesTestPath = filepath.Join(repo, "docs", "prometheus", "alerts_test.yml")
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			EvalTime  string           `yaml:"eval_time"`
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func loadYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// wantAlerts is what operators were promised: each alert, how urgent it is, and
// how long its condition must hold before it fires.
var wantAlerts = map[string]struct{ severity, forDuration, doc string }{
	"PortcullisBackendDown":       {"critical", "1m", "docs/plugins.md"},
	"PortcullisOutboxBacklog":     {"warning", "10m", "docs/signals.md"},
	"PortcullisOutboxDeadLetters": {"warning", "", "docs/signals.md"},
	"PortcullisLockoutSpike":      {"warning", "", "docs/lockout.md"},
}

func TestAlertRules(t *testing.T) {
	var f ruleFile
	loadYAML(t, rulesPath, &f)
	seen := map[string]bool{}
	docLink := regexp.MustCompile(`docs/[a-z0-9_/-]+\.md(#[a-z0-9_-]+)?`)
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = "record " + r.Record
			}
			for _, problem := range checkExpr(r.Expr) {
				t.Errorf("%s: %s\n\t%s", name, problem, r.Expr)
			}
			if r.Alert == "" {
				continue
			}
			if seen[r.Alert] {
				t.Errorf("%s: defined twice", r.Alert)
			}
			seen[r.Alert] = true
			want, ok := wantAlerts[r.Alert]
			if !ok {
				t.Errorf("%s: not an alert the operators' documentation describes; add it to wantAlerts and docs/dashboards.md", r.Alert)
				continue
			}
			if got := r.Labels["severity"]; got != want.severity {
				t.Errorf("%s: severity %q, want %q", r.Alert, got, want.severity)
			}
			if r.For != want.forDuration {
				t.Errorf("%s: for %q, want %q", r.Alert, r.For, want.forDuration)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			links := docLink.FindAllString(r.Annotations["description"], -1)
			if !strings.Contains(r.Annotations["description"], want.doc) {
				t.Errorf("%s: description does not point the operator to %s", r.Alert, want.doc)
			}
			for _, link := range links {
				if err := checkDocLink(filepath.Join(repo, filepath.FromSlash(link))); err != nil {
					t.Errorf("%s: %v", r.Alert, err)
				}
			}
		}
	}
	for name := range wantAlerts {
		if !seen[name] {
			t.Errorf("%s: no such alert in %s", name, rulesPath)
		}
	}
}

// TestAlertRulesAreUnitTested keeps alerts_test.yml in step with the rules:
// every alert is shown to fire, and shown not to fire.
func TestAlertRulesAreUnitTested(t *testing.T) {
	var f ruleFile
	loadYAML(t, rulesPath, &f)
	var tf ruleTestFile
	loadYAML(t, rulesTestPath, &tf)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	defined := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			defined[r.Alert] = true
			if !fires[r.Alert] {
				t.Errorf("%s: no test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no test where it does not fire", r.Alert)
			}
		}
	}
	for name := range fires {
		if !defined[name] {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", name)
		}
	}
}

func TestAlertRulesPromtool(t *testing.T) {
	promtool := lookPromtool(t)
	runPromtool(t, promtool, "check", "rules", rulesPath)
	runPromtool(t, promtool, "test", "rules", rulesTestPath)
}

// lookPromtool returns promtool's path, or skips: the rules are checked by
// Prometheus's own parser and evaluator, which this module does not import.
func lookPromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH (Debian: apt-get install prometheus); the rules and the dashboard's PromQL are not parsed or evaluated")
	}
	return path
}

func runPromtool(t *testing.T, promtool string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// writeRuleFile writes a rule file for promtool in the test's temporary
// directory.
func writeRuleFile(t *testing.T, content any) string {
	t.Helper()
	raw, err := yaml.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
