package oidcprovider

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// authRequest is one authorization request between the authorization
// endpoint and the code exchange. The op package reads it through the
// op.AuthRequest interface; the login handler completes it by setting the
// subject, which is what lets the op's callback issue a code.
type authRequest struct {
	id            string
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge

	subject  string // set once the user has signed in
	authTime time.Time
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string       { return a.id }
func (a *authRequest) GetACR() string      { return "" }
func (a *authRequest) GetClientID() string { return a.clientID }
func (a *authRequest) GetNonce() string    { return a.nonce }
func (a *authRequest) GetState() string    { return a.state }
func (a *authRequest) GetSubject() string  { return a.subject }
func (a *authRequest) GetScopes() []string { return a.scopes }

// GetAudience names the requesting client only, so an ID token minted
// for another client fails the relying party's audience check.
func (a *authRequest) GetAudience() []string { return []string{a.clientID} }

func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) Done() bool                            { return a.subject != "" }
func (a *authRequest) GetAMR() []string {
	if a.Done() {
		return []string{"pwd"}
	}
	return nil
}

// accessToken is what an opaque access token stands for; the userinfo
// endpoint answers from it.
type accessToken struct {
	id         string
	clientID   string
	subject    string
	scopes     []string
	expiration time.Time
}

// refreshToken carries what a refresh grant needs to mint new tokens
// without the user: who signed in, when, and for which client and scopes.
type refreshToken struct {
	token      string
	clientID   string
	subject    string
	scopes     []string
	amr        []string
	authTime   time.Time
	expiration time.Time
}

// refreshRequest is the op.RefreshTokenRequest view of a stored refresh
// token. It is a copy, so a scope narrowing by the op does not change
// the stored token.
type refreshRequest struct {
	refreshToken
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string                 { return r.amr }
func (r *refreshRequest) GetAudience() []string            { return []string{r.clientID} }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.authTime }
func (r *refreshRequest) GetClientID() string              { return r.clientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return r.subject }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }
