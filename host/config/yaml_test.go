package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sample has a field of every kind the reader handles, including those the
// configuration file does not use yet.
type sample struct {
	Bool    bool                    `json:"bool"`
	Int     int                     `json:"int"`
	Int8    int8                    `json:"int8"`
	Uint16  uint16                  `json:"uint16"`
	Float   float64                 `json:"float"`
	String  string                  `json:"string"`
	List    []string                `json:"list"`
	Map     map[string]int          `json:"map"`
	Dur     Duration                `json:"dur"`
	Any     any                     `json:"any"`
	Nested  sampleNested            `json:"nested"`
	Items   []sampleNested          `json:"items"`
	ByName  map[string]sampleNested `json:"by_name"`
	Skipped string                  `json:"-"`
}

type sampleNested struct {
	N int `json:"n"`
	M int `json:"m"`
}

// readSample reads raw into a sample, expanding ${NAME} from vars.
func readSample(t *testing.T, raw string, vars map[string]string) (sample, *reader) {
	t.Helper()
	var s sample
	r := newReader((&env{vars: vars}).lookup)
	if !r.read([]byte(raw), &s) {
		t.Fatalf("read(%q) gave up: %v", raw, r.problems)
	}
	return s, r
}

// n is a number as a free-form value holds it.
func n(s string) json.Number { return json.Number(s) }

