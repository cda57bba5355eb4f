package sdk_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Base is embedded by value, without a tag.
type Base struct {
	Timeout int    `json:"timeout"`
	Region  string `json:"region"`
	Hidden  string `json:"-"`
}

// Extra is embedded through a pointer.
type Extra struct {
	Retries int `json:"retries"`
}

// Named is embedded with a tag name, so it is a field, not promoted.
type Named struct {
	Inner int `json:"inner"`
}

type inner struct {
	Deep bool `json:"deep"`
}

// Middle embeds another struct: its fields are promoted two levels.
type Middle struct {
	inner
	Mid string `json:"mid"`
}

type Left struct {
	Both  int
	Left  int `json:"left"`
	Named int `json:"tagged_beats_untagged"`
}

type Right struct {
	Both                int
	Right               int `json:"right"`
	TaggedBeatsUntagged int
}

// embedding has every way of embedding a struct.
type embedding struct {
	Base
	*Extra
	Named `json:"named"`
	Middle
	Left
	Right
	Skipped Base `json:"-"`
	// Region at depth 0 hides Base's region.
	Region int `json:"region"`
}

// notEmbedding is the message for a key that is none of embedding's fields:
// the promoted ones are listed after the others.
const notEmbedding = "unknown key (known: named, region, timeout, retries, mid, left, tagged_beats_untagged, right, TaggedBeatsUntagged, deep)"

// upDown implements json.Unmarshaler and accepts only "up" or "down".
type upDown bool

