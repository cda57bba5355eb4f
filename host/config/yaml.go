package config

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// reader reads a YAML document into a configuration struct through the
// check every JSON input goes through (strictjson.Check): the document is
// turned into JSON with YAML's typing, ${NAME} expanded and aliases and
// merge keys followed, the check judges it against the struct, and what it
// accepts is decoded. Every problem is collected with its path.
type reader struct {
	lookup   func(string) (string, bool)
	problems []Problem
	// scalars are the scalars' values as JSON, made on first use.
	scalars map[*yaml.Node]json.RawMessage
	// unusable are the scalars whose ${NAME} could not be expanded (or
	// whose explicit tag does not fit them). Their problem is reported
	// once, and they are left out wherever they appear: their text is not
	// the value meant, a default may stand in for them, and checking them
	// would only add a follow-on problem at the same place.
	unusable map[*yaml.Node]bool
	// skipped are the paths of the values left out; see withoutSkipped.
	skipped []string
	// open are the anchored values being built: an alias of one of them
	// is inside the value it names.
	open map[*yaml.Node]bool
	// built counts the values built and aliased those built through an
	// alias, to refuse a document whose aliases expand it without bound.
	built, aliased int
	stop           bool
	// secrets are the environment's values put in the document.
	secrets secrets
}

func newReader(lookup func(string) (string, bool)) *reader {
	return &reader{lookup: lookup, scalars: map[*yaml.Node]json.RawMessage{},
		unusable: map[*yaml.Node]bool{}, open: map[*yaml.Node]bool{}}
}

func (r *reader) fail(path, format string, args ...any) {
	r.problems = append(r.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// value is a YAML value ready to be written as JSON: a scalar (its node),
// a mapping (its keys, in order and repeats kept, name its items) or a
// list (an item left out is nil).
type value struct {
	node    *yaml.Node
	mapping bool
	keys    []string
	items   []*value
	// asText writes a scalar as its text; drop leaves the value out (null
	// in a list). The check's problems set them.
	asText, drop bool
}

// read decodes the YAML document raw into v, a pointer to a struct. It
// reports false when the document cannot be read at all.
func (r *reader) read(raw []byte, v any) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		r.fail("", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return false
	}
	if len(doc.Content) == 0 {
		return true
	}
	root := r.build(doc.Content[0], "", false)
	if r.stop {
		return false
	}
	t := reflect.TypeOf(v).Elem()
	js, at := r.write(root)
	problems := strictjson.Check(js, t)
	// A plain scalar that YAML reads as a number or a boolean is taken as
	// written where text is wanted (a string, a duration): `data_dir:
	// 2024`, `timeout: 30` (which then says it is not a duration).
	again := false
	for _, p := range problems {
		if s := at[p.Offset]; p.Kind == strictjson.WrongType && s != nil && s.node != nil && wantsText(p.Type) {
			s.asText, again = true, true
		}
	}
	if again {
		js, at = r.write(root)
		problems = strictjson.Check(js, t)
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return cmp.Compare(a.Offset, b.Offset) })
	for _, p := range problems {
		if p.Kind == strictjson.Syntax { // only nesting deeper than the check follows
			r.fail("", "values are nested too deeply")
			return false
		}
		if s := at[p.Offset]; s != nil {
			s.drop = true // decoded, it would not be what was meant
		}
		r.problems = append(r.problems, p)
	}
	js, _ = r.write(root)
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // free-form values keep their numbers exactly
	if err := dec.Decode(v); err != nil {
		r.fail("", "%v", err) // unreachable: the check has seen to it
	}
	return true
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// wantsText reports whether a value of type t is written as a string.
func wantsText(t reflect.Type) bool {
	return t.Kind() == reflect.String || reflect.PointerTo(t).Implements(textUnmarshaler)
}

// write writes v as JSON, returning it with the value that begins at each
// offset (at a key, its member's value).
func (r *reader) write(v *value) ([]byte, map[int64]*value) {
	var b bytes.Buffer
	at := map[int64]*value{}
	var w func(v *value)
	w = func(v *value) {
		at[int64(b.Len())] = v
		switch {
		case v == nil || v.drop:
			b.WriteString("null")
		case v.asText:
			text, _ := json.Marshal(v.node.Value)
			b.Write(text)
		case v.node != nil:
			b.Write(r.scalars[v.node])
		default:
			open, n := "[]", 0
			if v.mapping {
				open = "{}"
			}
			b.WriteByte(open[0])
			for i, item := range v.items {
				if v.mapping && item.drop {
					continue
				}
				if n++; n > 1 {
					b.WriteByte(',')
				}
				if v.mapping {
					at[int64(b.Len())] = item
					key, _ := json.Marshal(v.keys[i])
					b.Write(append(key, ':'))
				}
				w(item)
			}
			b.WriteByte(open[1])
		}
	}
	w(v)
	return b.Bytes(), at
}

// build makes the value of n at path, following aliases and merge keys;
// nil leaves it out.
func (r *reader) build(n *yaml.Node, path string, aliased bool) *value {
	if n.Kind == yaml.AliasNode {
		if r.open[n.Alias] {
			r.fail(path, "the alias *%s is inside the value it names", n.Value)
			return nil
		}
		n, aliased = n.Alias, true
	}
	if n.Kind == yaml.ScalarNode && !r.typed(n, path) {
		r.skipped = append(r.skipped, path)
		return nil
	}
	if r.built++; aliased {
		r.aliased++
	}
	if !r.stop && excessiveAliasing(r.built, r.aliased) {
		r.fail(path, "aliases expand the document too far")
		r.stop = true
	}
	if r.stop {
		return nil
	}
	if n.Anchor != "" {
		r.open[n] = true
		defer delete(r.open, n)
	}
	v := &value{mapping: n.Kind == yaml.MappingNode}
	switch n.Kind {
	case yaml.MappingNode:
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if key, item := n.Content[i], n.Content[i+1]; key.Tag == "!!merge" {
				merges = append(merges, item)
			} else {
				v.add(key.Value, r.build(item, join(path, key.Value), aliased))
			}
		}
		for _, m := range merges {
			r.merge(v, m, path, aliased)
		}
	case yaml.SequenceNode:
		v.items = make([]*value, len(n.Content))
		for i, item := range n.Content {
			v.items[i] = r.build(item, fmt.Sprintf("%s[%d]", path, i), aliased)
		}
	default:
		v.node = n
	}
	return v
}

