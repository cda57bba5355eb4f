package accesstoken

import (
	"errors"
	"fmt"
	"strconv"
)

// Bounds on the authorization an access token carries (claims roles and
// permissions). A user whose roles and permissions do not fit gets a
// token with neither, and permissions_overflow set: every permission
// check with it fails (ReasonPermissionsOverflow) but for a superuser's.
const (
	// MaxTokenRoles is the most role names a token carries.
	MaxTokenRoles = 64
	// MaxTokenPermissions is the most permissions a token carries.
	MaxTokenPermissions = 256
	// MaxTokenAuthzBytes bounds the JSON of the roles and permissions
	// claims together, so that a token stays well under MaxLength
	// whatever its names.
	MaxTokenAuthzBytes = 4096
)

// MaxPermissionLength is the longest permission, in bytes.
const MaxPermissionLength = 128

// MaxCheckPermissions is the most permissions one check may ask about.
const MaxCheckPermissions = MaxTokenPermissions

// The modes of a permission check.
const (
	// ModeAll passes when every permission asked about is held (the
	// default).
	ModeAll = "all"
	// ModeAny passes when at least one of them is held.
	ModeAny = "any"
)

// The reasons a permission check fails, as the permission_check_failed
// signal and the host's POST /v1/permissions/check give them.
const (
	// ReasonUserNotAuthenticated: there is no valid token.
	ReasonUserNotAuthenticated = "user_not_authenticated"
	// ReasonMissingPermissions: the token lacks what the mode asks for.
	ReasonMissingPermissions = "missing_permissions"
	// ReasonPermissionsOverflow: the user's roles and permissions did not
	// fit in the token, which carries none of them.
	ReasonPermissionsOverflow = "permissions_overflow"
	// ReasonInvalidCheck: the check itself is not valid (no permission,
	// an invalid one, an unknown mode); see ValidatePermissionCheck.
	ReasonInvalidCheck = "invalid_request"
)

// ErrInvalidCheck is what ValidatePermission and ValidatePermissionCheck
// errors are (errors.Is). Their messages say what is wrong, fit for a 400
// answer, and do not repeat this error's.
var ErrInvalidCheck = errors.New("invalid permission check")

// checkError is a refused check or permission.
type checkError struct{ msg string }

func (e *checkError) Error() string        { return e.msg }
func (e *checkError) Is(target error) bool { return target == ErrInvalidCheck }

func invalidCheck(format string, args ...any) error {
	return &checkError{fmt.Sprintf(format, args...)}
}

// ValidatePermission checks a permission's form: 1 to
// MaxPermissionLength bytes, each printable ASCII other than the space
// ('!' to '~'). Permissions compare byte for byte: "Orders.Read" and
// "orders.read" are two permissions.
func ValidatePermission(p string) error {
	if p == "" {
		return invalidCheck("a permission must not be empty")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c > '~' {
			quoted := ""
			if len(p) <= 4*MaxPermissionLength {
				quoted = " " + strconv.QuoteToASCII(p)
			}
			return invalidCheck("permission%s holds %s: a permission is made of printable ASCII characters other than the space",
				quoted, describeByte(c))
		}
	}
	if len(p) > MaxPermissionLength {
		return invalidCheck("a permission is longer than %d bytes", MaxPermissionLength)
	}
	return nil
}

func describeByte(c byte) string {
	if c == ' ' {
		return "a space"
	}
	return fmt.Sprintf("the byte 0x%02X", c)
}

// ValidatePermissionCheck checks a check before it is made: mode is ModeAll,
// ModeAny or "" (ModeAll), and perms holds 1 to MaxCheckPermissions valid
// permissions. An empty list is refused, never a check that passes by
// asking for nothing.
func ValidatePermissionCheck(mode string, perms []string) error {
	if mode != "" && mode != ModeAll && mode != ModeAny {
		quoted := strconv.QuoteToASCII(mode)
		if len(mode) > 16 {
			quoted = "given"
		}
		return invalidCheck("mode %s is not %q or %q", quoted, ModeAll, ModeAny)
	}
	if len(perms) == 0 {
		return invalidCheck("name at least one permission to check")
	}
	if len(perms) > MaxCheckPermissions {
		return invalidCheck("a check names at most %d permissions, not %d", MaxCheckPermissions, len(perms))
	}
	for _, p := range perms {
		if err := ValidatePermission(p); err != nil {
			return err
		}
	}
	return nil
}

// CheckPermissions decides whether the holder of a verified token with
// claims passes a check of perms in mode. It is the one rule the host's
// POST /v1/permissions/check and the Go client's middleware both apply,
// in this order:
//
//   - a check that ValidatePermissionCheck refuses fails
//     (ReasonInvalidCheck), listing nothing as missing;
//   - no claims (no valid token): fails, ReasonUserNotAuthenticated;
//   - a superuser's token passes every check;
//   - a token whose authorization did not fit (PermissionsOverflow) fails,
//     ReasonPermissionsOverflow;
//   - ModeAll passes when every permission is among the token's
//     permissions, ModeAny when at least one is; otherwise it fails,
//     ReasonMissingPermissions.
//
// missing lists, in the order asked and without repeats, the permissions
// the check lacks: none when it passes, every one asked about when it
// fails for want of a token or for an overflow, and for ModeAny every one
// when none is held. reason is empty when allowed.
func CheckPermissions(claims *Claims, mode string, perms []string) (allowed bool, missing []string, reason string) {
	if err := ValidatePermissionCheck(mode, perms); err != nil {
		return false, []string{}, ReasonInvalidCheck
	}
	asked := distinct(perms)
	switch {
	case claims == nil:
		return false, asked, ReasonUserNotAuthenticated
	case claims.Superuser:
		return true, []string{}, ""
	case claims.PermissionsOverflow:
		return false, asked, ReasonPermissionsOverflow
	}
	held := make(map[string]struct{}, len(claims.Permissions))
	for _, p := range claims.Permissions {
		held[p] = struct{}{}
	}
	missing = []string{}
	for _, p := range asked {
		if _, ok := held[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 || (mode == ModeAny && len(missing) < len(asked)) {
		return true, []string{}, ""
	}
	return false, missing, ReasonMissingPermissions
}

// distinct returns perms without repeats, in their order.
func distinct(perms []string) []string {
	out := make([]string, 0, len(perms))
	seen := make(map[string]struct{}, len(perms))
	for _, p := range perms {
		if _, dup := seen[p]; !dup {
			seen[p] = struct{}{}
			out = append(out, p)
		}
	}
	return out
}
