package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	defaultAccessTokenLifetime = 5 * time.Minute
	refreshTokenLifetime       = 5 * time.Hour
)

// errNotFound is what an unknown client, code or token comes to; the op
// package turns it into the protocol error that fits the endpoint.
var errNotFound = errors.New("oidcprovider: not found")

// storage keeps everything the op package asks of a database in memory,
// for the life of one Provider.
type storage struct {
	signing signingKey
	// accessTTL is how long an access token lives.
	accessTTL time.Duration

	mu            sync.Mutex
	users         map[string]User      // by username
	subjects      map[string]User      // by subject
	clients       map[string]*opClient // by client ID
	authRequests  map[string]*authRequest
	codes         map[string]string // code to auth request ID
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken
	// issued is every refresh token ever issued, for tests that check
	// none leaks.
	issued []string
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func newStorage(users []User, clients []Client, accessTTL time.Duration) (*storage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if accessTTL <= 0 {
		accessTTL = defaultAccessTokenLifetime
	}
	s := &storage{
		signing:       signingKey{id: rand.Text(), key: key},
		accessTTL:     accessTTL,
		users:         map[string]User{},
		subjects:      map[string]User{},
		clients:       map[string]*opClient{},
		authRequests:  map[string]*authRequest{},
		codes:         map[string]string{},
		accessTokens:  map[string]*accessToken{},
		refreshTokens: map[string]*refreshToken{},
	}
	for _, u := range users {
		if u.Subject == "" || u.Username == "" {
			return nil, fmt.Errorf("oidcprovider: user %+v needs a Subject and a Username", u)
		}
		if _, dup := s.users[u.Username]; dup {
			return nil, fmt.Errorf("oidcprovider: username %q registered twice", u.Username)
		}
		if _, dup := s.subjects[u.Subject]; dup {
			return nil, fmt.Errorf("oidcprovider: subject %q registered twice", u.Subject)
		}
		s.users[u.Username] = u
		s.subjects[u.Subject] = u
	}
	for _, c := range clients {
		if c.ID == "" || c.Secret == "" || len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("oidcprovider: client %q needs an ID, a Secret and a redirect URI", c.ID)
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("oidcprovider: client %q registered twice", c.ID)
		}
		s.clients[c.ID] = &opClient{Client: c}
	}
	return s, nil
}

// checkPassword signs the user in on the auth request: once it has a
// subject, the op's callback issues the code.
func (s *storage) checkPassword(authRequestID, username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[authRequestID]
	if !ok {
		return errors.New("the sign-in request is unknown or already finished")
	}
	u, ok := s.users[username]
	if !ok || u.Password != password {
		return errors.New("invalid username or password")
	}
	req.subject = u.Subject
	req.authTime = time.Now()
	return nil
}

func (s *storage) authRequest(id string) (*authRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	return req, ok
}

