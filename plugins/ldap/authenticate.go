package ldap

import (
	"context"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-auth/portcullis/sdk"
)

// found is a user whose password the directory accepted: the entry with
// the attributes the identity is made of, and the groups.
type found struct {
	entry  *goldap.Entry
	groups []group
}

// Authenticate implements sdk.Authenticator.
//
// An empty password is refused before anything is sent to the directory:
// a simple bind with a DN and an empty password is an "unauthenticated
// bind" (RFC 4513 section 5.1.2), which many directories answer with
// success, as anonymous. A user the directory does not know, or a wrong
// password, abstains with invalid_credentials, so that a later backend may
// know the user; a directory that cannot be reached, does not answer in
// time, fails TLS or answers what the plugin cannot read is an error, and
// never a grant.
func (b *Backend) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	if err := b.ready(); err != nil {
		return err
	}
	if req.Password == "" || req.Username == "" {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
	defer cancel()
	var u *found
	var err error
	if b.s.SearchMode() {
		u, err = b.searchThenBind(ctx, req)
	} else {
		u, err = b.bindAsUser(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("ldap: %w", err)
	}
	if u == nil {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	id, err := b.identity(u, req.Username)
	if err != nil {
		return fmt.Errorf("ldap: %w", err)
	}
	resp.Grant(id)
	return nil
}

// bindAsUser binds as the DN the template makes of the login name, then
// reads the user's entry and groups as the user, on the same connection.
// A user the directory does not know and a wrong password are one answer
// to a bind (invalid credentials), so they cost the plugin the same; what
// they cost the directory is its own (docs/ldap.md, timing).
func (b *Backend) bindAsUser(ctx context.Context, req *sdk.AuthenticateRequest) (*found, error) {
	dn := strings.ReplaceAll(b.s.UserDN, phUsername, goldap.EscapeDN(req.Username))
	var u *found
	ok, err := b.bindAs(ctx, dn, req.Password, func(c *conn) error {
		entry, err := b.readEntry(c, dn)
		if err != nil {
			return err
		}
		groups, err := b.groupsOf(c, entry)
		if err != nil {
			return err
		}
		u = &found{entry: entry, groups: groups}
		return nil
	})
	if err != nil || !ok {
		return nil, err
	}
	return u, nil
}

// searchThenBind finds the user's entry as the service account, binds as
// it with the password on a connection of the bind pool, and then looks
// the groups up as the service account. When no entry, or more than one,
// matches, it binds the decoy instead, so that an unknown user costs a
// search and a bind, as a known one with a wrong password does.
func (b *Backend) searchThenBind(ctx context.Context, req *sdk.AuthenticateRequest) (*found, error) {
	filter := strings.ReplaceAll(b.s.UserFilter, phUsername, goldap.EscapeFilter(req.Username))
	var entries []*goldap.Entry
	err := b.service.do(ctx, func(c *conn) (bool, error) {
		// Two are enough to know the filter is ambiguous.
		res, err := c.Search(&goldap.SearchRequest{
			BaseDN: b.s.UserBase, Scope: b.s.UserScope, DerefAliases: goldap.NeverDerefAliases,
			SizeLimit: 2, Filter: filter, Attributes: b.userAttributes(),
		})
		if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			err = nil
		}
		if err != nil {
			return true, fmt.Errorf("searching for the user under %s: %w", b.s.UserBase, err)
		}
		entries = res.Entries
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if len(entries) != 1 {
		if len(entries) > 1 {
			b.log.Warn("ldap: the user filter matches more than one entry; the login is refused as for an unknown user",
				"entries", len(entries), "request_id", req.RequestID)
		}
		if _, err := b.bindAs(ctx, b.decoyDN, req.Password, nil); err != nil {
			return nil, err
		}
		return nil, nil
	}
	entry := entries[0]
	ok, err := b.bindAs(ctx, entry.DN, req.Password, nil)
	if err != nil || !ok {
		return nil, err
	}
	u := &found{entry: entry}
	if b.s.GroupBase == "" {
		u.groups, err = b.groupsOf(nil, entry)
		return u, err
	}
	err = b.service.do(ctx, func(c *conn) (bool, error) {
		groups, err := b.groupsOf(c, entry)
		u.groups = groups
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// bindAs binds as dn with password on a connection of the bind pool and,
// if the directory accepts it and then is set, runs then on the
// connection, which is bound as dn. It reports whether the directory
// accepted the password. Invalid credentials, and a DN the directory
// says does not exist or cannot be a DN, are a refusal; any other answer
// is an error: the plugin cannot tell what it means.
func (b *Backend) bindAs(ctx context.Context, dn, password string, then func(*conn) error) (bool, error) {
	if password == "" {
		return false, nil // never sent: it would be an unauthenticated bind
	}
	ok := false
	err := b.binds.do(ctx, func(c *conn) (bool, error) {
		ok = false
		err := c.Bind(dn, password)
		switch {
		case goldap.IsErrorAnyOf(err, goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInvalidDNSyntax, goldap.LDAPResultNoSuchObject):
			// A failed bind leaves the connection anonymous (RFC 4511
			// section 4.2.1): it may serve the next login, which binds
			// first.
			return true, nil
		case err != nil:
			return true, fmt.Errorf("binding as the user: %w", err)
		}
		ok = true
		if then != nil {
			if err := then(c); err != nil {
				return true, err
			}
		}
		return true, nil
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// userAttributes are the attributes read from a user's entry. The
// subject's attribute is asked for by name: entryUUID is an operational
// attribute, which a directory sends only when asked.
func (b *Backend) userAttributes() []string {
	attrs := []string{b.s.UsernameAttribute}
	if b.s.SubjectAttribute != SubjectDN {
		attrs = append(attrs, b.s.SubjectAttribute)
	}
	if b.s.GroupAttribute != "" {
		attrs = append(attrs, b.s.GroupAttribute)
	}
	return attrs
}

// readEntry reads the entry at dn, on a connection bound as its user.
func (b *Backend) readEntry(c *conn, dn string) (*goldap.Entry, error) {
	res, err := c.Search(&goldap.SearchRequest{
		BaseDN: dn, Scope: goldap.ScopeBaseObject, DerefAliases: goldap.NeverDerefAliases,
		SizeLimit: 1, Filter: "(objectClass=*)", Attributes: b.userAttributes(),
	})
	if err == nil && len(res.Entries) != 1 {
		err = fmt.Errorf("%d entries", len(res.Entries))
	}
	if err != nil {
		return nil, fmt.Errorf("the user's bind succeeded but the user cannot read its own entry (check the directory's access rules): %w", err)
	}
	return res.Entries[0], nil
}