func TestReadScalars(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		vars  map[string]string
		want  sample
		wants []want
	}{
		{"bool true", "bool: true", nil, sample{Bool: true}, nil},
		{"bool false", "bool: false", nil, sample{}, nil},
		{"bool True", "bool: True", nil, sample{Bool: true}, nil},
		// YAML 1.2 as yaml.v3 reads it: yes, on, y are strings.
		{"bool given yes", "bool: yes", nil, sample{}, []want{{"bool", "must be true or false, not a string"}}},
		{"bool given on", "bool: on", nil, sample{}, []want{{"bool", "must be true or false, not a string"}}},
		{"bool given a quoted true", `bool: "true"`, nil, sample{}, []want{{"bool", "must be true or false, not a string"}}},
		{"bool given 1", "bool: 1", nil, sample{}, []want{{"bool", "must be true or false, not a number"}}},
		{"bool given a list", "bool: [true]", nil, sample{}, []want{{"bool", "must be true or false, not a list"}}},
		{"bool from env", "bool: ${B}", map[string]string{"B": "true"}, sample{Bool: true}, nil},
		{"bool from quoted env", "bool: '${B}'", map[string]string{"B": "true"}, sample{}, []want{{"bool", "must be true or false"}}},

		{"int", "int: -42", nil, sample{Int: -42}, nil},
		{"int given a word", "int: many", nil, sample{}, []want{{"int", "must be a whole number, not a string"}}},
		{"int given a quoted number", `int: "5"`, nil, sample{}, []want{{"int", "must be a whole number, not a string"}}},
		{"int given a fraction", "int: 1.5", nil, sample{}, []want{{"int", "must be a whole number, not number 1.5"}}},
		{"int given a mapping", "int: {a: 1}", nil, sample{}, []want{{"int", "must be a whole number, not a mapping"}}},
		{"int given a list", "int: [1]", nil, sample{}, []want{{"int", "must be a whole number, not a list"}}},
		{"int in hex", "int: 0x10", nil, sample{Int: 16}, nil},
		{"int in octal", "int: 0o17", nil, sample{Int: 15}, nil},
		{"int with a leading zero is octal, as yaml.v3 reads YAML 1.1", "int: 010", nil, sample{Int: 8}, nil},
		{"int with underscores", "int: 1_000", nil, sample{Int: 1000}, nil},
		{"int given a whole float", "int: 1e3", nil, sample{Int: 1000}, nil},
		{"int given infinity", "int: .inf", nil, sample{}, []want{{"int", "must be a whole number, not a string"}}},
		{"int8 overflow", "int8: 128", nil, sample{}, []want{{"int8", "must be a whole number from -128 to 127, not 128"}}},
		{"int8 bound", "int8: -128", nil, sample{Int8: -128}, nil},
		{"int from env", "int: ${PORT}", map[string]string{"PORT": "8080"}, sample{Int: 8080}, nil},
		{"int from env in hex", "int: ${N}", map[string]string{"N": "0x10"}, sample{Int: 16}, nil},

		{"uint16", "uint16: 65535", nil, sample{Uint16: 65535}, nil},
		{"uint16 overflow", "uint16: 65536", nil, sample{}, []want{{"uint16", "must be a whole number from 0 to 65535, not 65536"}}},
		{"uint16 negative", "uint16: -1", nil, sample{}, []want{{"uint16", "must be a whole number from 0 to 65535, not -1"}}},

		{"float", "float: 2.5", nil, sample{Float: 2.5}, nil},
		{"float with an exponent", "float: 1e3", nil, sample{Float: 1000}, nil},
		{"float without a leading digit", "float: .5", nil, sample{Float: 0.5}, nil},
		{"float given a whole number", "float: 3", nil, sample{Float: 3}, nil},
		{"float given a word", "float: fast", nil, sample{}, []want{{"float", "must be a number, not a string"}}},
		{"float given NaN", "float: NaN", nil, sample{}, []want{{"float", "must be a number"}}},
		{"float given .nan", "float: .nan", nil, sample{}, []want{{"float", "must be a number"}}},
		{"float given .inf", "float: -.inf", nil, sample{}, []want{{"float", "must be a number"}}},
		{"float given a list", "float: [1.0]", nil, sample{}, []want{{"float", "must be a number, not a list"}}},

		{"string", "string: hello", nil, sample{String: "hello"}, nil},
		{"string given a number keeps its text", "string: 0123", nil, sample{String: "0123"}, nil},
		{"string given a float keeps its text", "string: 1e3", nil, sample{String: "1e3"}, nil},
		{"string given a bool keeps its text", "string: True", nil, sample{String: "True"}, nil},
		{"string given .inf keeps its text", "string: .inf", nil, sample{String: ".inf"}, nil},
		{"string given on", "string: on", nil, sample{String: "on"}, nil},
		{"string given a quoted number", "string: '0123'", nil, sample{String: "0123"}, nil},
		{"string from env holding digits", "string: ${S}", map[string]string{"S": "0123"}, sample{String: "0123"}, nil},
		{"an alias of an expanded value is expanded once", "string: &s ${S}\nlist: [*s]", map[string]string{"S": "${S}"}, sample{String: "${S}", List: []string{"${S}"}}, nil},
		{"string given a list", "string: [a]", nil, sample{}, []want{{"string", "must be a string, not a list"}}},
		{"string given a mapping", "string: {a: b}", nil, sample{}, []want{{"string", "must be a string, not a mapping"}}},

		{"list", "list: [a, b]", nil, sample{List: []string{"a", "b"}}, nil},
		{"empty list is not nil", "list: []", nil, sample{List: []string{}}, nil},
		{"list of numbers keeps their text", "list: [1, 0x2]", nil, sample{List: []string{"1", "0x2"}}, nil},
		{"list given a scalar", "list: a", nil, sample{}, []want{{"list", "must be a list, not a string"}}},
		{"list items", "list: [a, [b], {c: d}]", nil, sample{List: []string{"a", "", ""}}, []want{
			{"list[1]", "must be a string, not a list"},
			{"list[2]", "must be a string, not a mapping"},
		}},

		{"map", "map: {a: 1, b: 2}", nil, sample{Map: map[string]int{"a": 1, "b": 2}}, nil},
		{"map given a list", "map: [1]", nil, sample{}, []want{{"map", "must be a mapping, not a list"}}},
		{"map values", "map: {a: x, b: 2}", nil, sample{Map: map[string]int{"b": 2}}, []want{{"map.a", "must be a whole number, not a string"}}},
		{"map keys are text", "map: {1: 1, true: 2, ~: 3}", nil, sample{Map: map[string]int{"1": 1, "true": 2, "~": 3}}, nil},

		{"duration", "dur: 1m30s", nil, sample{Dur: Duration(90 * time.Second)}, nil},
		{"duration given a mapping", "dur: {s: 1}", nil, sample{}, []want{{"dur", "must be a string, not a mapping"}}},
		{"duration without unit", "dur: 30", nil, sample{}, []want{{"dur", `must be a duration such as 30s, 15m or 1h, not "30"`}}},
		{"duration given a fraction", "dur: 0.5", nil, sample{}, []want{{"dur", `must be a duration such as 30s, 15m or 1h, not "0.5"`}}},
		{"duration of zero", "dur: 0", nil, sample{}, nil},
		{"duration quoted", `dur: "15m"`, nil, sample{Dur: Duration(15 * time.Minute)}, nil},
		{"duration given a bool", "dur: true", nil, sample{}, []want{{"dur", `not "true"`}}},

		{"any", "any: {a: [1, two, 0x10, 1.5, true, ~, on]}", nil,
			sample{Any: map[string]any{"a": []any{n("1"), "two", n("16"), n("1.5"), true, nil, "on"}}}, nil},
		{"any keeps a big number exactly", "any: 18446744073709551615", nil, sample{Any: n("18446744073709551615")}, nil},
		{"any gets .inf as its text", "any: [.inf, .nan]", nil, sample{Any: []any{".inf", ".nan"}}, nil},
		{"any gets a date as RFC 3339", "any: 2024-01-31", nil, sample{Any: "2024-01-31T00:00:00Z"}, nil},
		{"any keeps a quoted date", "any: '2024-01-31'", nil, sample{Any: "2024-01-31"}, nil},
		{"any gets binary decoded", "any: !!binary aGk=", nil, sample{Any: "hi"}, nil},
		{"an explicit tag that does not fit", "any: !!int x", nil, sample{}, []want{{"any", "cannot decode !!str `x` as a !!int"}}},

		{"nested", "nested: {n: 1}", nil, sample{Nested: sampleNested{N: 1}}, nil},
		{"nested unknown", "nested: {n: 1, o: 2}", nil, sample{Nested: sampleNested{N: 1}}, []want{{"nested.o", "unknown key (known: n, m)"}}},
		{"a key in another case is unknown", "nested: {N: 1}", nil, sample{}, []want{{"nested.N", "unknown key (known: n, m)"}}},
		{"nested in a list", "items: [{n: 1}, {n: x, o: 1}]", nil, sample{Items: []sampleNested{{N: 1}, {}}}, []want{
			{"items[1].n", "must be a whole number"},
			{"items[1].o", "unknown key"},
		}},
		{"nested in a map", "by_name: {a: {n: 1}, b: {z: 1}}", nil, sample{ByName: map[string]sampleNested{"a": {N: 1}, "b": {}}}, []want{
			{"by_name.b.z", "unknown key"},
		}},
		{"dash-tagged fields are not keys", "Skipped: x", nil, sample{}, []want{{"Skipped", "unknown key"}}},
		{"null leaves the zero value", "int: null\nstring: ~\nlist:\nnested: NULL", nil, sample{}, nil},
		{"alias", "string: &s hello\nnested: {n: 1}\nlist: [*s]", nil, sample{String: "hello", Nested: sampleNested{N: 1}, List: []string{"hello"}}, nil},
		{"alias of a mapping", "nested: &n {n: 1}\nitems: [*n, *n]", nil, sample{Nested: sampleNested{N: 1}, Items: []sampleNested{{N: 1}, {N: 1}}}, nil},
		{"a problem through an alias is at each place", "nested: &n {n: x}\nitems: [*n]", nil, sample{Items: []sampleNested{{}}}, []want{
			{"nested.n", "must be a whole number"},
			{"items[0].n", "must be a whole number"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := readSample(t, tt.raw, tt.vars)
			checkProblems(t, r.problems, tt.wants)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReadDuplicateKeys(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		want  sample
		wants []want
	}{
		{"flow mapping", "map: {a: 1, a: 2}", sample{Map: map[string]int{"a": 1}}, []want{{"map.a", "given twice"}}},
		{"block mapping", "map:\n  a: 1\n  b: 2\n  a: 3\n", sample{Map: map[string]int{"a": 1, "b": 2}}, []want{{"map.a", "given twice"}}},
		{"three times", "map: {a: 1, a: 2, a: 3}", sample{Map: map[string]int{"a": 1}}, []want{{"map.a", "given twice"}, {"map.a", "given twice"}}},
		{"in a map of structs", "by_name: {x: {n: 1}, x: {n: 2}}", sample{ByName: map[string]sampleNested{"x": {N: 1}}}, []want{{"by_name.x", "given twice"}}},
		{"in a struct", "nested: {n: 1, n: 2}", sample{Nested: sampleNested{N: 1}}, []want{{"nested.n", "given twice"}}},
		{"in a free-form value", "any: {a: {b: 1, b: 2}}", sample{Any: map[string]any{"a": map[string]any{"b": n("1")}}}, []want{{"any.a.b", "given twice"}}},
		// The first stands; the repeat is checked but not decoded.
		{"the repeat is not decoded", "map: {a: 1, a: x}", sample{Map: map[string]int{"a": 1}}, []want{
			{"map.a", "given twice"},
			{"map.a", "must be a whole number, not a string"},
		}},
		{"same key in different maps is fine", "map: {a: 1}\nby_name: {a: {n: 1}}", sample{Map: map[string]int{"a": 1}, ByName: map[string]sampleNested{"a": {N: 1}}}, nil},
		{"a quoted << is a key", "map: {'<<': 1}", sample{Map: map[string]int{"<<": 1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := readSample(t, tt.raw, nil)
			checkProblems(t, r.problems, tt.wants)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestReadMergeKeys checks merge keys (<<) as yaml.v3 merges them: the
// mapping's own keys win, then the first merged mapping that has the key.
func TestReadMergeKeys(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		want  sample
		wants []want
	}{
		{"into a struct", "items:\n  - &base {n: 1, m: 2}\n  - {<<: *base, m: 3}\n", sample{Items: []sampleNested{{N: 1, M: 2}, {N: 1, M: 3}}}, nil},
		{"own keys win wherever they are", "items: [&b {n: 1, m: 2}, {m: 3, <<: *b}]", sample{Items: []sampleNested{{N: 1, M: 2}, {N: 1, M: 3}}}, nil},
		{"a list of mappings: the first wins", "by_name:\n  a: &a {n: 1}\n  b: &b {n: 2, m: 2}\n  c: {<<: [*a, *b]}\n",
			sample{ByName: map[string]sampleNested{"a": {N: 1}, "b": {N: 2, M: 2}, "c": {N: 1, M: 2}}}, nil},
		{"an alias of a list of mappings", "items: &l [{n: 1}, {m: 2}]\nnested: {<<: *l}\n",
			sample{Items: []sampleNested{{N: 1}, {M: 2}}, Nested: sampleNested{N: 1, M: 2}}, nil},
		{"inline", "nested: {<<: {n: 1}}", sample{Nested: sampleNested{N: 1}}, nil},
		{"into a free-form value", "any: {a: &a {x: 1, y: 2}, b: {<<: *a, y: 3}}",
			sample{Any: map[string]any{"a": map[string]any{"x": n("1"), "y": n("2")}, "b": map[string]any{"y": n("3"), "x": n("1")}}}, nil},
		{"merged keys are checked where they land", "nested: {<<: {n: x, o: 1}}", sample{}, []want{
			{"nested.n", "must be a whole number"},
			{"nested.o", "unknown key"},
		}},
		{"not a mapping", "nested: {<<: 5, n: 1}", sample{Nested: sampleNested{N: 1}}, []want{{"nested.<<", "must be a mapping, or a list of mappings, to merge"}}},
		{"a list holding something else", "nested: {<<: [{n: 1}, 5]}", sample{Nested: sampleNested{N: 1}}, []want{{"nested.<<", "must be a mapping"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := readSample(t, tt.raw, nil)
			checkProblems(t, r.problems, tt.wants)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestReadSkipsUnexpandedValues checks that a value whose ${NAME} could
// not be expanded is reported once and left out, wherever it is.
func TestReadSkipsUnexpandedValues(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    sample
		wants   []want
		skipped []string
	}{
		{"scalars keep their zero value", "int: ${N}\nbool: ${B}\ndur: ${D}\nfloat: '${F}'\nstring: x${S}\n", sample{},
			[]want{{"int", "N is not set"}, {"bool", "B is not set"}, {"dur", "D is not set"}, {"float", "F is not set"}, {"string", "S is not set"}},
			[]string{"int", "bool", "dur", "float", "string"}},
		{"unterminated", "int: 1${N\n", sample{}, []want{{"int", "unterminated ${"}}, []string{"int"}},
		{"a map loses the key", "map: {a: '${X}', b: 2}", sample{Map: map[string]int{"b": 2}},
			[]want{{"map.a", "X is not set"}}, []string{"map.a"}},
		{"a list keeps the place", "list: [a, '${X}', c]", sample{List: []string{"a", "", "c"}},
			[]want{{"list[1]", "X is not set"}}, []string{"list[1]"}},
		{"in a struct in a list", "items: [{n: 1}, {n: '${X}'}]", sample{Items: []sampleNested{{N: 1}, {}}},
			[]want{{"items[1].n", "X is not set"}}, []string{"items[1].n"}},
		{"free-form values lose the key or keep a null", "any:\n  a: {b: '${X}', c: 1}\n  l: [1, '${Y}', 3]\n  k: ok\n",
			sample{Any: map[string]any{"a": map[string]any{"c": n("1")}, "l": []any{n("1"), nil, n("3")}, "k": "ok"}},
			[]want{{"any.a.b", "X is not set"}, {"any.l[1]", "Y is not set"}}, []string{"any.a.b", "any.l[1]"}},
		{"free-form value that is itself unexpanded", "any: ${X}\n", sample{}, []want{{"any", "X is not set"}}, []string{"any"}},
		{"an alias of an unexpanded value", "string: &s '${X}'\nlist: [*s, b]\n", sample{List: []string{"", "b"}},
			[]want{{"string", "X is not set"}}, []string{"string", "list[0]"}},
		{"an alias of a free-form anchor holding an unexpanded value", "nested: {n: 1}\nany:\n  a: &a {b: '${X}', c: 1}\n  d: *a\n",
			sample{Nested: sampleNested{N: 1}, Any: map[string]any{"a": map[string]any{"c": n("1")}, "d": map[string]any{"c": n("1")}}},
			[]want{{"any.a.b", "X is not set"}}, []string{"any.a.b", "any.d.b"}},
		{"a merged unexpanded value", "nested: &n {n: '${X}', m: 1}\nitems: [{<<: *n}]\n", sample{Nested: sampleNested{M: 1}, Items: []sampleNested{{M: 1}}},
			[]want{{"nested.n", "X is not set"}}, []string{"nested.n", "items[0].n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := readSample(t, tt.raw, nil)
			checkProblems(t, r.problems, tt.wants)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %#v, want %#v", got, tt.want)
			}
			if !slices.Equal(r.skipped, tt.skipped) {
				t.Errorf("skipped %q, want %q", r.skipped, tt.skipped)
			}
		})
	}
}

// TestReadRefusesRunawayDocuments checks that no document makes the reader
// loop, recurse or grow without bound.
func TestReadRefusesRunawayDocuments(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		laughs += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	deepList := strings.Repeat("[", 6000) + strings.Repeat("]", 6000)
	tests := []struct {
		name string
		raw  string
		ok   bool // read goes on to check the values
		want []want
	}{
		// Refused as soon as yaml.v3's bound is passed, a few thousand
		// values in.
		{"a billion laughs", "any:\n" + indent(laughs), false, []want{{"any.d[0][3][2][6]", "aliases expand the document too far"}}},
		{"an anchor used by many entries", "a: &a {x: 1, y: [2, 3, 4, 5], z: {p: 6, q: 7}}\nany: [" + strings.Repeat("{name: n, config: *a}, ", 300) + "{}]", true, nil},
		{"an alias inside its own value", "any: &a [1, *a]", true, []want{{"any[1]", "the alias *a is inside the value it names"}}},
		{"a merge of its own mapping", "any: &a {x: 1, <<: *a}", true, []want{{"any", "the alias *a is inside the value it names"}}},
		{"deep, but within the bound", "any: " + deepList, true, nil},
		{"deeper than YAML reads", "any: " + strings.Repeat("[", 10001) + strings.Repeat("]", 10001), false, []want{{"", "exceeded max depth of 10000"}}},
		{"deeper through aliases than the check follows", "a: &a " + deepList + "\nany: [" + strings.Repeat("[", 5000) + "*a" + strings.Repeat("]", 5000) + "]", false,
			[]want{{"", "values are nested too deeply"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				A   any `json:"a"`
				B   any `json:"b"`
				Any any `json:"any"`
			}
			r := newReader((&env{}).lookup)
			if ok := r.read([]byte(tt.raw), &got); ok != tt.ok {
				t.Errorf("read = %v, want %v", ok, tt.ok)
			}
			checkProblems(t, r.problems, tt.want)
		})
	}
}

// indent indents every line of s by two spaces.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// TestReadLargeDocument checks that a large document is read whole, in
// reasonable time, with its problems at their places.
func TestReadLargeDocument(t *testing.T) {
	var b strings.Builder
	b.WriteString("items:\n")
	const items = 100_000
	for i := range items {
		fmt.Fprintf(&b, "  - {n: %d, m: %d}\n", i, i%7)
	}
	b.WriteString("  - {n: x}\n")
	start := time.Now()
	got, r := readSample(t, b.String(), nil)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("reading %d bytes took %v", b.Len(), d)
	}
	checkProblems(t, r.problems, []want{{fmt.Sprintf("items[%d].n", items), "must be a whole number"}})
	if len(got.Items) != items+1 || got.Items[items-1] != (sampleNested{N: items - 1, M: (items - 1) % 7}) {
		t.Errorf("decoded %d items, the last %+v", len(got.Items), got.Items[len(got.Items)-1])
	}
}

func TestWithoutSkipped(t *testing.T) {
	r := &reader{skipped: []string{"listen", "backends[0].config.a", "list[1]"}}
	ps := []Problem{
		{Path: "listen", Message: "dropped"},
		{Path: "listen_other", Message: "kept"},
		{Path: "backends[0].config.a", Message: "dropped"},
		{Path: "backends[0].config.a.b", Message: "dropped"},
		{Path: "backends[0].config.a[2]", Message: "dropped"},
		{Path: "backends[0].config.ab", Message: "kept"},
		{Path: "backends[0].config", Message: "kept"},
		{Path: "list[1]", Message: "dropped"},
		{Path: "list[10]", Message: "kept"},
		{Path: "", Message: "kept"},
	}
	for _, p := range r.withoutSkipped(ps) {
		if p.Message != "kept" {
			t.Errorf("%s was not dropped", p)
		}
	}
	if n := len(r.withoutSkipped(ps)); n != 5 {
		t.Errorf("kept %d problems, want 5", n)
	}
}
