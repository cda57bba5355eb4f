package hostside

import (
	"fmt"
	"slices"
	"strconv"
)

// maxIdentityRoles bounds the roles one identity may carry: as many as an
// access token carries. A directory that maps a user to more is
// misconfigured, and a login that would silently lose some of them must
// not pass.
const maxIdentityRoles = 64

// maxRoleName is the longest role name the host stores.
const maxRoleName = 64

// identityRoles checks the roles a plugin vouched for and returns them
// sorted, without repeats (nil for none). The host gives these names to
// tokens and sessions, so a name it could not hold as a role (the host's
// rule, host/storage.ValidateRoleName: 1 to 64 of A-Z, a-z, 0-9, '.', '_'
// and '-') makes the whole answer no decision rather than being dropped:
// a login must not quietly get fewer, or other, roles than the backend
// meant. The rule is repeated here because nothing under sdk/ imports
// the host; a host test checks that the two agree.
func identityRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	// Repeats are one role, here as in storage.VouchedRoles: a plugin in
	// another language may send them.
	out := slices.Clone(roles)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxIdentityRoles {
		return nil, fmt.Errorf("the identity carries %d roles, more than %d", len(out), maxIdentityRoles)
	}
	for _, r := range out {
		if err := checkRoleName(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func checkRoleName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the identity carries an empty role name")
	case len(name) > maxRoleName:
		return fmt.Errorf("the identity carries a role name longer than %d characters", maxRoleName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("the identity carries the role name %s: a role name is made of A-Z, a-z, 0-9, '.', '_' and '-'", strconv.QuoteToASCII(name))
		}
	}
	return nil
}
