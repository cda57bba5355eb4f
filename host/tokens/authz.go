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

// CurrentAuthz returns what an access token minted now for subject would
// carry of its authorization (Roles, Permissions, Superuser,
// PermissionsOverflow; no other claim), read from the store: for a cookie
// session, whose every use is checked against the store.
func (i *Issuer) CurrentAuthz(ctx context.Context, subject string) (*accesstoken.Claims, error) {
	a, err := i.store.UserAuthz(ctx, subject)
	if err != nil {
		return nil, err
	}
	claims := &accesstoken.Claims{}
	SetAuthz(claims, a)
	return claims, nil
}