func (u *upDown) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"up"`:
		*u = true
	case `"down"`:
		*u = false
	default:
		return fmt.Errorf("must be up or down, not %s", b)
	}
	return nil
}

// kinds has a field of every kind DecodeConfig handles.
type kinds struct {
	Int8     int8                `json:"int8"`
	Int16    int16               `json:"int16"`
	Int32    int32               `json:"int32"`
	Int64    int64               `json:"int64"`
	Uint     uint                `json:"uint"`
	Uint8    uint8               `json:"uint8"`
	Uint16   uint16              `json:"uint16"`
	Uint32   uint32              `json:"uint32"`
	Uint64   uint64              `json:"uint64"`
	Float32  float32             `json:"float32"`
	Float64  float64             `json:"float64"`
	Ptr      *int                `json:"ptr"`
	PtrPtr   **string            `json:"ptr_ptr"`
	PtrList  *[]int              `json:"ptr_list"`
	Array    [2]int              `json:"array"`
	Bytes    []byte              `json:"bytes"`
	Raw      json.RawMessage     `json:"raw"`
	Any      any                 `json:"any"`
	AnyList  []any               `json:"any_list"`
	Duration time.Duration       `json:"duration"`
	Number   json.Number         `json:"number"`
	Custom   upDown              `json:"custom"`
	CustomP  *upDown             `json:"custom_p"`
	Addr     netip.Addr          `json:"addr"`
	AddrPtr  *netip.Addr         `json:"addr_ptr"`
	ByAddr   map[netip.Addr]int  `json:"by_addr"`
	ByPort   map[uint16]string   `json:"by_port"`
	Matrix   [][]int             `json:"matrix"`
	Nested   map[string][]limits `json:"nested"`
	Quoted   int                 `json:"quoted,string"`
	QuotedS  string              `json:"quoted_s,string"`
	Time     time.Time           `json:"time"`
}

func TestDecodeConfigKinds(t *testing.T) {
	raw := `{
		"int8": -128, "int16": 32767, "int32": -2147483648, "int64": 9223372036854775807,
		"uint": 18446744073709551615, "uint8": 255, "uint16": 0, "uint32": 4294967295, "uint64": 1,
		"float32": 3.4e38, "float64": -1e308,
		"ptr": 5, "ptr_ptr": "s", "ptr_list": [1, 2],
		"array": [1, 2], "bytes": "aGk=", "raw": {"x": [1, "y"]}, "any": [1, {"a": null}], "any_list": [true, "x", 1.5],
		"duration": 1000000000, "number": 12.5e3, "custom": "up", "custom_p": "down",
		"addr": "192.0.2.1", "addr_ptr": "2001:db8::1", "by_addr": {"192.0.2.1": 1}, "by_port": {"443": "https"},
		"matrix": [[1], [], [2, 3]], "nested": {"a": [{"max": 1}]},
		"quoted": "42", "quoted_s": "\"q\"", "time": "2024-01-02T03:04:05Z"
	}`
	var k kinds
	if err := decode(raw, &k); err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	if k.Int8 != -128 || k.Uint != 18446744073709551615 || k.Uint8 != 255 || *k.Ptr != 5 || **k.PtrPtr != "s" || !slices.Equal(*k.PtrList, []int{1, 2}) {
		t.Errorf("decoded %+v", k)
	}
	if k.Array != [2]int{1, 2} || string(k.Bytes) != "hi" || string(k.Raw) != `{"x": [1, "y"]}` || k.Duration != time.Second || k.Number != "12.5e3" {
		t.Errorf("decoded %+v", k)
	}
	if !bool(k.Custom) || k.CustomP == nil || bool(*k.CustomP) || k.Addr != netip.MustParseAddr("192.0.2.1") || k.ByAddr[netip.MustParseAddr("192.0.2.1")] != 1 || k.ByPort[443] != "https" {
		t.Errorf("decoded %+v", k)
	}
	if k.Quoted != 42 || k.QuotedS != "q" || k.Time.Year() != 2024 || k.Nested["a"][0].Max != 1 {
		t.Errorf("decoded %+v", k)
	}
}

func TestDecodeConfigKindProblems(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []sdk.FieldError
	}{
		{"int8 range", `{"int8": 128}`, []sdk.FieldError{{Path: "int8", Message: "must be a whole number from -128 to 127, not 128"}}},
		{"int16 range", `{"int16": -32769}`, []sdk.FieldError{{Path: "int16", Message: "must be a whole number from -32768 to 32767, not -32769"}}},
		{"int32 given a string", `{"int32": "1"}`, []sdk.FieldError{{Path: "int32", Message: "must be a whole number from -2147483648 to 2147483647, not a string"}}},
		{"int64 range", `{"int64": 9223372036854775808}`, []sdk.FieldError{{Path: "int64", Message: "must be a whole number from -9223372036854775808 to 9223372036854775807, not 9223372036854775808"}}},
		{"uint8 range", `{"uint8": 300}`, []sdk.FieldError{{Path: "uint8", Message: "must be a whole number from 0 to 255, not 300"}}},
		{"uint8 negative", `{"uint8": -1}`, []sdk.FieldError{{Path: "uint8", Message: "must be a whole number from 0 to 255, not -1"}}},
		{"uint8 fraction", `{"uint8": 2.5}`, []sdk.FieldError{{Path: "uint8", Message: "must be a whole number from 0 to 255, not number 2.5"}}},
		{"uint16 range", `{"uint16": 65536}`, []sdk.FieldError{{Path: "uint16", Message: "must be a whole number from 0 to 65535, not 65536"}}},
		{"uint32 range", `{"uint32": 4294967296}`, []sdk.FieldError{{Path: "uint32", Message: "must be a whole number from 0 to 4294967295, not 4294967296"}}},
		{"uint64 range", `{"uint64": 18446744073709551616}`, []sdk.FieldError{{Path: "uint64", Message: "must be a whole number from 0 to 18446744073709551615, not 18446744073709551616"}}},
		{"uint negative", `{"uint": -5}`, []sdk.FieldError{{Path: "uint", Message: "must be a whole number from 0 to 18446744073709551615, not -5"}}},
		{"exponent is not a whole number", `{"int64": 1e3}`, []sdk.FieldError{{Path: "int64", Message: "must be a whole number, not number 1e3"}}},
		{"1.0 is not a whole number", `{"int64": 1.0}`, []sdk.FieldError{{Path: "int64", Message: "must be a whole number, not number 1.0"}}},
		{"float32 range", `{"float32": 1e39}`, []sdk.FieldError{{Path: "float32", Message: "must be a number within the range of a 32-bit float, not 1e39"}}},
		{"float64 range", `{"float64": 1e400}`, []sdk.FieldError{{Path: "float64", Message: "must be a number within the range of a 64-bit float, not 1e400"}}},
		{"float given a string", `{"float64": "1"}`, []sdk.FieldError{{Path: "float64", Message: "must be a number, not a string"}}},
		{"pointer", `{"ptr": "5", "ptr_ptr": 1, "ptr_list": [1, "x"]}`, []sdk.FieldError{
			{Path: "ptr", Message: "must be a whole number, not a string"},
			{Path: "ptr_list[1]", Message: "must be a whole number, not a string"},
			{Path: "ptr_ptr", Message: "must be a string, not a number"},
		}},
		{"array", `{"array": [1, "x", 3]}`, []sdk.FieldError{
			{Path: "array", Message: "must be a list of at most 2 items, not 3"},
			{Path: "array[1]", Message: "must be a whole number, not a string"},
		}},
		{"array given an object", `{"array": {}}`, []sdk.FieldError{{Path: "array", Message: "must be a list, not a mapping"}}},
		{"bytes not base64", `{"bytes": "!!"}`, []sdk.FieldError{{Path: "bytes", Message: "must be a base64-encoded string or a list of whole numbers from 0 to 255, not a string that is not base64"}}},
		{"bytes given a number", `{"bytes": 1}`, []sdk.FieldError{{Path: "bytes", Message: "must be a base64-encoded string or a list of whole numbers from 0 to 255, not a number"}}},
		{"bytes as a list", `{"bytes": [1, 256]}`, []sdk.FieldError{{Path: "bytes[1]", Message: "must be a whole number from 0 to 255, not 256"}}},
		{"duration given text", `{"duration": "30s"}`, []sdk.FieldError{{Path: "duration", Message: "must be a whole number of nanoseconds, not a string"}}},
		{"json.Number given text", `{"number": "many"}`, []sdk.FieldError{{Path: "number", Message: `must be a number, not string "many"`}}},
		{"json.Number given a bool", `{"number": true}`, []sdk.FieldError{{Path: "number", Message: "must be a number, not a boolean"}}},
		{"text unmarshaler given a number", `{"addr": 1}`, []sdk.FieldError{{Path: "addr", Message: "must be a string, not a number"}}},
		{"text unmarshaler given bad text", `{"addr_ptr": "not-an-ip"}`, []sdk.FieldError{{Path: "addr_ptr", Message: `ParseAddr("not-an-ip"): unable to parse IP`}}},
		{"text unmarshaler key", `{"by_addr": {"192.0.2.1": 1, "nope": 2}}`, []sdk.FieldError{{Path: "by_addr.nope", Message: "is not a valid key: ParseAddr(\"nope\"): unable to parse IP"}}},
		{"integer key", `{"by_port": {"443": "https", "http": "x", "70000": "y"}}`, []sdk.FieldError{
			{Path: "by_port.70000", Message: "is not a valid key: keys must be whole numbers from 0 to 65535"},
			{Path: "by_port.http", Message: "is not a valid key: keys must be whole numbers from 0 to 65535"},
		}},
		{"nested lists and maps", `{"matrix": [[1], ["a"], [2, {}]], "nested": {"b": [{"max": 1}, {"max": "x", "min": 1}]}}`, []sdk.FieldError{
			{Path: "matrix[1][0]", Message: "must be a whole number, not a string"},
			{Path: "matrix[2][1]", Message: "must be a whole number, not a mapping"},
			{Path: "nested.b[1].max", Message: "must be a whole number, not a string"},
			{Path: "nested.b[1].min", Message: notLimits},
		}},
		{"quoted given a number", `{"quoted": 42}`, []sdk.FieldError{{Path: "quoted", Message: "must be a string holding a whole number, not a number"}}},
		{"quoted given a word", `{"quoted": "lots"}`, []sdk.FieldError{{Path: "quoted", Message: `must be a string holding a whole number, not "lots"`}}},
		{"quoted string not quoted twice", `{"quoted_s": "q"}`, []sdk.FieldError{{Path: "quoted_s", Message: `must be a string holding a string, not "q"`}}},
		{"a json.Unmarshaler judges for itself", `{"custom": "sideways"}`, []sdk.FieldError{{Message: `must be up or down, not "sideways"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k kinds
			if got := configProblems(t, decode(tt.raw, &k)); !slices.Equal(got, tt.want) {
				t.Errorf("problems = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeConfigAnythingGoes(t *testing.T) {
	// json.RawMessage, interfaces and json.Unmarshalers take any value,
	// and null is accepted everywhere, as encoding/json accepts it.
	for _, v := range []string{`null`, `true`, `1.5`, `"s"`, `[1, {"a": []}]`, `{"a": {"b": null}}`} {
		t.Run(v, func(t *testing.T) {
			var k kinds
			if err := decode(`{"raw": `+v+`, "any": `+v+`, "any_list": [`+v+`]}`, &k); err != nil {
				t.Errorf("DecodeConfig: %v", err)
			}
		})
	}
	var k kinds
	raw := `{"int8": null, "ptr": null, "array": null, "bytes": null, "addr": null, "by_port": null, "matrix": [null], "quoted": null, "custom_p": null}`
	if err := decode(raw, &k); err != nil {
		t.Errorf("DecodeConfig(%s): %v", raw, err)
	}
}

func TestDecodeConfigEmbedded(t *testing.T) {
	raw := `{
		"timeout": 5, "retries": 2, "named": {"inner": 3}, "deep": true, "mid": "m",
		"left": 1, "right": 2, "tagged_beats_untagged": 4, "region": 9
	}`
	var e embedding
	if err := decode(raw, &e); err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	if e.Timeout != 5 || e.Extra == nil || e.Retries != 2 || e.Named.Inner != 3 || !e.Middle.inner.Deep || e.Mid != "m" {
		t.Errorf("decoded %+v", e)
	}
	if e.Left.Left != 1 || e.Right.Right != 2 || e.Left.Named != 4 || e.Region != 9 || e.Base.Region != "" {
		t.Errorf("decoded %+v", e)
	}

	tests := []struct {
		name string
		raw  string
		want []sdk.FieldError
	}{
		{"dash-tagged promoted field", `{"Hidden": "x"}`, []sdk.FieldError{{Path: "Hidden", Message: notEmbedding}}},
		{"the Go name of an embedded struct is not a key", `{"Base": {}, "Extra": {}, "Middle": {}}`, []sdk.FieldError{
			{Path: "Base", Message: notEmbedding}, {Path: "Extra", Message: notEmbedding}, {Path: "Middle", Message: notEmbedding},
		}},
		{"a tag-named embedded struct is not promoted", `{"inner": 1}`, []sdk.FieldError{{Path: "inner", Message: notEmbedding}}},
		{"a name at the same depth twice is no field", `{"Both": 1}`, []sdk.FieldError{{Path: "Both", Message: notEmbedding}}},
		{"dash-tagged embedded struct", `{"Skipped": {}}`, []sdk.FieldError{{Path: "Skipped", Message: notEmbedding}}},
		{"a shallower field hides a deeper one", `{"region": "eu"}`, []sdk.FieldError{{Path: "region", Message: "must be a whole number, not a string"}}},
		{"types of promoted fields", `{"timeout": "x", "retries": true, "deep": 1, "named": {"inner": "y", "outer": 1}}`, []sdk.FieldError{
			{Path: "deep", Message: "must be true or false, not a number"},
			{Path: "named.inner", Message: "must be a whole number, not a string"},
			{Path: "named.outer", Message: "unknown key (known: inner)"},
			{Path: "retries", Message: "must be a whole number, not a boolean"},
			{Path: "timeout", Message: "must be a whole number, not a string"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e embedding
			if got := configProblems(t, decode(tt.raw, &e)); !slices.Equal(got, tt.want) {
				t.Errorf("problems = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDecodeConfigAgreesWithEncodingJSON checks that whatever DecodeConfig
// accepts, encoding/json decodes to the same value.
func TestDecodeConfigAgreesWithEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		`{"timeout": 5, "retries": 2, "named": {"inner": 3}, "deep": true, "left": 1, "right": 2, "region": 1}`,
		`{"Base": null}`,
	} {
		var got, want embedding
		err := decode(raw, &got)
		if jsonErr := json.Unmarshal([]byte(raw), &want); err == nil && (jsonErr != nil || !reflect.DeepEqual(got, want)) {
			t.Errorf("%s: DecodeConfig gave %+v, encoding/json %+v (%v)", raw, got, want, jsonErr)
		}
	}
}

func TestDecodeConfigEveryProblemInOrder(t *testing.T) {
	raw := `{
		"zeta": 1, "name": 5, "limit": "x",
		"servers": [{"url": 1, "port": "p", "options": {"verify": "yes", "ca": 1}}, {"port": 1.5}, "not a server"],
		"by_role": {"ops": {"max": "m"}, "admin": {"max": 300, "extra": 1}, "dev": []},
		"labels": {"b": 1, "a": true}, "tags": ["ok", 2]
	}`
	want := []sdk.FieldError{
		{Path: "by_role.admin.extra", Message: notLimits},
		{Path: "by_role.dev", Message: "must be a mapping, not a list"},
		{Path: "by_role.ops.max", Message: "must be a whole number, not a string"},
		{Path: "labels.a", Message: "must be a string, not a boolean"},
		{Path: "labels.b", Message: "must be a string, not a number"},
		{Path: "limit", Message: "must be a whole number, not a string"},
		{Path: "name", Message: "must be a string, not a number"},
		{Path: "servers[0].options.ca", Message: notTLS},
		{Path: "servers[0].options.verify", Message: "must be true or false, not a string"},
		{Path: "servers[0].port", Message: "must be a whole number, not a string"},
		{Path: "servers[0].url", Message: "must be a string, not a number"},
		{Path: "servers[1].port", Message: "must be a whole number, not number 1.5"},
		{Path: "servers[2]", Message: "must be a mapping, not a string"},
		{Path: "tags[1]", Message: "must be a string, not a number"},
		{Path: "zeta", Message: notPluginConfig},
	}
	for range 10 {
		var c pluginConfig
		if got := configProblems(t, decode(raw, &c)); !slices.Equal(got, want) {
			t.Fatalf("problems:\n%s\nwant:\n%s", list(got), list(want))
		}
	}
}

// TestDecodeConfigLeavesTheValueOnProblems checks that nothing is decoded
// when there is a problem, so defaults set before decoding stay.
func TestDecodeConfigLeavesTheValueOnProblems(t *testing.T) {
	c := pluginConfig{Name: "default", Limit: 3}
	if err := decode(`{"name": "set", "limit": "x"}`, &c); err == nil {
		t.Fatal("DecodeConfig succeeded")
	}
	if c.Name != "default" || c.Limit != 3 {
		t.Errorf("decoded %+v after a problem", c)
	}
}

func TestDecodeConfigNotAPointer(t *testing.T) {
	var c pluginConfig
	err := decode(`{"name": "x"}`, c)
	var cfgErr *sdk.ConfigError
	if !errors.As(err, &cfgErr) || len(cfgErr.Problems) != 1 || !strings.Contains(cfgErr.Problems[0].Message, "non-pointer") {
		t.Errorf("DecodeConfig(non-pointer) = %v", err)
	}
}

func list(ps []sdk.FieldError) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// TestDecodeConfigNeverLooserThanEncodingJSON tries many values in every
// field: what DecodeConfig accepts, encoding/json must decode without error,
// and what encoding/json refuses, DecodeConfig must refuse.
func TestDecodeConfigNeverLooserThanEncodingJSON(t *testing.T) {
	values := []string{
		`null`, `true`, `false`, `0`, `-1`, `1.5`, `1e2`, `300`, `65536`, `1e39`, `18446744073709551616`,
		`""`, `"s"`, `"42"`, `"\"q\""`, `"aGk="`, `"192.0.2.1"`, `"up"`, `"2024-01-02T03:04:05Z"`,
		`[]`, `[1]`, `[1, 2, 3]`, `["a"]`, `[[1]]`, `[{"max": 1}]`, `{}`, `{"a": 1}`, `{"443": "x"}`, `{"max": 1}`, `{"a": [{"max": 1}]}`,
	}
	check := func(t *testing.T, typ reflect.Type) {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			for _, v := range values {
				raw := `{"` + name + `": ` + v + `}`
				err := decode(raw, reflect.New(typ).Interface())
				dec := json.NewDecoder(strings.NewReader(raw))
				dec.DisallowUnknownFields()
				jsonErr := dec.Decode(reflect.New(typ).Interface())
				if err == nil && jsonErr != nil {
					t.Errorf("DecodeConfig accepted %s; encoding/json: %v", raw, jsonErr)
				}
				if err != nil && jsonErr == nil && !strings.Contains(err.Error(), "at most") {
					t.Logf("DecodeConfig refused %s, encoding/json accepted it: %v", raw, err)
				}
			}
		}
	}
	check(t, reflect.TypeFor[kinds]())
	check(t, reflect.TypeFor[pluginConfig]())
}
