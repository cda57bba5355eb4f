package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repo is the repository's root, seen from this package's directory, where
// go test runs the tests.
var repo = filepath.Join("..", "..")

var dashboardPath = filepath.Join(repo, "docs", "grafana", "portcullis.json")

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  json.RawMessage `json:"datasource"`
	GridPos     gridPos         `json:"gridPos"`
	Targets     []target        `json:"targets"`
	Collapsed   bool            `json:"collapsed"`
	// Panels are a collapsed row's panels.
	Panels []panel `json:"panels"`
}

type target struct {
	RefID      string          `json:"refId"`
	Expr       string          `json:"expr"`
	Datasource json.RawMessage `json:"datasource"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource json.RawMessage `json:"datasource"`
}

// queryText is a query variable's query, which Grafana stores either as a
// string or as an object holding it.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// allPanels returns the panels with the rows' panels, rows included.
func allPanels(d dashboard) []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// queryPanels returns the panels that show data: all but the rows.
func queryPanels(d dashboard) []panel {
	var out []panel
	for _, p := range allPanels(d) {
		if p.Type != "row" {
			out = append(out, p)
		}
	}
	return out
}

// refersToDatasourceVariable reports whether a datasource reference is the
// dashboard's ${datasource} variable, so that the dashboard works with
// whichever Prometheus the operator picks on import.
func refersToDatasourceVariable(raw json.RawMessage) error {
	if len(raw) == 0 {
		return fmt.Errorf("no datasource")
	}
	var ref struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		return fmt.Errorf("datasource %s is not a {type, uid} reference", raw)
	}
	if ref.UID != "${datasource}" && ref.UID != "$datasource" {
		return fmt.Errorf("datasource uid %q, want ${datasource}", ref.UID)
	}
	if ref.Type != "prometheus" {
		return fmt.Errorf("datasource type %q, want prometheus", ref.Type)
	}
	return nil
}

func TestDashboardParses(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both are needed to import and link the dashboard", d.Title, d.UID)
	}
	// Version 36 made datasource references {type, uid} objects, which is what
	// lets every panel name the ${datasource} variable.
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want 36 or later", d.SchemaVersion)
	}
	if len(queryPanels(d)) == 0 {
		t.Fatal("no panels")
	}
}

func TestDashboardVariables(t *testing.T) {
	d := loadDashboard(t)
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	ds, ok := vars["datasource"]
	if !ok || ds.Type != "datasource" || ds.queryText() != "prometheus" {
		t.Errorf("want a datasource variable named datasource of Prometheus data sources, got %+v", ds)
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)
	for _, name := range []string{"job", "backend"} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("no %s variable", name)
			continue
		}
		m := labelValues.FindStringSubmatch(v.queryText())
		if m == nil || m[2] != name {
			t.Errorf("variable %s: query %q, want label_values(portcullis_plugin_up..., %s)", name, v.queryText(), name)
			continue
		}
		p, err := parsePromQL(m[1])
		if err != nil || !slices.Equal(p.series(), []string{"portcullis_plugin_up"}) {
			t.Errorf("variable %s: query %q, want its values from portcullis_plugin_up (%v)", name, v.queryText(), err)
		}
		if problems := checkExpr(m[1]); len(problems) > 0 {
			t.Errorf("variable %s: %v", name, problems)
		}
		if !seriesNames()["portcullis_plugin_up"].labels[m[2]] {
			t.Errorf("variable %s: portcullis_plugin_up has no label %q", name, m[2])
		}
		if err := refersToDatasourceVariable(v.Datasource); err != nil {
			t.Errorf("variable %s: %v", name, err)
		}
	}
}

// builtinVariables are Grafana's own, always defined.
var builtinVariables = []string{"__rate_interval", "__interval", "__range"}

func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	defined := slices.Clone(builtinVariables)
	for _, v := range d.Templating.List {
		defined = append(defined, v.Name)
	}
	varRef := regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

	ids := map[int]string{}
	for _, p := range allPanels(d) {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("%s: id already used by %q", name, prev)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("%s: no title", name)
		}
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("%s: no description to tell the operator what it shows", name)
		}
		if err := refersToDatasourceVariable(p.Datasource); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no target", name)
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refIDs[tg.RefID] {
				t.Errorf("%s: target refId %q missing or repeated", name, tg.RefID)
			}
			refIDs[tg.RefID] = true
			if len(tg.Datasource) > 0 {
				if err := refersToDatasourceVariable(tg.Datasource); err != nil {
					t.Errorf("%s, target %s: %v", name, tg.RefID, err)
				}
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s, target %s: no expression", name, tg.RefID)
				continue
			}
			for _, problem := range checkExpr(tg.Expr) {
				t.Errorf("%s, target %s: %s\n\t%s", name, tg.RefID, problem, tg.Expr)
			}
			for _, m := range varRef.FindAllStringSubmatch(tg.Expr, -1) {
				if !slices.Contains(defined, m[1]) {
					t.Errorf("%s, target %s: variable $%s is not defined", name, tg.RefID, m[1])
				}
			}
		}
	}
}

func TestDashboardLayout(t *testing.T) {
	d := loadDashboard(t)
	// A collapsed row's panels are laid out when it opens; the top level is
	// what Grafana shows at first.
	top := d.Panels
	for i, p := range top {
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
		}
		for _, q := range top[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q %+v and %q %+v overlap", q.Title, h, p.Title, g)
			}
		}
	}
}

// TestDashboardCoversContract keeps every metric of the host on the dashboard:
// a metric added to the contract without a panel is one an operator cannot see.
func TestDashboardCoversContract(t *testing.T) {
	d := loadDashboard(t)
	known := seriesNames()
	used := map[string]bool{}
	for _, p := range queryPanels(d) {
		for _, tg := range p.Targets {
			parsed, err := parsePromQL(tg.Expr)
			if err != nil {
				continue // reported by TestDashboardPanels
			}
			for _, s := range parsed.series() {
				used[known[s].family] = true
			}
		}
	}
	for name := range contract {
		if strings.HasPrefix(name, "portcullis_") && !used[name] {
			t.Errorf("%s is on no panel", name)
		}
	}
}

// findPanel returns the panel titled title.
func findPanel(t *testing.T, d dashboard, title string) panel {
	t.Helper()
	for _, p := range queryPanels(d) {
		if p.Title == title {
			return p
		}
	}
	t.Fatalf("no panel %q", title)
	return panel{}
}

// quantiles returns, for each histogram_quantile over series in the panel's
// targets, its quantile and the labels it keeps.
func quantiles(p panel, series string) map[string][]string {
	re := regexp.MustCompile(`^histogram_quantile\(\s*([0-9.]+)\s*,`)
	out := map[string][]string{}
	for _, tg := range p.Targets {
		m := re.FindStringSubmatch(tg.Expr)
		parsed, err := parsePromQL(tg.Expr)
		if m == nil || err != nil || !slices.Equal(parsed.series(), []string{series}) {
			continue
		}
		for _, c := range parsed.clauses {
			if c.keyword == "by" {
				out[m[1]] = c.labels
			}
		}
	}
	return out
}

func TestDashboardLatencyPanels(t *testing.T) {
	d := loadDashboard(t)
	login := quantiles(findPanel(t, d, "Login latency"), "portcullis_login_duration_seconds_bucket")
	for _, q := range []string{"0.5", "0.95", "0.99"} {
		if by, ok := login[q]; !ok || !slices.Equal(by, []string{"le"}) {
			t.Errorf("Login latency: want quantile %s over all logins (by le), got %v", q, login)
		}
	}
	// The panel that tells which backend made a login slow.
	backend := quantiles(findPanel(t, d, "Backend call latency p95 by backend"), "portcullis_backend_call_duration_seconds_bucket")
	if by := backend["0.95"]; !slices.Contains(by, "le") || !slices.Contains(by, "backend") || len(by) != 2 {
		t.Errorf("Backend call latency: want p95 by (le, backend), got %v", backend)
	}
}

// grafanaDurations stand in for Grafana's interval variables so that promtool
// can parse the panels' expressions.
var grafanaDurations = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range}", "1h", "$__range", "1h",
)

func TestDashboardPromQLParses(t *testing.T) {
	promtool := lookPromtool(t)
	d := loadDashboard(t)
	otherVar := regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, p := range queryPanels(d) {
		for _, tg := range p.Targets {
			expr := otherVar.ReplaceAllString(grafanaDurations.Replace(tg.Expr), "x")
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard:panel_%d_%s", p.ID, tg.RefID), Expr: expr})
		}
	}
	file := writeRuleFile(t, map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	runPromtool(t, promtool, "check", "rules", file)
}
