package sdk_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

type server struct {
	URL     string `json:"url"`
	Port    int    `json:"port"`
	Options *tls   `json:"options,omitempty"`
}

type tls struct {
	Verify bool `json:"verify"`
}

type limits struct {
	Max int `json:"max"`
}

// pluginConfig has every shape a plugin's configuration takes.
type pluginConfig struct {
	Name       string            `json:"name"`
	Limit      int               `json:"limit"`
	Ratio      float64           `json:"ratio"`
	Enabled    bool              `json:"enabled"`
	Servers    []server          `json:"servers"`
	ByRole     map[string]limits `json:"by_role"`
	Nested     limits            `json:"nested"`
	Labels     map[string]string `json:"labels"`
	Tags       []string          `json:"tags"`
	Extra      json.RawMessage   `json:"extra"`
	Free       map[string]any    `json:"free"`
	Untagged   string
	Ignored    string `json:"-"`
	unexported string
}

// decode runs DecodeConfig on raw.
func decode(raw string, v any) error {
	req := &sdk.ConfigureRequest{Config: json.RawMessage(raw)}
	return req.DecodeConfig(v)
}

// configProblems returns the problems of a *sdk.ConfigError, failing the
// test for any other error.
func configProblems(t *testing.T, err error) []sdk.FieldError {
	t.Helper()
	if err == nil {
		t.Fatal("DecodeConfig succeeded; want a *sdk.ConfigError")
	}
	var cfgErr *sdk.ConfigError
	if !errors.As(err, &cfgErr) {
		t.Fatalf("error %v (%T) is not a *sdk.ConfigError", err, err)
	}
	if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("errors.Is(%v, ErrInvalidArgument) = false", err)
	}
	return cfgErr.Problems
}

// sameProblems compares problems regardless of order.
func sameProblems(got, want []sdk.FieldError) bool {
	key := func(a, b sdk.FieldError) int { return strings.Compare(a.String(), b.String()) }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, key)
	slices.SortFunc(want, key)
	return slices.Equal(got, want)
}

func TestDecodeConfigValid(t *testing.T) {
	raw := `{
		"name": "corp", "limit": 5, "ratio": 0.5, "enabled": true,
		"servers": [{"url": "ldaps://a", "port": 636, "options": {"verify": true}}, {"url": "ldaps://b"}],
		"by_role": {"admin": {"max": 1}},
		"nested": {"max": 7},
		"labels": {"any": "thing"},
		"tags": ["x"],
		"extra": {"whatever": [1, {"deep": true}]},
		"free": {"anything": {"goes": 1}},
		"Untagged": "u"
	}`
	var c pluginConfig
	if err := decode(raw, &c); err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	if c.Name != "corp" || c.Limit != 5 || c.Ratio != 0.5 || !c.Enabled || c.Nested.Max != 7 || c.Untagged != "u" {
		t.Errorf("decoded %+v", c)
	}
	if len(c.Servers) != 2 || c.Servers[0].Port != 636 || c.Servers[0].Options == nil || !c.Servers[0].Options.Verify || c.Servers[1].URL != "ldaps://b" {
		t.Errorf("servers = %+v", c.Servers)
	}
	if c.ByRole["admin"].Max != 1 || c.Labels["any"] != "thing" || !slices.Equal(c.Tags, []string{"x"}) {
		t.Errorf("maps/lists = %+v %+v %+v", c.ByRole, c.Labels, c.Tags)
	}
}

