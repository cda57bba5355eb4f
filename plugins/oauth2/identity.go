package oauth2

import (
	"encoding/json"
	"strings"

	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// identity maps the claims the provider vouched for to an Identity, by
// the configuration: whose subject (qualified by the issuer, so that two
// providers' subjects never meet), which claims hold the username, the
// email and the groups, and which local roles the groups give. A user
// without a subject or a username is no identity the host could map.
func (s *Settings) identity(issuer, subject string, claims map[string]any) (*redirect.Identity, *failure) {
	if subject == "" {
		return nil, fail(redirect.FailureNoIdentity, "the provider named no subject (%s)", s.Claims.Subject)
	}
	username := claimString(claims[s.Claims.Username])
	if username == "" {
		return nil, fail(redirect.FailureNoIdentity, "the provider's identity has no %s claim, which claims.username names", s.Claims.Username)
	}
	id := &redirect.Identity{
		Subject:       issuer + "#" + subject,
		Username:      username,
		Email:         claimString(claims[s.Claims.Email]),
		EmailVerified: claimBool(claims["email_verified"]),
		Provisioning:  s.Provisioning,
	}
	var roles []string
	for _, g := range claimStrings(claims[s.Claims.Groups]) {
		roles = append(roles, s.Roles[g]...)
	}
	if len(roles) > 0 {
		id.Roles = configcheck.SortedSet(roles)
	}
	return id, nil
}

// claimString returns a claim's text: a string, or a number as it was
// written (a plain provider's user ids often are numbers). Anything else
// is no text.
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		return ""
	}
}

// claimBool reads a boolean claim, which some providers send as the text
// "true"; absent or anything else is false.
func claimBool(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	default:
		return false
	}
}

// claimStrings reads a list of names: an array's strings, or a single
// string.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	default:
		return nil
	}
}
