package config

import (
	"reflect"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// sample has a field of every kind the decoder handles, including those the
// configuration file does not use yet.
type sample struct {
	Bool     bool                    `yaml:"bool"`
	Int      int                     `yaml:"int"`
	Int8     int8                    `yaml:"int8"`
	Uint16   uint16                  `yaml:"uint16"`
	Float    float64                 `yaml:"float"`
	String   string                  `yaml:"string"`
	List     []string                `yaml:"list"`
	Map      map[string]int          `yaml:"map"`
	Dur      Duration                `yaml:"dur"`
	Any      any                     `yaml:"any"`
	Nested   sampleNested            `yaml:"nested"`
	Items    []sampleNested          `yaml:"items"`
	ByName   map[string]sampleNested `yaml:"by_name"`
	Skipped  string                  `yaml:"-"`
	Untagged string
}

type sampleNested struct {
	N int `yaml:"n"`
}

// decodeSample decodes raw into a sample, expanding ${NAME} from vars.
func decodeSample(t *testing.T, raw string, vars map[string]string) (sample, []Problem) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	var s sample
	d := &decoder{}
	d.expandEnv(&doc, "", (&env{vars: vars}).lookup)
	d.decode(doc.Content[0], reflect.ValueOf(&s).Elem(), "")
	return s, d.problems
}