func TestDecodeConfigEmpty(t *testing.T) {
	for _, raw := range []string{"", "  \n\t", "{}", "null"} {
		t.Run(raw, func(t *testing.T) {
			c := pluginConfig{Limit: 3} // defaults set before decoding survive
			if err := decode(raw, &c); err != nil {
				t.Fatalf("DecodeConfig(%q): %v", raw, err)
			}
			if c.Limit != 3 || c.Name != "" {
				t.Errorf("decoded %+v", c)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		var c pluginConfig
		if err := (&sdk.ConfigureRequest{}).DecodeConfig(&c); err != nil {
			t.Fatalf("DecodeConfig(nil): %v", err)
		}
	})
}

func TestDecodeConfigUnknownFields(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []sdk.FieldError
	}{
		{"top level", `{"nmae": "x"}`, []sdk.FieldError{{Path: "nmae", Message: "unknown field"}}},
		{"several at top level", `{"b": 1, "a": 2, "name": "ok"}`, []sdk.FieldError{
			{Path: "a", Message: "unknown field"}, {Path: "b", Message: "unknown field"},
		}},
		{"nested struct", `{"nested": {"max": 1, "min": 0}}`, []sdk.FieldError{{Path: "nested.min", Message: "unknown field"}}},
		{"slice of structs", `{"servers": [{"url": "a"}, {"url": "b", "host": "h"}, {"prot": 1}]}`, []sdk.FieldError{
			{Path: "servers[1].host", Message: "unknown field"},
			{Path: "servers[2].prot", Message: "unknown field"},
		}},
		{"pointer inside a slice", `{"servers": [{"options": {"verify": true, "ca": "x"}}]}`, []sdk.FieldError{
			{Path: "servers[0].options.ca", Message: "unknown field"},
		}},
		{"map of structs", `{"by_role": {"admin": {"max": 1, "burst": 2}, "user": {"max": 2}, "guest": {"mx": 0}}}`, []sdk.FieldError{
			{Path: "by_role.admin.burst", Message: "unknown field"},
			{Path: "by_role.guest.mx", Message: "unknown field"},
		}},
		{"every depth at once", `{"x": 1, "nested": {"y": 2}, "servers": [{"z": 3}], "by_role": {"r": {"w": 4}}}`, []sdk.FieldError{
			{Path: "x", Message: "unknown field"},
			{Path: "nested.y", Message: "unknown field"},
			{Path: "servers[0].z", Message: "unknown field"},
			{Path: "by_role.r.w", Message: "unknown field"},
		}},
		{"json tag name, not the Go name", `{"Name": "x", "Limit": 1}`, []sdk.FieldError{
			{Path: "Limit", Message: "unknown field"}, {Path: "Name", Message: "unknown field"},
		}},
		{"dash-tagged field", `{"Ignored": "x", "-": "y"}`, []sdk.FieldError{
			{Path: "-", Message: "unknown field"}, {Path: "Ignored", Message: "unknown field"},
		}},
		{"unexported field", `{"unexported": "x"}`, []sdk.FieldError{{Path: "unexported", Message: "unknown field"}}},
		{"free-form values are not checked", `{"free": {"a": {"b": 1}}, "labels": {"c": "d"}, "extra": {"e": 1}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c pluginConfig
			err := decode(tt.raw, &c)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("DecodeConfig: %v", err)
				}
				return
			}
			if got := configProblems(t, err); !sameProblems(got, tt.want) {
				t.Errorf("problems = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeConfigUnknownFieldsAreSorted(t *testing.T) {
	var c pluginConfig
	got := configProblems(t, decode(`{"zeta": 1, "alpha": 2, "mid": 3}`, &c))
	want := []sdk.FieldError{{Path: "alpha", Message: "unknown field"}, {Path: "mid", Message: "unknown field"}, {Path: "zeta", Message: "unknown field"}}
	if !slices.Equal(got, want) {
		t.Errorf("problems = %v, want %v (in key order)", got, want)
	}
}

func TestDecodeConfigTypeErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []sdk.FieldError
	}{
		{"string given a number", `{"name": 5}`, []sdk.FieldError{{Path: "name", Message: "must be a string, not number"}}},
		{"int given a string", `{"limit": "5"}`, []sdk.FieldError{{Path: "limit", Message: "must be a whole number, not string"}}},
		{"int given a fraction", `{"limit": 1.5}`, []sdk.FieldError{{Path: "limit", Message: "must be a whole number, not number 1.5"}}},
		{"float given a bool", `{"ratio": true}`, []sdk.FieldError{{Path: "ratio", Message: "must be a number, not bool"}}},
		{"bool given a string", `{"enabled": "yes"}`, []sdk.FieldError{{Path: "enabled", Message: "must be true or false, not string"}}},
		{"list given an object", `{"tags": {"a": 1}}`, []sdk.FieldError{{Path: "tags", Message: "must be a list, not object"}}},
		{"mapping given a list", `{"nested": [1]}`, []sdk.FieldError{{Path: "nested", Message: "must be a mapping, not array"}}},
		{"map given a string", `{"by_role": "admin"}`, []sdk.FieldError{{Path: "by_role", Message: "must be a mapping, not string"}}},
		{"nested field", `{"nested": {"max": "lots"}}`, []sdk.FieldError{{Path: "nested.max", Message: "must be a whole number, not string"}}},
		{"whole config is not an object", `[1, 2]`, []sdk.FieldError{{Path: "", Message: "must be a mapping, not array"}}},
		{"every type error", `{"limit": "x", "name": 1, "enabled": 0}`, []sdk.FieldError{
			{Path: "enabled", Message: "must be true or false, not number"},
			{Path: "limit", Message: "must be a whole number, not string"},
			{Path: "name", Message: "must be a string, not number"},
		}},
		{"unknown fields and the type error together", `{"limit": "x", "nested": {"max": 1, "min": 1}, "bogus": 1}`, []sdk.FieldError{
			{Path: "bogus", Message: "unknown field"},
			{Path: "nested.min", Message: "unknown field"},
			{Path: "limit", Message: "must be a whole number, not string"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c pluginConfig
			if got := configProblems(t, decode(tt.raw, &c)); !sameProblems(got, tt.want) {
				t.Errorf("problems = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDecodeConfigTypeErrorPaths checks that a type error inside a list or
// map is reported at the same indexed path an unknown field there would be.
func TestDecodeConfigTypeErrorPaths(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want sdk.FieldError
	}{
		{"in a map of structs", `{"by_role": {"admin": {"max": "x"}}}`, sdk.FieldError{Path: "by_role.admin.max", Message: "must be a whole number, not string"}},
		{"in a slice of structs", `{"servers": [{"port": 1}, {"port": "x"}]}`, sdk.FieldError{Path: "servers[1].port", Message: "must be a whole number, not string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c pluginConfig
			got := configProblems(t, decode(tt.raw, &c))
			if !slices.Equal(got, []sdk.FieldError{tt.want}) {
				t.Errorf("problems = %v, want [%v]", got, tt.want)
			}
		})
	}
}

func TestDecodeConfigInvalidJSON(t *testing.T) {
	for _, raw := range []string{`{`, `{"a": }`, `{"name": "x",}`, `not json`, `{} {}`, `{"name": "x"} trailing`} {
		t.Run(raw, func(t *testing.T) {
			var c pluginConfig
			got := configProblems(t, decode(raw, &c))
			if len(got) != 1 || got[0].Path != "" || !strings.HasPrefix(got[0].Message, "not valid JSON: ") {
				t.Errorf("problems = %v, want one path-less \"not valid JSON\" problem", got)
			}
		})
	}
}

// TestDecodeConfigEmbeddedStruct checks that the fields of an embedded
// struct, which encoding/json promotes to the outer object, are known.
func TestDecodeConfigEmbeddedStruct(t *testing.T) {
	type Common struct {
		Timeout int `json:"timeout"`
	}
	type withEmbedded struct {
		Common
		Name string `json:"name"`
	}
	var c withEmbedded
	if err := decode(`{"timeout": 5, "name": "x"}`, &c); err != nil {
		t.Fatalf("DecodeConfig: %v", err)
	}
	if c.Timeout != 5 || c.Name != "x" {
		t.Errorf("decoded %+v", c)
	}
}

// TestDecodeConfigMapProblemsAreStable checks that problems inside a map come
// in key order, as those of a struct do, so that the same mistake always
// reads the same.
func TestDecodeConfigMapProblemsAreStable(t *testing.T) {
	raw := `{"by_role": {"d": {"x": 1}, "b": {"x": 1}, "a": {"x": 1}, "c": {"x": 1}}}`
	want := []sdk.FieldError{
		{Path: "by_role.a.x", Message: "unknown field"},
		{Path: "by_role.b.x", Message: "unknown field"},
		{Path: "by_role.c.x", Message: "unknown field"},
		{Path: "by_role.d.x", Message: "unknown field"},
	}
	for range 20 {
		var c pluginConfig
		if got := configProblems(t, decode(raw, &c)); !slices.Equal(got, want) {
			t.Fatalf("problems = %v, want %v", got, want)
		}
	}
}
