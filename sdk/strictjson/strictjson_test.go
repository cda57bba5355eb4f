package strictjson_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

type client struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

type Common struct {
	Timeout int    `json:"timeout"`
	Hidden  string `json:"-"`
}

// upDown implements json.Unmarshaler: Check leaves it to judge.
type upDown bool

func (u *upDown) UnmarshalJSON(b []byte) error {
	if s := string(b); s != `"up"` && s != `"down"` {
		return fmt.Errorf("must be up or down, not %s", b)
	}
	*u = string(b) == `"up"`
	return nil
}

// body has a field of each kind the tests need.
type body struct {
	Common
	Name     *string            `json:"name"`
	Count    int8               `json:"count"`
	Size     uint16             `json:"size"`
	Ratio    float32            `json:"ratio"`
	On       bool               `json:"on"`
	Labels   map[string]string  `json:"labels"`
	Ports    map[uint8]string   `json:"ports"`
	Tags     []string           `json:"tags"`
	Pair     [2]int             `json:"pair"`
	Bytes    []byte             `json:"bytes"`
	Client   *client            `json:"client"`
	Clients  []client           `json:"clients"`
	Addr     netip.Addr         `json:"addr"`
	Number   json.Number        `json:"number"`
	Duration time.Duration      `json:"duration"`
	Raw      json.RawMessage    `json:"raw"`
	Any      any                `json:"any"`
	Custom   upDown             `json:"custom"`
	Quoted   int                `json:"quoted,string"`
	ByName   map[string]*client `json:"by_name"`
	Untagged string
}

var bodyType = reflect.TypeFor[body]()

// The messages for a key that is none of body's or client's fields: every
// key is listed, in the order the fields are declared, promoted ones last.
const (
	notBody   = "unknown key (known: name, count, size, ratio, on, labels, ports, tags, pair, bytes, client, clients, addr, number, duration, raw, any, custom, quoted, by_name, Untagged, timeout)"
	notClient = "unknown key (known: ip, user_agent)"
)

// brief is the part of a Problem most tests compare.
type brief struct {
	Kind    strictjson.Kind
	Path    string
	Message string
}

func briefs(ps []strictjson.Problem) []brief {
	var out []brief
	for _, p := range ps {
		out = append(out, brief{p.Kind, p.Path, p.Message})
	}
	return out
}

