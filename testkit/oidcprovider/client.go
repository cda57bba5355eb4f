package oidcprovider

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// GroupsScope is accepted at the authorization endpoint so a relying
// party that asks for it is not refused; the groups claim itself is
// always sent, see [User].
const GroupsScope = "groups"

// opClient is a registered confidential web client as the op package
// sees it: authorization code flow only, secret sent with HTTP Basic or
// in the form, refresh tokens allowed.
type opClient struct {
	Client
}

var _ op.Client = (*opClient)(nil)

func (c *opClient) GetID() string                    { return c.ID }
func (c *opClient) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string { return nil }
func (c *opClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c *opClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

// LoginURL sends the browser to this package's login form, which signs
// the user in and hands the request back to the op's callback.
func (c *opClient) LoginURL(authRequestID string) string {
	return loginPath + "?" + url.Values{"authRequestID": {authRequestID}}.Encode()
}

func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration      { return time.Hour }

// DevMode stays off so redirect URIs are checked as strictly as a
// production provider would.
func (c *opClient) DevMode() bool { return false }

func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c *opClient) IsScopeAllowed(scope string) bool { return scope == GroupsScope }

// IDTokenUserinfoClaimsAssertion puts the profile and email claims in the
// ID token even though an access token is issued too: relying parties
// such as the login plugin read them from the ID token and do not call
// the userinfo endpoint.
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
