// Package oidcprovider runs a real OAuth 2.0 / OpenID Connect
// authorization server on loopback for tests, so a relying party is tested
// against the protocol as a provider speaks it rather than against mocks.
//
// The protocol is implemented by github.com/zitadel/oidc's op package, a
// certified OpenID Provider: discovery, JWKS, the authorization endpoint,
// the token endpoint (client_secret_basic and client_secret_post,
// single-use codes, PKCE S256), RS256 ID tokens, userinfo and rotating
// refresh tokens. This package adds the in-memory storage, a login form
// that a test drives as a browser would (see Provider.Login), and faults
// injected in front of the server (see Fault).
package oidcprovider

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a person who can sign in with Username and Password.
//
// The ID token and userinfo carry sub always, email and email_verified
// with the email scope, preferred_username (set to Username) with the
// profile scope, and groups whenever Groups is not empty.
type User struct {
	Subject       string
	Username      string
	Password      string
	Email         string
	EmailVerified bool
	Groups        []string
}

// Client is a registered confidential client. It authenticates at the
// token endpoint with Secret, by HTTP Basic or in the form, and must send
// PKCE with S256.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
}

// Options lists who exists on the provider, and how long its access
// tokens live.
type Options struct {
	Users   []User
	Clients []Client
	// AccessTokenLifetime is how long an access token lives: 5 minutes
	// when zero. The token response's expires_in is in whole seconds,
	// rounded down, so a lifetime under 2 seconds may be answered as 0,
	// which clients read as no expiry.
	AccessTokenLifetime time.Duration
}

// Provider is a running authorization server.
type Provider struct {
	// Issuer is http://127.0.0.1:PORT, the URL to discover the provider at.
	Issuer string

	srv         *httptest.Server
	storage     *storage
	otherSecret string

	mu    sync.Mutex
	fault Fault
	// refreshGrants counts the refresh_token grant requests the token
	// endpoint received.
	refreshGrants int

	down sync.Once
}

// Start runs a provider on a free loopback port until the test ends.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	p, err := start(opts)
	if err != nil {
		t.Fatalf("oidcprovider: %v", err)
	}
	t.Cleanup(p.Down)
	return p
}

func start(opts Options) (*Provider, error) {
	var redirects []string
	for _, c := range opts.Clients {
		if c.ID == OtherClientID {
			return nil, fmt.Errorf("client ID %q is reserved for the WrongAudience fault", OtherClientID)
		}
		for _, uri := range c.RedirectURIs {
			if !slices.Contains(redirects, uri) {
				redirects = append(redirects, uri)
			}
		}
	}
	p := &Provider{otherSecret: rand.Text()}
	clients := slices.Clone(opts.Clients)
	if len(clients) > 0 {
		clients = append(clients, Client{ID: OtherClientID, Secret: p.otherSecret, RedirectURIs: redirects})
	}
	st, err := newStorage(opts.Users, clients, opts.AccessTokenLifetime)
	if err != nil {
		return nil, err
	}
	p.storage = st

	// The listener exists before the server starts, so the issuer, which
	// the op package needs up front, can name the real port.
	p.srv = httptest.NewUnstartedServer(nil)
	p.Issuer = "http://" + p.srv.Listener.Addr().String()

	config := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedClaims:       append(slices.Clone(op.DefaultSupportedClaims), "groups"),
	}
	if _, err := rand.Read(config.CryptoKey[:]); err != nil {
		return nil, err
	}
	config.CryptoKeyId = rand.Text()
	provider, err := op.NewProvider(config, st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		p.srv.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.Handle(loginPath, interceptor.Handler(&login{storage: st, provider: provider, callback: op.AuthCallbackURL(provider)}))
	mux.Handle("/", provider)
	p.srv.Config.Handler = &faults{
		provider:  p,
		next:      mux,
		authPath:  provider.AuthorizationEndpoint().Relative(),
		tokenPath: provider.TokenEndpoint().Relative(),
	}
	p.srv.Start()
	return p, nil
}

// Down stops the server and closes its port, so a client sees the
// connection refused, as with a provider that is down. It is safe to call
// more than once; the provider does not come back.
func (p *Provider) Down() {
	p.down.Do(p.srv.Close)
}

// SetFault puts f in front of the server for the requests that follow,
// replacing the fault set before; NoFault removes it.
func (p *Provider) SetFault(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

func (p *Provider) currentFault() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault
}

// RefreshGrants returns how many refresh_token grant requests the token
// endpoint has received, whatever it answered them (a fault's answer
// included): how often a relying party asked to refresh.
func (p *Provider) RefreshGrants() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshGrants
}

func (p *Provider) countRefreshGrant() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refreshGrants++
}

// RevokeUser ends everything the user with subject was granted, for every
// client, as a provider does when an administrator disables the user or
// revokes their sessions: their access tokens stop working and their
// refresh tokens are refused with invalid_grant. The user can still sign
// in again.
func (p *Provider) RevokeUser(subject string) {
	p.storage.revoke(subject, "")
}

// IssuedRefreshTokens returns every refresh token the provider has issued,
// used or not, so that a test can check that none of them shows up where
// it must not (a log, a database in the clear).
func (p *Provider) IssuedRefreshTokens() []string {
	return p.storage.issuedRefreshTokens()
}
