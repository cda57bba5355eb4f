package configcheck

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

func TestDecodeKeepsReadingAndWithDropsEchoes(t *testing.T) {
	var c struct {
		Name  string `json:"name"`
		Limit int    `json:"limit"`
		Tags  struct {
			Color string `json:"color"`
		} `json:"tags"`
	}
	decoding, err := Decode(json.RawMessage(`{"name": "a", "limit": "five", "extra": 1}`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "a" {
		t.Errorf("what could be read was not: name %q", c.Name)
	}
	var checks Problems
	checks.Add("limit", "must be > 0")      // echoes the wrong type: dropped
	checks.Add("tags.color", "is required") // a problem of its own: kept
	got := decoding.With(checks)
	paths := map[string]bool{}
	for _, p := range got {
		paths[p.Path] = true
	}
	if !paths["limit"] || !paths["extra"] || !paths["tags.color"] || len(got) != 3 {
		t.Errorf("problems %+v; want limit (its type), extra and tags.color once each", got)
	}
	var ce *sdk.ConfigError
	if err := got.Err(); !errors.As(err, &ce) || len(ce.Problems) != 3 {
		t.Errorf("Err() = %v", err)
	}
	if err := Problems(nil).Err(); err != nil {
		t.Errorf("no problems gave %v", err)
	}
	if _, err := Decode(json.RawMessage(`{"name": "b"}`), &c); err != nil || c.Name != "b" {
		t.Errorf("a valid configuration: %v, name %q", err, c.Name)
	}
}

func TestRoles(t *testing.T) {
	var ps Problems
	got, all := Roles(&ps, "roles", map[string][]string{
		"admins":  {"ops", "admin", "ops"},
		"auditor": {"Audit Team"},
		"empty":   {},
		" ":       {"x"},
	})
	want := map[string][]string{"admins": {"admin", "ops"}, "auditor": {"Audit Team"}, "empty": nil}
	for g, roles := range want {
		if !slices.Equal(got[g], roles) {
			t.Errorf("roles of %q: %q, want %q", g, got[g], roles)
		}
	}
	if _, ok := got[" "]; ok {
		t.Error("a group without a name was kept")
	}
	if !slices.Equal(all, []string{"Audit Team", "admin", "ops"}) {
		t.Errorf("all roles: %q", all)
	}
	paths := map[string]bool{}
	for _, p := range ps {
		paths[p.Path] = true
	}
	for _, p := range []string{"roles", "roles.auditor[0]", "roles.empty"} {
		if !paths[p] {
			t.Errorf("no problem at %s: %+v", p, ps)
		}
	}
	if len(ps) != 3 {
		t.Errorf("%d problems, want 3: %+v", len(ps), ps)
	}
}