func TestCheck(t *testing.T) {
	const (
		empty     = strictjson.Empty
		syntax    = strictjson.Syntax
		trailing  = strictjson.Trailing
		duplicate = strictjson.Duplicate
		wrongCase = strictjson.WrongCase
		unknown   = strictjson.Unknown
		wrongType = strictjson.WrongType
		invalid   = strictjson.Invalid
	)
	tests := []struct {
		name string
		raw  string
		want []brief
	}{
		// Fine.
		{"every field", `{"timeout": 5, "name": "n", "count": -128, "size": 65535, "ratio": 1.5, "on": true,
			"labels": {"a": "b", "A": "c"}, "ports": {"80": "http"}, "tags": ["x"], "pair": [1, 2], "bytes": "aGk=",
			"client": {"ip": "192.0.2.1"}, "clients": [{"user_agent": "ua"}], "addr": "192.0.2.1", "number": "1e3",
			"duration": 1000, "raw": {"x": [1]}, "any": [null, {"a": 1}], "custom": "sideways", "quoted": "42",
			"by_name": {"x": null}, "Untagged": "u"}`, nil},
		{"null everywhere", `{"name": null, "count": null, "labels": null, "tags": [null], "client": null, "quoted": null}`, nil},
		{"null as the whole value", `null`, nil},
		{"whitespace around", " \t\r\n{} \t\r\n", nil},
		{"bytes as a list", `{"bytes": [0, 255]}`, nil},

		// The input as a whole.
		{"empty", ``, []brief{{empty, "", "unexpected end of JSON input"}}},
		{"blank", " \n\t", []brief{{empty, "", "unexpected end of JSON input"}}},
		{"not JSON", `nope`, []brief{{syntax, "", "invalid character 'o' in literal null (expecting 'u')"}}},
		{"truncated", `{"name": "n", "tags": [`, []brief{{syntax, "", "unexpected end of JSON input"}}},
		{"missing colon", `{"name" "n"}`, []brief{{syntax, "", "invalid character '\"' after object key"}}},
		{"trailing comma", `{"name": "n",}`, []brief{{syntax, "", "invalid character '}' looking for beginning of object key string"}}},
		{"problems before a syntax error", `{"name": 1, "x": [`, []brief{
			{syntax, "", "unexpected end of JSON input"},
			{wrongType, "name", "must be a string, not a number"},
			{unknown, "x", notBody},
		}},
		{"two values", `{} {}`, []brief{{trailing, "", "invalid character '{' after top-level value"}}},
		{"a stray closer", `{"name": "n"}}`, []brief{{trailing, "", "invalid character '}' after top-level value"}}},
		{"trailing data after other problems", `{"x": 1} x`, []brief{
			{trailing, "", "invalid character 'x' after top-level value"},
			{unknown, "x", notBody},
		}},

		// Keys.
		{"duplicate", `{"name": "a", "name": "b"}`, []brief{{duplicate, "name", "given twice"}}},
		{"duplicate nested", `{"client": {"ip": "a", "ip": "b"}}`, []brief{{duplicate, "client.ip", "given twice"}}},
		{"duplicate in a list's object", `{"clients": [{}, {"ip": "a", "ip": "b"}]}`, []brief{{duplicate, "clients[1].ip", "given twice"}}},
		{"duplicate map key", `{"labels": {"k": "1", "k": "2"}}`, []brief{{duplicate, "labels.k", "given twice"}}},
		{"duplicate inside a free-form value", `{"any": {"a": {"b": 1, "b": 2}}, "raw": [{"c": 1, "c": 1}]}`, []brief{
			{duplicate, "any.a.b", "given twice"},
			{duplicate, "raw[0].c", "given twice"},
		}},
		{"duplicate unknown key", `{"x": 1, "x": 2}`, []brief{{unknown, "x", notBody}, {duplicate, "x", "given twice"}, {unknown, "x", notBody}}},
		{"map keys differing in case are two keys", `{"labels": {"otp": "1", "OTP": "2"}}`, nil},
		{"wrong case", `{"Name": "n"}`, []brief{{wrongCase, "Name", notBody}}},
		{"wrong case nested", `{"client": {"IP": "a"}}`, []brief{{wrongCase, "client.IP", notClient}}},
		{"wrong case by Unicode folding", `{"ſize": 1}`, []brief{{wrongCase, "ſize", notBody}}},
		{"wrong case of a promoted field", `{"TIMEOUT": 1}`, []brief{{wrongCase, "TIMEOUT", notBody}}},
		{"unknown", `{"nmae": "n"}`, []brief{{unknown, "nmae", notBody}}},
		{"unknown nested", `{"clients": [{"port": 1}]}`, []brief{{unknown, "clients[0].port", notClient}}},
		{"a dash-tagged field is unknown", `{"Hidden": "h"}`, []brief{{unknown, "Hidden", notBody}}},
		{"an embedded struct's Go name is unknown", `{"Common": {}}`, []brief{{unknown, "Common", notBody}}},

		// Types.
		{"string given a number", `{"name": 1}`, []brief{{wrongType, "name", "must be a string, not a number"}}},
		{"bool given a string", `{"on": "yes"}`, []brief{{wrongType, "on", "must be true or false, not a string"}}},
		{"struct given a list", `{"client": []}`, []brief{{wrongType, "client", "must be a mapping, not a list"}}},
		{"map given a string", `{"labels": "x"}`, []brief{{wrongType, "labels", "must be a mapping, not a string"}}},
		{"map value", `{"labels": {"a": 1}}`, []brief{{wrongType, "labels.a", "must be a string, not a number"}}},
		{"list given an object", `{"tags": {}}`, []brief{{wrongType, "tags", "must be a list, not a mapping"}}},
		{"list item", `{"tags": ["a", true]}`, []brief{{wrongType, "tags[1]", "must be a string, not a boolean"}}},
		{"whole value", `[]`, []brief{{wrongType, "", "must be a mapping, not a list"}}},
		{"sized int given a string", `{"count": "1"}`, []brief{{wrongType, "count", "must be a whole number from -128 to 127, not a string"}}},
		{"float given a string", `{"ratio": "1"}`, []brief{{wrongType, "ratio", "must be a number, not a string"}}},
		{"text unmarshaler given a number", `{"addr": 1}`, []brief{{wrongType, "addr", "must be a string, not a number"}}},
		{"json.Number given a bool", `{"number": true}`, []brief{{wrongType, "number", "must be a number, not a boolean"}}},
		{"duration given text", `{"duration": "1s"}`, []brief{{wrongType, "duration", "must be a whole number of nanoseconds, not a string"}}},
		{"quoted given a number", `{"quoted": 42}`, []brief{{wrongType, "quoted", "must be a string holding a whole number, not a number"}}},
		{"wrong type, then a duplicate inside", `{"tags": {"a": 1, "a": 2}}`, []brief{
			{wrongType, "tags", "must be a list, not a mapping"},
			{duplicate, "tags.a", "given twice"},
		}},

		// Values.
		{"int8 range", `{"count": 128}`, []brief{{invalid, "count", "must be a whole number from -128 to 127, not 128"}}},
		{"uint16 range", `{"size": -1}`, []brief{{invalid, "size", "must be a whole number from 0 to 65535, not -1"}}},
		{"fraction", `{"size": 1.5}`, []brief{{invalid, "size", "must be a whole number from 0 to 65535, not number 1.5"}}},
		{"exponent", `{"timeout": 1e3}`, []brief{{invalid, "timeout", "must be a whole number, not number 1e3"}}},
		{"float32 range", `{"ratio": 1e39}`, []brief{{invalid, "ratio", "must be a number within the range of a 32-bit float, not 1e39"}}},
		{"array too long", `{"pair": [1, 2, "x"]}`, []brief{{invalid, "pair", "must be a list of at most 2 items, not 3"}}},
		{"not base64", `{"bytes": "!!"}`, []brief{{invalid, "bytes", "must be a base64-encoded string or a list of whole numbers from 0 to 255, not a string that is not base64"}}},
		{"text unmarshaler refuses", `{"addr": "x"}`, []brief{{invalid, "addr", `ParseAddr("x"): unable to parse IP`}}},
		{"json.Number given text", `{"number": "many"}`, []brief{{invalid, "number", `must be a number, not string "many"`}}},
		{"map key", `{"ports": {"80": "http", "http": "x", "256": "y"}}`, []brief{
			{invalid, "ports.256", "is not a valid key: keys must be whole numbers from 0 to 255"},
			{invalid, "ports.http", "is not a valid key: keys must be whole numbers from 0 to 255"},
		}},
		{"badly quoted", `{"quoted": "lots"}`, []brief{{invalid, "quoted", `must be a string holding a whole number, not "lots"`}}},

		// Order.
		{"members in key order, a container's problems before its contents'", `{"tags": 1, "client": {"z": 1, "ip": 2}, "clients": [{"y": 1}, 2], "count": 300, "a": 1}`, []brief{
			{unknown, "a", notBody},
			{wrongType, "client.ip", "must be a string, not a number"},
			{unknown, "client.z", notClient},
			{unknown, "clients[0].y", notClient},
			{wrongType, "clients[1]", "must be a mapping, not a number"},
			{invalid, "count", "must be a whole number from -128 to 127, not 300"},
			{wrongType, "tags", "must be a list, not a number"},
		}},
		{"repeated keys in the order given", `{"name": 1, "name": true}`, []brief{
			{wrongType, "name", "must be a string, not a number"},
			{duplicate, "name", "given twice"},
			{wrongType, "name", "must be a string, not a boolean"},
		}},
		{"map members in key order", `{"by_name": {"b": {"x": 1}, "a": {"y": 1}}}`, []brief{
			{unknown, "by_name.a.y", notClient},
			{unknown, "by_name.b.x", notClient},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := briefs(strictjson.Check([]byte(tt.raw), bodyType))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Check(%s) =\n%v\nwant\n%v", tt.raw, got, tt.want)
			}
		})
	}
}

