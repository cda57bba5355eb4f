package ldap

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
	"github.com/portcullis-auth/portcullis/sdk"
)

// SubjectPrefix begins every subject the plugin gives, so that a
// directory's user never has the id of one of the host's own users (a
// UUID) or of another kind of backend's.
const SubjectPrefix = "ldap:"

// maxSubject is the longest subject the host stores.
const maxSubject = 255

// group is one of a user's groups: its DN and its name (the value of the
// name attribute, cn by default).
type group struct {
	dn   string
	name string
}

// roleRule gives roles to a group, named by its DN or by its name.
type roleRule struct {
	dn    *goldap.DN // set when the configuration names the group by DN
	name  string
	roles []string
}

// roleRules makes the rules of a roles map. A key with '=' is a DN,
// compared with a group's DN as LDAP compares DNs (without regard to case
// or spacing); any other is compared with a group's name without regard to
// case, as the directory compares cn.
func roleRules(m map[string][]string) ([]roleRule, error) {
	var rules []roleRule
	for _, key := range slices.Sorted(maps.Keys(m)) {
		r := roleRule{name: key, roles: m[key]}
		if strings.Contains(key, "=") {
			dn, err := goldap.ParseDN(key)
			if err != nil {
				return nil, fmt.Errorf("roles.%s: %w", key, err)
			}
			r.dn = dn
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func (r roleRule) matches(g group) bool {
	if r.dn == nil {
		return g.name != "" && strings.EqualFold(r.name, g.name)
	}
	dn, err := goldap.ParseDN(g.dn)
	return err == nil && r.dn.EqualFold(dn)
}

// groupsOf returns the groups of the user of entry: read from its group
// attribute, or searched for on c. A search the directory cuts short (a
// size limit) is an error rather than fewer groups: the roles would be
// wrong.
func (b *Backend) groupsOf(c *conn, entry *goldap.Entry) ([]group, error) {
	switch {
	case b.s.GroupAttribute != "":
		var groups []group
		for _, v := range entry.GetEqualFoldAttributeValues(b.s.GroupAttribute) {
			groups = append(groups, group{dn: v, name: b.firstRDNName(v)})
		}
		return groups, nil
	case b.s.GroupBase != "":
		filter := strings.NewReplacer(
			phDN, goldap.EscapeFilter(entry.DN),
			phUsername, goldap.EscapeFilter(b.username(entry, "")),
		).Replace(b.s.GroupFilter)
		res, err := c.Search(&goldap.SearchRequest{
			BaseDN: b.s.GroupBase, Scope: b.s.GroupScope, DerefAliases: goldap.NeverDerefAliases,
			Filter: filter, Attributes: []string{b.s.GroupName},
		})
		if err != nil {
			return nil, fmt.Errorf("looking up the user's groups under %s: %w", b.s.GroupBase, err)
		}
		groups := make([]group, 0, len(res.Entries))
		for _, e := range res.Entries {
			groups = append(groups, group{dn: e.DN, name: e.GetEqualFoldAttributeValue(b.s.GroupName)})
		}
		return groups, nil
	}
	return nil, nil
}

// firstRDNName returns the name of the group whose DN is dn: the value of
// its first RDN when that is the name attribute (cn=admins,ou=groups,...
// is "admins"); "" otherwise, and the group then matches only by DN.
func (b *Backend) firstRDNName(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 {
		return ""
	}
	for _, a := range parsed.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, b.s.GroupName) {
			return a.Value
		}
	}
	return ""
}

// identity makes the identity of a user whose password the directory
// accepted.
func (b *Backend) identity(u *found, login string) (sdk.Identity, error) {
	subject, err := b.subject(u.entry)
	if err != nil {
		return sdk.Identity{}, err
	}
	roles, err := b.rolesOf(u.groups)
	if err != nil {
		return sdk.Identity{}, err
	}
	return sdk.Identity{Subject: subject, Username: b.username(u.entry, login), Roles: roles}, nil
}

// subject is SubjectPrefix and the entry's subject attribute, or its DN.
// An entry without exactly one value of the attribute cannot be told
// apart from others, so it is an error, not a login under another id.
func (b *Backend) subject(entry *goldap.Entry) (string, error) {
	var id string
	if b.s.SubjectAttribute == SubjectDN {
		id = entry.DN
	} else {
		values := entry.GetEqualFoldRawAttributeValues(b.s.SubjectAttribute)
		if len(values) != 1 {
			return "", fmt.Errorf("the user's entry has %d values of %s (subject_attribute), not one: the user cannot be given an id", len(values), b.s.SubjectAttribute)
		}
		id = printable(values[0])
	}
	if id == "" {
		return "", fmt.Errorf("the user's %s (subject_attribute) is empty", b.s.SubjectAttribute)
	}
	subject := SubjectPrefix + id
	if len(subject) > maxSubject {
		return "", fmt.Errorf("the user's id (%s) is longer than the %d bytes the host stores: use a shorter subject_attribute, such as entryUUID", b.s.SubjectAttribute, maxSubject)
	}
	return subject, nil
}

// printable returns v as text when it is printable UTF-8 (entryUUID,
// uidNumber), else in hex (a binary id such as Active Directory's
// objectGUID).
func printable(v []byte) string {
	s := string(v)
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	return hex.EncodeToString(v)
}

// username is the login name as the directory spells it: the value of
// the username attribute that matches login without regard to case, else
// its first value, else login itself.
func (b *Backend) username(entry *goldap.Entry, login string) string {
	values := entry.GetEqualFoldAttributeValues(b.s.UsernameAttribute)
	for _, v := range values {
		if login != "" && strings.EqualFold(v, login) {
			return v
		}
	}
	if len(values) > 0 {
		return values[0]
	}
	return login
}

// rolesOf maps groups to roles, sorted and without repeats. More roles
// than the host takes from one identity is an error: the host would refuse
// the answer anyway, and this says why.
func (b *Backend) rolesOf(groups []group) ([]string, error) {
	var roles []string
	for _, r := range b.roles {
		if slices.ContainsFunc(groups, r.matches) {
			roles = append(roles, r.roles...)
		}
	}
	roles = configcheck.SortedSet(roles)
	if len(roles) > MaxRoles {
		return nil, fmt.Errorf("the user's groups give %d roles, more than the %d the host takes from one login", len(roles), MaxRoles)
	}
	if len(roles) == 0 {
		return nil, nil
	}
	return roles, nil
}