// add adds a member to a mapping, unless it is left out.
func (v *value) add(key string, item *value) {
	if item != nil {
		v.keys = append(v.keys, key)
		v.items = append(v.items, item)
	}
}

// merge adds to mapping v, at path, the members of the mapping (or list of
// mappings) m that a merge key (<<) names, as YAML merges them: the keys v
// has win, then the first mapping that has a key.
func (r *reader) merge(v *value, m *yaml.Node, path string, aliased bool) {
	sources := []*yaml.Node{m}
	if s := m; s.Kind == yaml.SequenceNode || s.Kind == yaml.AliasNode && s.Alias.Kind == yaml.SequenceNode {
		if s.Kind == yaml.AliasNode {
			s, aliased = s.Alias, true
		}
		sources = s.Content
	}
	have := map[string]bool{}
	for _, k := range v.keys {
		have[k] = true
	}
	for _, s := range sources {
		src := r.build(s, path, aliased)
		if src == nil {
			continue
		}
		if !src.mapping {
			r.fail(join(path, "<<"), "must be a mapping, or a list of mappings, to merge")
			continue
		}
		for i, k := range src.keys {
			if !have[k] {
				have[k] = true
				v.add(k, src.items[i])
			}
		}
	}
}

// excessiveAliasing is yaml.v3's bound on aliases ("billion laughs"):
// past 1000 values and 100 through aliases, at most 99% of the values may
// come through aliases, falling to 10% between 400,000 and 4,000,000.
func excessiveAliasing(built, aliased int) bool {
	if aliased <= 100 || built <= 1000 {
		return false
	}
	allowed := 0.99 - 0.89*float64(min(max(built-400_000, 0), 3_600_000))/3_600_000
	return float64(aliased)/float64(built) > allowed
}

// typed expands ${NAME} in scalar n, at path, and makes its JSON, the first
// time it is used; it reports whether n can be used.
func (r *reader) typed(n *yaml.Node, path string) bool {
	if _, done := r.scalars[n]; done || r.unusable[n] {
		return !r.unusable[n]
	}
	err := r.expand(n)
	var v any
	if err == nil {
		err = n.Decode(&v) // a tag that does not fit: !!int x
	}
	if err != nil {
		r.fail(path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		r.unusable[n] = true
		return false
	}
	js, err := json.Marshal(v)
	if err != nil { // .inf and .nan are no JSON number: their text stands
		js, _ = json.Marshal(n.Value)
	}
	r.scalars[n] = js
	return true
}

// expand replaces ${NAME} in a scalar with the environment variable's value;
// "$${" stays a literal "${". A plain scalar is typed again, as if its new
// text had been written, so that ${PORT} can fill a number.
func (r *reader) expand(n *yaml.Node) error {
	if !strings.Contains(n.Value, "${") {
		return nil
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
			return errors.New("unterminated ${ in value")
		}
		name := s[i+2 : i+end]
		val, ok := r.lookup(name)
		if !ok {
			return fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(s[:i] + val)
		r.secrets.add(name, val)
		s = s[i+end+1:]
	}
	n.Value = b.String()
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		n.Tag = "!!str"
		var resolved yaml.Node
		if err := yaml.Unmarshal([]byte(n.Value), &resolved); err == nil && len(resolved.Content) == 1 && resolved.Content[0].Kind == yaml.ScalarNode {
			n.Tag = resolved.Content[0].Tag
		}
	}
	return nil
}

// withoutSkipped drops the problems found later (by validation or a
// plugin's configuration check) at or under a value left out because its
// ${NAME} could not be expanded: the environment problem already stands
// for them.
func (r *reader) withoutSkipped(ps []Problem) []Problem {
	return slices.DeleteFunc(slices.Clone(ps), func(p Problem) bool {
		return slices.ContainsFunc(r.skipped, func(s string) bool { return within(p.Path, s) })
	})
}

// within reports whether path is at or under the value at parent.
func within(path, parent string) bool {
	rest, ok := strings.CutPrefix(path, parent)
	return ok && (parent == "" || rest == "" || rest[0] == '.' || rest[0] == '[')
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
