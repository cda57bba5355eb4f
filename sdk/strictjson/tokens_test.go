package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// tokensBody has a field of each kind the walk treats apart.
type tokensBody struct {
	Name   *string           `json:"name"`
	Count  int8              `json:"count"`
	Ratio  float32           `json:"ratio"`
	On     bool              `json:"on"`
	Labels map[string]string `json:"labels"`
	Ports  map[uint8]string  `json:"ports"`
	Tags   []string          `json:"tags"`
	Pair   [2]int            `json:"pair"`
	Bytes  []byte            `json:"bytes"`
	Client *struct {
		IP string `json:"ip"`
	} `json:"client"`
	Number   json.Number     `json:"number"`
	Duration time.Duration   `json:"duration"`
	Raw      json.RawMessage `json:"raw"`
	Any      any             `json:"any"`
	Quoted   int             `json:"quoted,string"`
}

// FuzzValidTokens: on valid JSON, the walk reading validTokens finds
// exactly the problems, at exactly the offsets, that it finds reading
// encoding/json's Decoder.
func FuzzValidTokens(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `null`, `1`, `"x"`, ` {"name": "n", "count": 1} `,
		`{"name":"a","name":"b","NAME":"c"}`, `{"count": 300, "ratio": "x", "on": null}`,
		`{"labels": {"a": "\u00e9\ud83d\ude00", "b\n": 1}, "ports": {"256": "x", "-1": "y"}}`,
		`{"tags": ["a", 1, null, {"x": [true, false]}], "pair": [1, 2, 3]}`,
		`{"bytes": "aGk=", "client": {"ip": "x", "IP": "y", "port": 1}}`,
		`{"number": 1.5e-3, "duration": "15m", "raw": {"a": {"a": 1, "a": 2}}, "any": [[]]}`,
		`{"quoted": "\"1\"", "x\\"y": 1, "\u0000": 2}`, "{\"name\": \"\xff\xfe\", \"\xff\": 1}", `[{"a":1},{"a":1,"a":2}]`,
		`{"name": "a"}  `, `{"count": -0, "ratio": 1E+2}`,
	} {
		f.Add([]byte(s))
	}
	types := []reflect.Type{reflect.TypeFor[tokensBody](), reflect.TypeFor[map[string]any](), reflect.TypeFor[[]tokensBody](), nil}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		for _, typ := range types {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			want := check(raw, typ, dec)
			got := check(raw, typ, &validTokens{raw: raw})
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q as %v:\nvalidTokens: %+v\nDecoder:     %+v", raw, typ, got, want)
			}
		}
	})
}
