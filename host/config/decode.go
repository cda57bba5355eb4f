package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder turns a YAML node tree into Go values strictly, collecting every
// problem with its path instead of stopping at the first.
type decoder struct {
	problems []Problem
	// unexpanded are the scalars whose ${NAME} expansion failed. Their
	// problem is already reported, so they are not decoded: their text is
	// not the value meant, and checking it would only add a follow-on
	// problem at the same place.
	unexpanded map[*yaml.Node]bool
	// skipped are the paths of the values left undecoded for that reason;
	// see withoutSkipped.
	skipped []string
}

// skip reports whether n (an alias is followed) is a value whose expansion
// failed, recording path as skipped if so.
func (d *decoder) skip(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if !d.unexpanded[n] {
		return false
	}
	d.skipped = append(d.skipped, path)
	return true
}

// withoutSkipped drops the problems found later (by validation or a
// plugin's configuration check) at or under a value left undecoded because
// its ${NAME} could not be expanded: the environment problem already
// stands for them.
func (d *decoder) withoutSkipped(ps []Problem) []Problem {
	if len(d.skipped) == 0 {
		return ps
	}
	var out []Problem
	for _, p := range ps {
		if !slices.ContainsFunc(d.skipped, func(s string) bool { return within(p.Path, s) }) {
			out = append(out, p)
		}
	}
	return out
}

// within reports whether path is at or under the value at parent.
func within(path, parent string) bool {
	if parent == "" || path == parent {
		return true
	}
	rest, ok := strings.CutPrefix(path, parent)
	return ok && (rest[0] == '.' || rest[0] == '[')
}

func (d *decoder) fail(path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.skip(n, path) {
		return // leave the zero value, as for null
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // leave the zero value; validation decides if it was needed
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			d.fail(path, "must be a single value, not a %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, "must be a list, not a %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Interface:
		var out any
		if err := d.pruned(n, path).Decode(&out); err != nil {
			d.fail(path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(normalize(out)))
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, "must be a string, not a %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.fail(path, "must be true or false, not %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil || v.OverflowInt(i) {
			d.fail(path, "must be a whole number, not %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil || v.OverflowUint(u) {
			d.fail(path, "must be a non-negative whole number, not %q", n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil || math.IsNaN(f) {
			d.fail(path, "must be a number, not %q", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.fail(path, "cannot hold a %s", v.Kind())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "must be a mapping, not a %s", kindName(n))
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		sub := join(path, key)
		idx, ok := fields[key]
		switch {
		case !ok:
			d.fail(sub, "unknown key (known: %s)", strings.Join(names, ", "))
			continue
		case seen[key]:
			d.fail(sub, "given twice")
			continue
		}
		seen[key] = true
		d.decode(val, v.Field(idx), sub)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "must be a mapping, not a %s", kindName(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(path, "map keys must be strings")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if seen[key] {
			// As for a struct's keys: the first value stands and the
			// repeat is a problem, never a silent override.
			d.fail(join(path, key), "given twice")
			continue
		}
		seen[key] = true
		if d.skip(n.Content[i+1], join(path, key)) {
			continue // absent rather than a zero value
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(n.Content[i+1], elem, join(path, key))
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// pruned returns n, or when values under it could not be expanded, a copy
// without them: a mapping loses the key, a list keeps a null in its place
// so that the indexes of the other items stay as written.
func (d *decoder) pruned(n *yaml.Node, path string) *yaml.Node {
	if len(d.unexpanded) == 0 {
		return n
	}
	return d.prune(n, path, map[*yaml.Node]*yaml.Node{})
}

// prune is pruned with done holding the copies made so far. An alias stays
// an alias (of the copy of its anchor), so that yaml.v3 still bounds how
// far aliases may expand, and each anchor is copied once.
func (d *decoder) prune(n *yaml.Node, path string, done map[*yaml.Node]*yaml.Node) *yaml.Node {
	if c, ok := done[n]; ok {
		return c
	}
	done[n] = n // until a copy proves needed; also stops a cycle
	switch n.Kind {
	case yaml.AliasNode:
		if target := d.prune(n.Alias, path, done); target != n.Alias {
			c := *n
			c.Alias = target
			done[n] = &c
		}
	case yaml.MappingNode, yaml.SequenceNode:
		var content []*yaml.Node
		for i, item := range n.Content {
			sub := fmt.Sprintf("%s[%d]", path, i)
			if n.Kind == yaml.MappingNode {
				if i%2 == 0 {
					continue // keys are never expanded
				}
				sub = join(path, n.Content[i-1].Value)
			}
			p := item
			if d.skip(item, sub) {
				p = nil
			} else {
				p = d.prune(item, sub, done)
			}
			if p == item && content == nil {
				continue
			}
			if content == nil {
				content = slices.Clone(n.Content[:i:i])
				if n.Kind == yaml.MappingNode {
					content = content[:i-1]
				}
			}
			switch {
			case p != nil && n.Kind == yaml.MappingNode:
				content = append(content, n.Content[i-1], p)
			case p != nil:
				content = append(content, p)
			case n.Kind == yaml.SequenceNode:
				content = append(content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"})
			}
		}
		if content != nil {
			c := *n
			c.Content = content
			done[n] = &c
		}
	}
	return done[n]
}

// normalize turns yaml.v3's generic values into JSON-encodable ones.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	}
	return v
}

// expandEnv replaces ${NAME} in every scalar value (never in keys) with the
// environment variable's value; "$${" stays a literal "${". A variable that
// is not set is a problem.
func (d *decoder) expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.expandEnv(c, path, lookup)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expandEnv(n.Content[i+1], join(path, n.Content[i].Value), lookup)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expandEnv(c, fmt.Sprintf("%s[%d]", path, i), lookup)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		var b strings.Builder
		s := n.Value
		for {
			i := strings.Index(s, "${")
			if i < 0 {
				b.WriteString(s)
				break
			}
			if i > 0 && s[i-1] == '$' {
				b.WriteString(s[:i-1] + "${")
				s = s[i+2:]
				continue
			}
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				d.failExpansion(n, path, "unterminated ${ in value")
				return
			}
			name := s[i+2 : i+end]
			val, ok := lookup(name)
			if !ok {
				d.failExpansion(n, path, "environment variable %s is not set", name)
				return
			}
			b.WriteString(s[:i] + val)
			s = s[i+end+1:]
		}
		n.Value = b.String()
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			// Re-resolve a plain scalar so that ${PORT} can fill a number.
			n.Tag = ""
			var resolved yaml.Node
			if err := yaml.Unmarshal([]byte(n.Value), &resolved); err == nil && len(resolved.Content) == 1 && resolved.Content[0].Kind == yaml.ScalarNode {
				n.Tag = resolved.Content[0].Tag
			} else {
				n.Tag = "!!str"
			}
		}
	}
}

// failExpansion reports that n's ${NAME} could not be expanded and marks n
// so that it is not decoded.
func (d *decoder) failExpansion(n *yaml.Node, path, format string, args ...any) {
	d.fail(path, format, args...)
	if d.unexpanded == nil {
		d.unexpanded = map[*yaml.Node]bool{}
	}
	d.unexpanded[n] = true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("value %q", n.Value)
	}
	return "node"
}