// TestCheckDetails checks what a Problem carries besides its message, for
// callers that word problems their own way.
func TestCheckDetails(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want strictjson.Problem
	}{
		{"a field", `{"client": {"ip": 5}}`, strictjson.Problem{Path: "client.ip", Message: "must be a string, not a number", Kind: strictjson.WrongType, Offset: 18,
			Type: reflect.TypeFor[string](), Got: "number", ParentKind: reflect.Struct, Parent: "client"}},
		{"a pointer field", `{"name": []}`, strictjson.Problem{Path: "name", Message: "must be a string, not a list", Kind: strictjson.WrongType, Offset: 9,
			Type: reflect.TypeFor[string](), Got: "array", ParentKind: reflect.Struct}},
		{"a map's value", `{"labels": {"otp": {}}}`, strictjson.Problem{Path: "labels.otp", Message: "must be a string, not a mapping", Kind: strictjson.WrongType, Offset: 19,
			Type: reflect.TypeFor[string](), Got: "object", ParentKind: reflect.Map, Parent: "labels"}},
		{"a list's item", `{"tags": ["a", false]}`, strictjson.Problem{Path: "tags[1]", Message: "must be a string, not a boolean", Kind: strictjson.WrongType, Offset: 15,
			Type: reflect.TypeFor[string](), Got: "bool", ParentKind: reflect.Slice, Parent: "tags"}},
		{"an array's item", `{"pair": [1.5]}`, strictjson.Problem{Path: "pair[0]", Message: "must be a whole number, not number 1.5", Kind: strictjson.Invalid, Offset: 10,
			Type: reflect.TypeFor[int](), ParentKind: reflect.Array, Parent: "pair"}},
		{"the whole value", ` "x"`, strictjson.Problem{Message: "must be a mapping, not a string", Kind: strictjson.WrongType, Offset: 1,
			Type: bodyType, Got: "string"}},
		{"a map key", `{"ports": {"x": "y"}}`, strictjson.Problem{Path: "ports.x", Message: "is not a valid key: keys must be whole numbers from 0 to 255", Kind: strictjson.Invalid, Offset: 11,
			Type: reflect.TypeFor[uint8](), ParentKind: reflect.Map, Parent: "ports"}},
		{"a key", `{"on": true, "On": true}`, strictjson.Problem{Path: "On", Message: notBody, Kind: strictjson.WrongCase, Offset: 13}},
		{"a repeated key", `{"on": true,"on": true}`, strictjson.Problem{Path: "on", Message: "given twice", Kind: strictjson.Duplicate, Offset: 12}},
		{"trailing data", "{}\n\n]", strictjson.Problem{Message: "invalid character ']' after top-level value", Kind: strictjson.Trailing, Offset: 4}},
		{"a syntax error", `{"on": tru}`, strictjson.Problem{Message: "invalid character '}' in literal true (expecting 'e')", Kind: strictjson.Syntax, Offset: 11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strictjson.Check([]byte(tt.raw), bodyType)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("Check(%s) = %+v, want [%+v]", tt.raw, got, tt.want)
			}
		})
	}
}

