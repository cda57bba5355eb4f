package tokens

import (
	"context"
	"encoding/json"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
)

// SetAuthz puts a user's authorization into claims: roles, permissions
// and superuser. When they do not fit within accesstoken.MaxTokenRoles,
// MaxTokenPermissions and MaxTokenAuthzBytes, claims get neither roles nor
// permissions but PermissionsOverflow, so that every permission check
// with the token fails (a superuser's passes: Superuser is always set).
// A user without roles gets empty lists, which a token carries as [].
func SetAuthz(claims *accesstoken.Claims, a storage.Authz) {
	claims.Superuser = a.Superuser
	if !authzFits(a) {
		claims.Roles, claims.Permissions, claims.PermissionsOverflow = nil, nil, true
		return
	}
	claims.Roles, claims.Permissions, claims.PermissionsOverflow = nonNil(a.Roles), nonNil(a.Permissions), false
}

// authzFits reports whether a's roles and permissions fit in a token.
func authzFits(a storage.Authz) bool {
	if len(a.Roles) > accesstoken.MaxTokenRoles || len(a.Permissions) > accesstoken.MaxTokenPermissions {
		return false
	}
	roles, err1 := json.Marshal(a.Roles)
	perms, err2 := json.Marshal(a.Permissions)
	return err1 == nil && err2 == nil && len(roles)+len(perms) <= accesstoken.MaxTokenAuthzBytes
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// CurrentAuthz returns what an access token minted now for the session
// sess would carry of its authorization (Roles, Permissions, Superuser,
// PermissionsOverflow; no other claim), read from the store: for a cookie
// session, whose every use is checked against the store. The users table
// is read only for a session whose subject was a user of it at login.
func (i *Issuer) CurrentAuthz(ctx context.Context, sess storage.Session) (*accesstoken.Claims, error) {
	a, err := i.sessionAuthz(ctx, sess, sess.Local)
	if err != nil {
		return nil, err
	}
	claims := &accesstoken.Claims{}
	SetAuthz(claims, a)
	return claims, nil
}

// sessionAuthz is what a token of sess carries: the roles (and superuser
// flag) the users table gives its subject, when userTable is set, with
// the roles its login's backend vouched for (Session.Roles), and the
// permissions of both as the roles table grants them now. The vouched
// roles are the login's, not read again from the backend: a role the
// directory takes away stays until the session ends, and the next login
// vouches again.
func (i *Issuer) sessionAuthz(ctx context.Context, sess storage.Session, userTable bool) (storage.Authz, error) {
	var a storage.Authz
	if userTable {
		var err error
		if a, err = i.store.UserAuthz(ctx, sess.Subject); err != nil {
			return storage.Authz{}, err
		}
	}
	if len(sess.Roles) == 0 {
		return a, nil
	}
	vouched, err := i.store.RolesAuthz(ctx, sess.Roles)
	if err != nil {
		return storage.Authz{}, err
	}
	return a.Union(vouched), nil
}