func TestDecodeScalars(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		vars  map[string]string
		want  sample
		wants []want
	}{
		{"bool true", "bool: true", nil, sample{Bool: true}, nil},
		{"bool false", "bool: false", nil, sample{}, nil},
		{"bool given yes", "bool: yes", nil, sample{}, []want{{"bool", `must be true or false, not "yes"`}}},
		{"bool given a quoted true", `bool: "true"`, nil, sample{}, []want{{"bool", "must be true or false"}}},
		{"bool given 1", "bool: 1", nil, sample{}, []want{{"bool", "must be true or false"}}},
		{"bool given a list", "bool: [true]", nil, sample{}, []want{{"bool", "must be true or false"}}},
		{"bool from env", "bool: ${B}", map[string]string{"B": "true"}, sample{Bool: true}, nil},
		{"bool from quoted env", "bool: '${B}'", map[string]string{"B": "true"}, sample{}, []want{{"bool", "must be true or false"}}},

		{"int", "int: -42", nil, sample{Int: -42}, nil},
		{"int given a word", "int: many", nil, sample{}, []want{{"int", `must be a whole number, not "many"`}}},
		{"int given a fraction", "int: 1.5", nil, sample{}, []want{{"int", "must be a whole number"}}},
		{"int given a mapping", "int: {a: 1}", nil, sample{}, []want{{"int", "must be a whole number"}}},
		{"int given a list", "int: [1]", nil, sample{}, []want{{"int", "must be a whole number"}}},
		{"int8 overflow", "int8: 128", nil, sample{}, []want{{"int8", `must be a whole number, not "128"`}}},
		{"int8 bound", "int8: -128", nil, sample{Int8: -128}, nil},
		{"int from env", "int: ${PORT}", map[string]string{"PORT": "8080"}, sample{Int: 8080}, nil},

		{"uint16", "uint16: 65535", nil, sample{Uint16: 65535}, nil},
		{"uint16 overflow", "uint16: 65536", nil, sample{}, []want{{"uint16", "must be a non-negative whole number"}}},
		{"uint16 negative", "uint16: -1", nil, sample{}, []want{{"uint16", `must be a non-negative whole number, not "-1"`}}},

		{"float", "float: 2.5", nil, sample{Float: 2.5}, nil},
		{"float given a word", "float: fast", nil, sample{}, []want{{"float", "must be a number"}}},
		{"float given NaN", "float: NaN", nil, sample{}, []want{{"float", "must be a number"}}},
		{"float given a list", "float: [1.0]", nil, sample{}, []want{{"float", "must be a number"}}},

		{"string", "string: hello", nil, sample{String: "hello"}, nil},
		{"string given a number keeps its text", "string: 0123", nil, sample{String: "0123"}, nil},
		{"string given a list", "string: [a]", nil, sample{}, []want{{"string", "must be a string, not a list"}}},
		{"string given a mapping", "string: {a: b}", nil, sample{}, []want{{"string", "must be a string, not a mapping"}}},

		{"list", "list: [a, b]", nil, sample{List: []string{"a", "b"}}, nil},
		{"empty list is not nil", "list: []", nil, sample{List: []string{}}, nil},
		{"list given a scalar", "list: a", nil, sample{}, []want{{"list", `must be a list, not a value "a"`}}},
		{"list items", "list: [a, [b], {c: d}]", nil, sample{List: []string{"a", "", ""}}, []want{
			{"list[1]", "must be a string, not a list"},
			{"list[2]", "must be a string, not a mapping"},
		}},

		{"map", "map: {a: 1, b: 2}", nil, sample{Map: map[string]int{"a": 1, "b": 2}}, nil},
		{"map given a list", "map: [1]", nil, sample{}, []want{{"map", "must be a mapping, not a list"}}},
		{"map values", "map: {a: x, b: 2}", nil, sample{Map: map[string]int{"a": 0, "b": 2}}, []want{{"map.a", "must be a whole number"}}},

		{"duration", "dur: 1m30s", nil, sample{Dur: Duration(90 * time.Second)}, nil},
		{"duration given a mapping", "dur: {s: 1}", nil, sample{}, []want{{"dur", "must be a single value, not a mapping"}}},
		{"duration without unit", "dur: 30", nil, sample{}, []want{{"dur", `must be a duration such as 30s, 15m or 1h, not "30"`}}},

		{"any", "any: {a: [1, two]}", nil, sample{Any: map[string]any{"a": []any{1, "two"}}}, nil},

		{"nested", "nested: {n: 1}", nil, sample{Nested: sampleNested{N: 1}}, nil},
		{"nested unknown", "nested: {n: 1, m: 2}", nil, sample{Nested: sampleNested{N: 1}}, []want{{"nested.m", "unknown key (known: n)"}}},
		{"nested in a list", "items: [{n: 1}, {n: x, o: 1}]", nil, sample{Items: []sampleNested{{N: 1}, {}}}, []want{
			{"items[1].n", "must be a whole number"},
			{"items[1].o", "unknown key"},
		}},
		{"nested in a map", "by_name: {a: {n: 1}, b: {z: 1}}", nil, sample{ByName: map[string]sampleNested{"a": {N: 1}, "b": {}}}, []want{
			{"by_name.b.z", "unknown key"},
		}},
		{"dash-tagged and untagged fields are not keys", "Skipped: x\nUntagged: y", nil, sample{}, []want{
			{"Skipped", "unknown key"},
			{"Untagged", "unknown key"},
		}},
		{"null leaves the zero value", "int: null\nstring: ~\nlist:", nil, sample{}, nil},
		{"alias", "string: &s hello\nnested: {n: 1}\nlist: [*s]", nil, sample{String: "hello", Nested: sampleNested{N: 1}, List: []string{"hello"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := decodeSample(t, tt.raw, tt.vars)
			checkProblems(t, problems, tt.wants)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeDuplicateMapKeys(t *testing.T) {
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
		{"the repeat is not decoded", "map: {a: 1, a: x}", sample{Map: map[string]int{"a": 1}}, []want{{"map.a", "given twice"}}},
		{"same key in different maps is fine", "map: {a: 1}\nby_name: {a: {n: 1}}", sample{Map: map[string]int{"a": 1}, ByName: map[string]sampleNested{"a": {N: 1}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := decodeSample(t, tt.raw, nil)
			checkProblems(t, problems, tt.wants)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDecodeSkipsUnexpandedValues checks that a value whose ${NAME} could
// not be expanded is reported once and left undecoded, wherever it is.
func TestDecodeSkipsUnexpandedValues(t *testing.T) {
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
			sample{Any: map[string]any{"a": map[string]any{"c": 1}, "l": []any{1, nil, 3}, "k": "ok"}},
			[]want{{"any.a.b", "X is not set"}, {"any.l[1]", "Y is not set"}}, []string{"any.a.b", "any.l[1]"}},
		{"free-form value that is itself unexpanded", "any: ${X}\n", sample{}, []want{{"any", "X is not set"}}, []string{"any"}},
		{"an alias of an unexpanded value", "string: &s '${X}'\nlist: [*s, b]\n", sample{List: []string{"", "b"}},
			[]want{{"string", "X is not set"}}, []string{"string", "list[0]"}},
		{"an alias of a free-form anchor holding an unexpanded value", "nested: {n: 1}\nany:\n  a: &a {b: '${X}', c: 1}\n  d: *a\n",
			sample{Nested: sampleNested{N: 1}, Any: map[string]any{"a": map[string]any{"c": 1}, "d": map[string]any{"c": 1}}},
			[]want{{"any.a.b", "X is not set"}}, []string{"any.a.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.raw), &doc); err != nil {
				t.Fatalf("yaml: %v", err)
			}
			var got sample
			d := &decoder{}
			d.expandEnv(&doc, "", (&env{}).lookup)
			d.decode(doc.Content[0], reflect.ValueOf(&got).Elem(), "")
			checkProblems(t, d.problems, tt.wants)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(d.skipped, tt.skipped) {
				t.Errorf("skipped %q, want %q", d.skipped, tt.skipped)
			}
		})
	}
}

func TestWithoutSkipped(t *testing.T) {
	d := &decoder{skipped: []string{"listen", "backends[0].config.a", "list[1]"}}
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
	for _, p := range d.withoutSkipped(ps) {
		if p.Message != "kept" {
			t.Errorf("%s was not dropped", p)
		}
	}
	if n := len(d.withoutSkipped(ps)); n != 5 {
		t.Errorf("kept %d problems, want 5", n)
	}
}