// TestCheckFirstInTheInput checks that the problem with the smallest Offset
// is the first a reader of the input comes to, whatever the order of the
// list.
func TestCheckFirstInTheInput(t *testing.T) {
	tests := []struct {
		raw  string
		want brief
	}{
		{`{"z": 1, "a": 2}`, brief{strictjson.Unknown, "z", notBody}},
		{`{"on": 1, "on": true}`, brief{strictjson.WrongType, "on", "must be true or false, not a number"}},
		{`{"on": true, "on": 1}`, brief{strictjson.Duplicate, "on", "given twice"}},
		{`{"x": 1} {}`, brief{strictjson.Unknown, "x", notBody}},
		{`{"name": 1, "on": `, brief{strictjson.WrongType, "name", "must be a string, not a number"}},
		{`[1, `, brief{strictjson.WrongType, "", "must be a mapping, not a list"}},
	}
	for _, tt := range tests {
		problems := strictjson.Check([]byte(tt.raw), bodyType)
		first := slices.MinFunc(problems, func(a, b strictjson.Problem) int { return int(a.Offset - b.Offset) })
		if got := briefs([]strictjson.Problem{first})[0]; got != tt.want {
			t.Errorf("first problem of %s = %v, want %v (all: %v)", tt.raw, got, tt.want, briefs(problems))
		}
	}
}

