// Package configcheck is what the first-party plugins' ParseConfig
// functions share: collecting every problem of a configuration at its
// path, so that one *sdk.ConfigError lists them all, and decoding strictly
// without stopping at the first wrong value.
package configcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Problems collects configuration problems at their paths.
type Problems []sdk.FieldError

// Add records a problem at path.
func (p *Problems) Add(path, format string, args ...any) {
	*p = append(*p, sdk.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Decode decodes raw strictly into v (sdk.ConfigureRequest.DecodeConfig).
// When that finds problems (an unknown field, a value of the wrong type),
// it returns them, and still fills v with what can be read, so that the
// caller checks the other settings too and reports everything at once.
// Any other error is returned as is.
func Decode(raw json.RawMessage, v any) (Problems, error) {
	var decodeErr *sdk.ConfigError
	err := (&sdk.ConfigureRequest{Config: raw}).DecodeConfig(v)
	if errors.As(err, &decodeErr) {
		_ = json.Unmarshal(raw, v) // read what can be read, to check the rest too
		return Problems(decodeErr.Problems), nil
	}
	return nil, err
}

// With returns the decoding problems and then the checks' problems, but
// for those at or under a path decoding already found wrong: a value of
// the wrong type is not also said to be empty.
func (decoding Problems) With(checks Problems) Problems {
	out := slices.Clone(decoding)
	for _, c := range checks {
		if !slices.ContainsFunc(decoding, func(d sdk.FieldError) bool {
			return c.Path == d.Path || strings.HasPrefix(c.Path, d.Path+".") || strings.HasPrefix(c.Path, d.Path+"[")
		}) {
			out = append(out, c)
		}
	}
	return out
}

// Err returns the problems as one *sdk.ConfigError, or nil when there are
// none.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &sdk.ConfigError{Problems: p}
}

// roleName is the host's rule for a role's name
// (host/storage.ValidateRoleName): a role the host could not hold would
// fail every login that maps to it, so it is refused when the
// configuration is read.
var roleName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Roles checks a backend's map of group names to the local roles each
// gives, at path ("roles"): every group named, every list not empty, every
// role a name the host can hold. It returns the map with each list sorted
// and without repeats, and the distinct roles it names, in order.
func Roles(ps *Problems, path string, m map[string][]string) (map[string][]string, []string) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string][]string, len(m))
	var all []string
	for _, group := range slices.Sorted(maps.Keys(m)) {
		roles := m[group]
		if strings.TrimSpace(group) == "" {
			ps.Add(path, "a group's name may not be empty")
			continue
		}
		if len(roles) == 0 {
			ps.Add(path+"."+group, "must list at least one role (leave the group out to give it none)")
		}
		for i, r := range roles {
			if !roleName.MatchString(r) {
				ps.Add(fmt.Sprintf("%s.%s[%d]", path, group, i), "must be a role name the host can hold: 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-'")
			}
		}
		out[group] = SortedSet(roles)
		all = append(all, roles...)
	}
	return out, SortedSet(all)
}

// SortedSet returns the distinct values of xs, sorted.
func SortedSet(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}