// CreateAuthRequest insists on PKCE with S256, as OAuth 2.1 does, so a
// relying party that forgets it fails its tests here rather than in
// production against a strict provider.
func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method S256 is required")
	}
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	req := &authRequest{
		id:            rand.Text(),
		clientID:      r.ClientID,
		redirectURI:   r.RedirectURI,
		state:         r.State,
		nonce:         r.Nonce,
		scopes:        r.Scopes,
		responseType:  r.ResponseType,
		responseMode:  r.ResponseMode,
		codeChallenge: &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authRequests[req.id] = req
	return req, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	if req, ok := s.authRequest(id); ok {
		return req, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.authRequests[s.codes[code]]; ok {
		return req, nil
	}
	return nil, errNotFound
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest runs once the code has been exchanged; dropping the
// code with it is what makes a code single-use.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for code, reqID := range s.codes {
		if reqID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	clientID := ""
	if c, ok := r.(interface{ GetClientID() string }); ok {
		clientID = c.GetClientID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessToken(clientID, r.GetSubject(), r.GetScopes())
	return t.id, t.expiration, nil
}

// CreateAccessAndRefreshTokens issues a refresh token for a code flow
// that asked for offline_access, and rotates it on a refresh grant: the
// presented token stops working, as a replayed one should.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rt refreshToken
	switch req := r.(type) {
	case *authRequest:
		rt = refreshToken{clientID: req.clientID, subject: req.subject, scopes: req.scopes, amr: req.GetAMR(), authTime: req.authTime}
	case *refreshRequest:
		old, ok := s.refreshTokens[current]
		if !ok || old.clientID != req.clientID {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token unknown or already used")
		}
		delete(s.refreshTokens, current)
		rt = req.refreshToken
	default:
		return "", "", time.Time{}, fmt.Errorf("oidcprovider: no refresh token for a %T", r)
	}
	rt.token = rand.Text()
	rt.expiration = time.Now().Add(refreshTokenLifetime)
	s.refreshTokens[rt.token] = &rt
	s.issued = append(s.issued, rt.token)
	t := s.newAccessToken(rt.clientID, rt.subject, rt.scopes)
	return t.id, rt.token, t.expiration, nil
}

// newAccessToken is called with s.mu held.
func (s *storage) newAccessToken(clientID, subject string, scopes []string) *accessToken {
	t := &accessToken{
		id:         rand.Text(),
		clientID:   clientID,
		subject:    subject,
		scopes:     scopes,
		expiration: time.Now().Add(s.accessTTL),
	}
	s.accessTokens[t.id] = t
	return t
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok || time.Now().After(rt.expiration) {
		return nil, errNotFound
	}
	return &refreshRequest{refreshToken: *rt}, nil
}

func (s *storage) TerminateSession(_ context.Context, subject, clientID string) error {
	s.revoke(subject, clientID)
	return nil
}

// revoke drops every access and refresh token of subject issued to
// clientID, or to any client when clientID is "".
func (s *storage) revoke(subject, clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.accessTokens {
		if t.subject == subject && (clientID == "" || t.clientID == clientID) {
			delete(s.accessTokens, id)
		}
	}
	for tok, rt := range s.refreshTokens {
		if rt.subject == subject && (clientID == "" || rt.clientID == clientID) {
			delete(s.refreshTokens, tok)
		}
	}
}

// issuedRefreshTokens returns every refresh token issued so far.
func (s *storage) issuedRefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.accessTokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.accessTokens, tokenOrID)
	}
	if rt, ok := s.refreshTokens[tokenOrID]; ok {
		if rt.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refreshTokens, tokenOrID)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, _, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt, ok := s.refreshTokens[token]; ok {
		return rt.subject, rt.token, nil
	}
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return &s.signing, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{&s.signing}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if !s.validSecret(id, secret) {
		return errors.New("oidcprovider: wrong client ID or secret")
	}
	return nil
}

func (s *storage) hasClient(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.clients[id]
	return ok
}

func (s *storage) validSecret(id, secret string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return ok && c.Secret == secret
}

// SetUserinfoFromScopes is left empty as the op package asks; the claims
// come from SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, r.GetSubject(), scopes)
}

// SetUserinfoFromToken answers the userinfo endpoint from the access
// token's subject and scopes.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || time.Now().After(t.expiration) {
		return errors.New("oidcprovider: access token unknown or expired")
	}
	return s.setUserinfo(info, subject, t.scopes)
}

// setUserinfo fills the standard claims by scope, as OpenID Connect Core
// section 5.4 says. Groups are sent whatever the scopes, like providers
// whose group mapper is not tied to a scope, so a relying party's scope
// list does not decide whether it sees them.
func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	s.mu.Lock()
	u, ok := s.subjects[subject]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("oidcprovider: unknown subject %q", subject)
	}
	info.Subject = u.Subject
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername = u.Username
	}
	if len(u.Groups) > 0 {
		info.AppendClaims("groups", slices.Clone(u.Groups))
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || t.clientID != clientID || time.Now().After(t.expiration) {
		return errors.New("oidcprovider: access token unknown or expired")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, subject, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = t.scopes
	resp.ClientID = t.clientID
	resp.Expiration = oidc.FromTime(t.expiration)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID refuses every key: no client authenticates with
// private_key_jwt here.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("oidcprovider: JWT profile grant not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// signingKey is the provider's RS256 key; its public half is served at
// the JWKS endpoint.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }
