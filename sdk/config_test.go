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

// The messages for a key that is none of a struct's fields: every key is
// listed, in the order the fields are declared.
const (
	notPluginConfig = "unknown key (known: name, limit, ratio, enabled, servers, by_role, nested, labels, tags, extra, free, Untagged)"
	notServer       = "unknown key (known: url, port, options)"
	notTLS          = "unknown key (known: verify)"
	notLimits       = "unknown key (known: max)"
)

// decode runs DecodeConfig on raw.
func decode(raw string, v any) error {
	req := &sdk.ConfigureRequest{Config: json.RawMessage(raw)}
	return req.DecodeConfig(v)
}

// configProblems returns the paths and messages of the problems of a
// *sdk.ConfigError, failing the test for any other error.
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
	// What crosses the wire: the paths and messages.
	var out []sdk.FieldError
	for _, p := range cfgErr.Problems {
		out = append(out, sdk.FieldError{Path: p.Path, Message: p.Message})
	}
	return out
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
		{"top level", `{"nmae": "x"}`, []sdk.FieldError{{Path: "nmae", Message: notPluginConfig}}},
		{"several at top level", `{"b": 1, "a": 2, "name": "ok"}`, []sdk.FieldError{
			{Path: "a", Message: notPluginConfig}, {Path: "b", Message: notPluginConfig},
		}},
		{"nested struct", `{"nested": {"max": 1, "min": 0}}`, []sdk.FieldError{{Path: "nested.min", Message: notLimits}}},
		{"slice of structs", `{"servers": [{"url": "a"}, {"url": "b", "host": "h"}, {"prot": 1}]}`, []sdk.FieldError{
			{Path: "servers[1].host", Message: notServer},
			{Path: "servers[2].prot", Message: notServer},
		}},
		{"pointer inside a slice", `{"servers": [{"options": {"verify": true, "ca": "x"}}]}`, []sdk.FieldError{
			{Path: "servers[0].options.ca", Message: notTLS},
		}},
		{"map of structs", `{"by_role": {"admin": {"max": 1, "burst": 2}, "user": {"max": 2}, "guest": {"mx": 0}}}`, []sdk.FieldError{
			{Path: "by_role.admin.burst", Message: notLimits},
			{Path: "by_role.guest.mx", Message: notLimits},
		}},
		{"every depth at once", `{"x": 1, "nested": {"y": 2}, "servers": [{"z": 3}], "by_role": {"r": {"w": 4}}}`, []sdk.FieldError{
			{Path: "x", Message: notPluginConfig},
			{Path: "nested.y", Message: notLimits},
			{Path: "servers[0].z", Message: notServer},
			{Path: "by_role.r.w", Message: notLimits},
		}},
		{"json tag name, not the Go name", `{"Name": "x", "Limit": 1}`, []sdk.FieldError{
			{Path: "Limit", Message: notPluginConfig}, {Path: "Name", Message: notPluginConfig},
		}},
		{"dash-tagged field", `{"Ignored": "x", "-": "y"}`, []sdk.FieldError{
			{Path: "-", Message: notPluginConfig}, {Path: "Ignored", Message: notPluginConfig},
		}},
		{"unexported field", `{"unexported": "x"}`, []sdk.FieldError{{Path: "unexported", Message: notPluginConfig}}},
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
	want := []sdk.FieldError{{Path: "alpha", Message: notPluginConfig}, {Path: "mid", Message: notPluginConfig}, {Path: "zeta", Message: notPluginConfig}}
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
		{"string given a number", `{"name": 5}`, []sdk.FieldError{{Path: "name", Message: "must be a string, not a number"}}},
		{"int given a string", `{"limit": "5"}`, []sdk.FieldError{{Path: "limit", Message: "must be a whole number, not a string"}}},
		{"int given a fraction", `{"limit": 1.5}`, []sdk.FieldError{{Path: "limit", Message: "must be a whole number, not number 1.5"}}},
		{"float given a bool", `{"ratio": true}`, []sdk.FieldError{{Path: "ratio", Message: "must be a number, not a boolean"}}},
		{"bool given a string", `{"enabled": "yes"}`, []sdk.FieldError{{Path: "enabled", Message: "must be true or false, not a string"}}},
		{"list given an object", `{"tags": {"a": 1}}`, []sdk.FieldError{{Path: "tags", Message: "must be a list, not a mapping"}}},
		{"mapping given a list", `{"nested": [1]}`, []sdk.FieldError{{Path: "nested", Message: "must be a mapping, not a list"}}},
		{"map given a string", `{"by_role": "admin"}`, []sdk.FieldError{{Path: "by_role", Message: "must be a mapping, not a string"}}},
		{"nested field", `{"nested": {"max": "lots"}}`, []sdk.FieldError{{Path: "nested.max", Message: "must be a whole number, not a string"}}},
		{"whole config is not an object", `[1, 2]`, []sdk.FieldError{{Path: "", Message: "must be a mapping, not a list"}}},
		{"every type error", `{"limit": "x", "name": 1, "enabled": 0}`, []sdk.FieldError{
			{Path: "enabled", Message: "must be true or false, not a number"},
			{Path: "limit", Message: "must be a whole number, not a string"},
			{Path: "name", Message: "must be a string, not a number"},
		}},
		{"unknown fields and the type error together", `{"limit": "x", "nested": {"max": 1, "min": 1}, "bogus": 1}`, []sdk.FieldError{
			{Path: "bogus", Message: notPluginConfig},
			{Path: "nested.min", Message: notLimits},
			{Path: "limit", Message: "must be a whole number, not a string"},
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
		{"in a map of structs", `{"by_role": {"admin": {"max": "x"}}}`, sdk.FieldError{Path: "by_role.admin.max", Message: "must be a whole number, not a string"}},
		{"in a slice of structs", `{"servers": [{"port": 1}, {"port": "x"}]}`, sdk.FieldError{Path: "servers[1].port", Message: "must be a whole number, not a string"}},
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
		{Path: "by_role.a.x", Message: notLimits},
		{Path: "by_role.b.x", Message: notLimits},
		{Path: "by_role.c.x", Message: notLimits},
		{Path: "by_role.d.x", Message: notLimits},
	}
	for range 20 {
		var c pluginConfig
		if got := configProblems(t, decode(raw, &c)); !slices.Equal(got, want) {
			t.Fatalf("problems = %v, want %v", got, want)
		}
	}
}
