package dashboards

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The checker below reads just enough PromQL to find the series an expression
// selects and the labels it names: selectors with their matchers, and the label
// lists of by, without, on, ignoring, group_left and group_right. It does not
// validate syntax; promtool does that where it is installed. Grafana's
// variables ($job, ${datasource}, $__rate_interval) may appear wherever the
// dashboard puts them: in strings and in range brackets.

type tokKind int

const (
	tIdent tokKind = iota
	tNumber
	tString
	tVar
	tPunct
)

type token struct {
	kind tokKind
	text string
}

func lexPromQL(expr string) ([]token, error) {
	var toks []token
	isIdentStart := func(c byte) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	isIdent := func(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			toks = append(toks, token{tIdent, expr[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(expr) && (isIdent(expr[j]) || expr[j] == '.') && expr[j] != ':' {
				j++
			}
			toks = append(toks, token{tNumber, expr[i:j]})
			i = j
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			toks = append(toks, token{tString, expr[i+1 : j]})
			i = j + 1
		case c == '$':
			j := i + 1
			if j < len(expr) && expr[j] == '{' {
				k := strings.IndexByte(expr[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated variable at %d", i)
				}
				j += k + 1
			} else {
				for j < len(expr) && isIdent(expr[j]) && expr[j] != ':' {
					j++
				}
			}
			toks = append(toks, token{tVar, expr[i:j]})
			i = j
		default:
			two := ""
			if i+1 < len(expr) {
				two = expr[i : i+2]
			}
			switch two {
			case "==", "!=", "=~", "!~", ">=", "<=":
				toks = append(toks, token{tPunct, two})
				i += 2
				continue
			}
			if !strings.ContainsRune("(){}[],=<>+-*/%^@:", rune(c)) {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			toks = append(toks, token{tPunct, string(c)})
			i++
		}
	}
	return toks, nil
}

// selector is one series selector: its name and the labels its matchers name.
type selector struct {
	name   string
	labels []string
	pos    int
}

// clause is a label list: by (...), without (...), on (...), ...
type clause struct {
	keyword string
	labels  []string
	// from and to are the token range of the expression the clause applies to:
	// an aggregation's argument, or the whole expression for vector matching.
	from, to int
}

type parsedExpr struct {
	selectors []selector
	clauses   []clause
}

func (p parsedExpr) series() []string {
	var out []string
	for _, s := range p.selectors {
		if !slices.Contains(out, s.name) {
			out = append(out, s.name)
		}
	}
	return out
}

var clauseKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
var operatorKeywords = []string{"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}

func parsePromQL(expr string) (parsedExpr, error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return parsedExpr{}, err
	}
	closeOf := map[int]int{}
	openOf := map[int]int{}
	var stack []int
	pairs := map[string]string{")": "(", "}": "{", "]": "["}
	for i, t := range toks {
		if t.kind != tPunct {
			continue
		}
		switch t.text {
		case "(", "{", "[":
			stack = append(stack, i)
		case ")", "}", "]":
			if len(stack) == 0 || toks[stack[len(stack)-1]].text != pairs[t.text] {
				return parsedExpr{}, fmt.Errorf("unbalanced %q", t.text)
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			closeOf[o], openOf[i] = i, o
		}
	}
	if len(stack) != 0 {
		return parsedExpr{}, fmt.Errorf("unclosed %q", toks[stack[len(stack)-1]].text)
	}
	next := func(i int) token {
		if i+1 < len(toks) {
			return toks[i+1]
		}
		return token{}
	}
	labelList := func(open int) ([]string, error) {
		var labels []string
		for j := open + 1; j < closeOf[open]; j++ {
			switch t := toks[j]; {
			case t.kind == tIdent:
				labels = append(labels, t.text)
			case t.kind == tPunct && t.text == ",":
			default:
				return nil, fmt.Errorf("unexpected %q in a label list", t.text)
			}
		}
		return labels, nil
	}

	var p parsedExpr
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tPunct && t.text == "[":
			i = closeOf[i] // a range or subquery: durations and variables only
		case t.kind == tPunct && t.text == "{":
			return p, fmt.Errorf("a selector without a metric name cannot be checked")
		case t.kind == tIdent && slices.Contains(clauseKeywords, strings.ToLower(t.text)):
			kw := strings.ToLower(t.text)
			if n := next(i); n.kind != tPunct || n.text != "(" {
				if kw == "group_left" || kw == "group_right" {
					continue
				}
				return p, fmt.Errorf("%s without a label list", kw)
			}
			labels, err := labelList(i + 1)
			if err != nil {
				return p, err
			}
			c := clause{keyword: kw, labels: labels, from: 0, to: len(toks) - 1}
			if kw == "by" || kw == "without" {
				switch {
				case i > 0 && toks[i-1].kind == tPunct && toks[i-1].text == ")":
					c.from, c.to = openOf[i-1], i-1 // sum (x) by (l)
				default:
					arg := closeOf[i+1] + 1 // sum by (l) (x)
					if arg >= len(toks) || toks[arg].text != "(" {
						return p, fmt.Errorf("%s (...) is not followed by the aggregation's argument", kw)
					}
					c.from, c.to = arg, closeOf[arg]
				}
			}
			p.clauses = append(p.clauses, c)
			i = closeOf[i+1]
		case t.kind == tIdent && slices.Contains(operatorKeywords, strings.ToLower(t.text)):
		case t.kind == tIdent && next(i).kind == tPunct && next(i).text == "(",
			t.kind == tIdent && next(i).kind == tIdent && slices.Contains([]string{"by", "without"}, strings.ToLower(next(i).text)):
			// a function, or an aggregation
		case t.kind == tIdent:
			s := selector{name: t.text, pos: i}
			if n := next(i); n.kind == tPunct && n.text == "{" {
				end := closeOf[i+1]
				for j := i + 2; j < end; {
					if toks[j].kind != tIdent || j+2 >= end || toks[j+1].kind != tPunct || toks[j+2].kind != tString {
						return p, fmt.Errorf("cannot read the matchers of %s", t.text)
					}
					if !slices.Contains([]string{"=", "!=", "=~", "!~"}, toks[j+1].text) {
						return p, fmt.Errorf("unknown match operator %q in %s", toks[j+1].text, t.text)
					}
					s.labels = append(s.labels, toks[j].text)
					j += 3
					if j < end && toks[j].text == "," {
						j++
					}
				}
				i = end
			}
			p.selectors = append(p.selectors, s)
		}
	}
	return p, nil
}

// checkExpr returns what expr gets wrong against the contract: series that are
// not exported, and labels that the series it names do not have.
func checkExpr(expr string) []string {
	p, err := parsePromQL(expr)
	if err != nil {
		return []string{err.Error()}
	}
	known := seriesNames()
	var problems []string
	for _, s := range p.selectors {
		info, ok := known[s.name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not a metric a host exports", s.name))
			continue
		}
		for _, l := range s.labels {
			if !info.labels[l] {
				problems = append(problems, fmt.Sprintf("%s has no label %q", s.name, l))
			}
		}
	}
	for _, c := range p.clauses {
		var inScope []string
		for _, s := range p.selectors {
			if _, ok := known[s.name]; ok && s.pos >= c.from && s.pos <= c.to && !slices.Contains(inScope, s.name) {
				inScope = append(inScope, s.name)
			}
		}
		for _, l := range c.labels {
			switch c.keyword {
			case "by", "without":
				// An aggregation's label must be on everything it aggregates.
				for _, name := range inScope {
					if !known[name].labels[l] {
						problems = append(problems, fmt.Sprintf("%s (%s): %s has no label %q", c.keyword, strings.Join(c.labels, ", "), name, l))
					}
				}
			default:
				// Vector matching: the label must be on some side.
				found := len(inScope) == 0
				for _, name := range inScope {
					found = found || known[name].labels[l]
				}
				if !found {
					problems = append(problems, fmt.Sprintf("%s (%s): no series in the expression has label %q", c.keyword, strings.Join(c.labels, ", "), l))
				}
			}
		}
	}
	return problems
}

func TestCheckExprAccepts(t *testing.T) {
	for _, expr := range []string{
		`sum by (outcome) (rate(portcullis_logins_total{job="$job"}[$__rate_interval]))`,
		`histogram_quantile(0.95, sum by (le, backend) (rate(portcullis_backend_call_duration_seconds_bucket{backend=~"$backend"}[5m])))`,
		`sum(rate(portcullis_logins_total[5m])) by (backend, outcome)`,
		`portcullis_plugin_up == 0`,
		`rate(portcullis_http_request_duration_seconds_sum[5m]) / rate(portcullis_http_request_duration_seconds_count[5m])`,
		`portcullis_outbox_depth > 3 and on (instance) portcullis_outbox_oldest_age_seconds > 300`,
		`go_gc_duration_seconds{quantile="0.5"}`,
		`increase(portcullis_lockouts_total[1d] offset 5m) / 288`,
	} {
		if problems := checkExpr(expr); len(problems) > 0 {
			t.Errorf("%s: %v", expr, problems)
		}
	}
}

func TestCheckExprRejects(t *testing.T) {
	for expr, want := range map[string]string{
		`rate(portcullis_login_total[5m])`:                                                                     "portcullis_login_total is not a metric",
		`rate(portcullis_login_duration_seconds[5m])`:                                                          "portcullis_login_duration_seconds is not a metric",
		`rate(portcullis_logins_total_bucket[5m])`:                                                             "portcullis_logins_total_bucket is not a metric",
		`rate(portcullis_logins_total{reason="x"}[5m])`:                                                        `portcullis_logins_total has no label "reason"`,
		`sum by (reason) (rate(portcullis_logins_total[5m]))`:                                                  `by (reason): portcullis_logins_total has no label "reason"`,
		`sum(rate(portcullis_logins_total[5m])) by (le)`:                                                       `by (le): portcullis_logins_total has no label "le"`,
		`histogram_quantile(0.9, sum by (le, backend) (rate(portcullis_login_duration_seconds_bucket[5m])))`:   `has no label "backend"`,
		`sum by (backend) (rate(portcullis_lockouts_total[5m]) + rate(portcullis_connections_shed_total[5m]))`: `portcullis_connections_shed_total has no label "backend"`,
		`portcullis_outbox_depth > on (subscriber) portcullis_outbox_dead_letters`:                             `no series in the expression has label "subscriber"`,
		`{__name__="portcullis_outbox_depth"}`:                                                                 "without a metric name",
		`up == 0`:                                                                                              "up is not a metric",
		`sum(rate(portcullis_logins_total[5m])`:                                                                "unclosed",
	} {
		problems := checkExpr(expr)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("%s: problems %q, want one with %q", expr, problems, want)
		}
	}
}