func TestCheckAnyType(t *testing.T) {
	tests := []struct {
		raw  string
		want []brief
	}{
		{`{"a": [1, "x", {"b": null}], "c": true}`, nil},
		{`[1, {"a": 1, "a": 2}]`, []brief{{strictjson.Duplicate, "[1].a", "given twice"}}},
		{`"x"`, nil},
		{`1 2`, []brief{{strictjson.Trailing, "", "invalid character '2' after top-level value"}}},
		{`{"a": }`, []brief{{strictjson.Syntax, "", "invalid character '}' looking for beginning of value"}}},
	}
	for _, tt := range tests {
		if got := briefs(strictjson.Check([]byte(tt.raw), nil)); !slices.Equal(got, tt.want) {
			t.Errorf("Check(%s, nil) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// TestCheckEmbedded checks field names as encoding/json resolves them.
func TestCheckEmbedded(t *testing.T) {
	type Inner struct {
		Deep  bool   `json:"deep"`
		Shade string `json:"shade"`
	}
	type Left struct{ Both, Left int }
	type Right struct{ Both, Right int }
	type outer struct {
		*Inner
		Left
		Right
		Shade  int   `json:"shade"` // hides Inner's
		Tagged Inner `json:"tagged"`
	}
	const notOuter = "unknown key (known: shade, tagged, deep, Left, Right)"
	tests := []struct {
		raw  string
		want []brief
	}{
		{`{"deep": true, "Left": 1, "Right": 2, "shade": 3, "tagged": {"deep": true}}`, nil},
		{`{"shade": "s"}`, []brief{{strictjson.WrongType, "shade", "must be a whole number, not a string"}}},
		{`{"Both": 1}`, []brief{{strictjson.Unknown, "Both", notOuter}}},
		{`{"Inner": {}}`, []brief{{strictjson.Unknown, "Inner", notOuter}}},
		{`{"tagged": {"Deep": true}}`, []brief{{strictjson.WrongCase, "tagged.Deep", "unknown key (known: deep, shade)"}}},
	}
	for _, tt := range tests {
		if got := briefs(strictjson.Check([]byte(tt.raw), reflect.TypeFor[outer]())); !slices.Equal(got, tt.want) {
			t.Errorf("Check(%s) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// TestCheckDepth checks that nesting is refused where encoding/json refuses
// it, so that no input can make the walk recurse without bound.
func TestCheckDepth(t *testing.T) {
	ok := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	if got := strictjson.Check([]byte(ok), nil); got != nil {
		t.Errorf("10000 levels: %v", briefs(got))
	}
	deep := strings.Repeat(`{"a":[`, 100_000)
	got := briefs(strictjson.Check([]byte(deep), nil))
	want := []brief{{strictjson.Syntax, "", "invalid character '{' exceeded max depth"}}
	if !slices.Equal(got, want) {
		t.Errorf("too deep: %v, want %v", got, want)
	}
}

func TestStrings(t *testing.T) {
	if got := (strictjson.Problem{Path: "a.b", Message: "unknown key"}).String(); got != "a.b: unknown key" {
		t.Errorf("String = %q", got)
	}
	if got := (strictjson.Problem{Message: "invalid character 'x'"}).String(); got != "invalid character 'x'" {
		t.Errorf("String = %q", got)
	}
	if got := fmt.Sprint(strictjson.WrongCase, strictjson.Kind(0)); got != "wrong case Kind(0)" {
		t.Errorf("Kind strings = %q", got)
	}
	for typ, want := range map[reflect.Type]string{
		reflect.TypeFor[string](): "a string", reflect.TypeFor[bool](): "true or false", reflect.TypeFor[uint8](): "a whole number",
		reflect.TypeFor[float64](): "a number", reflect.TypeFor[[2]int](): "a list", reflect.TypeFor[map[string]int](): "a mapping",
		bodyType: "a mapping", reflect.TypeFor[fmt.Stringer](): "fmt.Stringer",
	} {
		if got := strictjson.TypeName(typ); got != want {
			t.Errorf("TypeName(%v) = %q, want %q", typ, got, want)
		}
	}
}

// FuzzCheck checks Check against encoding/json: input Check takes without
// a problem decodes without error, with unknown fields disallowed, and
// input that is not one valid JSON value is refused as such.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"name": "n", "count": 1}`, `{"pair": [1, 2, 3]}`, `{"ports": {"1": "x"}}`,
		`{"quoted": "\"1\""}`, `{"bytes": "aGk="}`, `{"client": {"IP": "x"}}`, `{"tags": ["a"]} x`, `{"timeout": 1e2}`, `[`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		problems := strictjson.Check([]byte(raw), bodyType)
		if !json.Valid([]byte(raw)) {
			if len(problems) == 0 {
				t.Fatalf("Check took invalid JSON %q", raw)
			}
			if k := problems[0].Kind; k != strictjson.Empty && k != strictjson.Syntax && k != strictjson.Trailing {
				t.Fatalf("Check(%q): first problem %v, want the input's", raw, problems[0])
			}
			return
		}
		if len(problems) > 0 {
			return
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		var b body
		if err := dec.Decode(&b); err != nil && !strings.Contains(err.Error(), "up or down") {
			t.Fatalf("Check took %q; encoding/json: %v", raw, err)
		}
	})
}
