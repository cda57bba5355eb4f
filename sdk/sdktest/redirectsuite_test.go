package sdktest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// fakeProvider is an in-memory OpenID provider: signIn reads an
// authorization URL as a provider does and issues a code bound to its
// challenge and nonce, which the plugin redeems once.
type fakeProvider struct {
	mu     sync.Mutex
	codes  map[string]grant
	tokens map[string]bool // refresh tokens issued and not yet used
}

type grant struct{ challenge, nonce string }

func newFakeProvider() *fakeProvider {
	return &fakeProvider{codes: map[string]grant{}, tokens: map[string]bool{}}
}

func (p *fakeProvider) signIn(t testing.TB, authorizeURL string) string {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatalf("the provider cannot read %q: %v", authorizeURL, err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" {
		t.Fatalf("the provider wants an S256 challenge: %q", authorizeURL)
	}
	code := randomToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes[code] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
	return code
}

// redeem uses code up and returns its grant.
func (p *fakeProvider) redeem(code string) (grant, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.codes[code]
	delete(p.codes, code)
	return g, ok
}

func (p *fakeProvider) issueToken() string {
	token := randomToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens[token] = true
	return token
}

func (p *fakeProvider) useToken(token string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.tokens[token]
	delete(p.tokens, token)
	return ok
}

// oidcBackend is a redirect authenticator of fakeProvider. laxVerifier
// and laxNonce make it forget to check what binds a code to its flow.
type oidcBackend struct {
	p                     *fakeProvider
	laxVerifier, laxNonce bool
}

func (b *oidcBackend) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "fake-oidc", Version: "test"}
}

func (b *oidcBackend) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	return req.DecodeConfig(&struct{}{})
}

func (b *oidcBackend) Begin(_ context.Context, req *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	q := url.Values{
		"response_type": {"code"}, "client_id": {"portcullis"}, "scope": {"openid email"},
		"redirect_uri": {req.RedirectURL}, "state": {req.State},
		"code_challenge": {req.CodeChallenge}, "code_challenge_method": {"S256"}, "nonce": {req.Nonce},
	}
	return &redirect.BeginResponse{URL: "https://idp.example/authorize?" + q.Encode()}, nil
}

func (b *oidcBackend) Complete(ctx context.Context, req *redirect.CompleteRequest) (*redirect.CompleteResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g, ok := b.p.redeem(req.Code)
	sum := sha256.Sum256([]byte(req.CodeVerifier))
	switch {
	case !ok, !b.laxVerifier && base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		return &redirect.CompleteResponse{Failure: redirect.FailureInvalidGrant, Description: "the provider refused the code"}, nil
	case !b.laxNonce && req.Nonce != g.nonce:
		return &redirect.CompleteResponse{Failure: redirect.FailureInvalidIDToken, Description: "the ID token's nonce is not the flow's"}, nil
	}
	return &redirect.CompleteResponse{
		Identity: &redirect.Identity{Subject: "https://idp.example|alice", Username: "alice", Email: "alice@example.com",
			EmailVerified: true, Roles: []string{"ops"}, Provisioning: redirect.ProvisionLink},
		RefreshToken: b.p.issueToken(), Expiry: time.Now().Add(time.Hour),
	}, nil
}

func (b *oidcBackend) Refresh(_ context.Context, req *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	if !b.p.useToken(req.RefreshToken) {
		return &redirect.RefreshResponse{Failure: redirect.FailureInvalidGrant}, nil
	}
	return &redirect.RefreshResponse{RefreshToken: b.p.issueToken(), Expiry: time.Now().Add(time.Hour)}, nil
}

var _ redirect.Authenticator = (*oidcBackend)(nil)

func TestRedirectSuite(t *testing.T) {
	p := newFakeProvider()
	RedirectSuite{
		New:         func() sdk.Plugin { return &oidcBackend{p: p} },
		RedirectURL: "https://portcullis.example/v1/oauth2/fake/callback",
		SignIn:      p.signIn,
	}.Run(t)
}

// What the suite's checks with SignIn see of backends that do not bind a
// code to its flow's verifier or nonce.
func TestRedirectSuiteCatchesALaxBackend(t *testing.T) {
	for _, lax := range []*oidcBackend{{laxVerifier: true}, {laxNonce: true}} {
		p := newFakeProvider()
		lax.p = p
		b := Start(t, lax, nil, nil).RedirectAuthenticator()
		f := newFlow()
		req := f.complete("", p.signIn(t, begin(t, b, f, "")))
		if lax.laxVerifier {
			req.CodeVerifier = newFlow().verifier
		} else {
			req.Nonce = newFlow().nonce
		}
		resp, err := b.Complete(context.Background(), req)
		if problems := judgeCompleteFailure(resp, err, req.Code); len(problems) == 0 {
			t.Errorf("a backend with laxVerifier=%v laxNonce=%v passes", lax.laxVerifier, lax.laxNonce)
		}
	}
}

func TestJudgeAuthorizeURL(t *testing.T) {
	f := newFlow()
	good := url.Values{"state": {f.state}, "code_challenge": {f.challenge}, "code_challenge_method": {"S256"}, "nonce": {f.nonce}}
	const callback = "https://portcullis.example/cb"
	if p := judgeAuthorizeURL("https://idp.example/authorize?"+good.Encode(), f, ""); len(p) != 0 {
		t.Errorf("a good URL: %v", p)
	}
	good.Set("redirect_uri", callback)
	if p := judgeAuthorizeURL("https://idp.example/authorize?"+good.Encode(), f, callback); len(p) != 0 {
		t.Errorf("a good URL with the callback: %v", p)
	}
	without := func(param string) string {
		q := url.Values{}
		for k, v := range good {
			if k != param {
				q[k] = v
			}
		}
		return "https://idp.example/authorize?" + q.Encode()
	}
	bad := map[string]string{
		"no state":          without("state"),
		"no challenge":      without("code_challenge"),
		"no S256":           without("code_challenge_method"),
		"no nonce":          without("nonce"),
		"another state":     strings.Replace(without(""), f.state, newFlow().state, 1),
		"the verifier":      without("") + "&code_verifier=" + f.verifier,
		"user information":  strings.Replace(without(""), "https://", "https://u:p@", 1),
		"not http":          strings.Replace(without(""), "https://", "javascript://", 1),
		"no host":           "/authorize?" + good.Encode(),
		"empty":             "",
		"not a URL at all":  "%zz",
		"another challenge": strings.Replace(without(""), f.challenge, newFlow().challenge, 1),
		"no callback":       without("redirect_uri"),
		"another callback":  strings.Replace(without(""), url.QueryEscape(callback), url.QueryEscape(callback+"x"), 1),
	}
	for name, u := range bad {
		if p := judgeAuthorizeURL(u, f, callback); len(p) == 0 {
			t.Errorf("%s (%q): no problem found", name, u)
		}
	}
}

func TestJudgeFailures(t *testing.T) {
	const secret = "secret-code-123"
	okFailure := &redirect.CompleteResponse{Failure: redirect.FailureInvalidGrant, Description: "refused"}
	if p := judgeCompleteFailure(okFailure, nil, secret); len(p) != 0 {
		t.Errorf("a good failure: %v", p)
	}
	for name, c := range map[string]struct {
		resp *redirect.CompleteResponse
		err  error
	}{
		"an error":        {nil, errors.New("boom")},
		"an identity":     {&redirect.CompleteResponse{Identity: &redirect.Identity{Subject: "s"}}, nil},
		"no failure":      {&redirect.CompleteResponse{}, nil},
		"a refresh token": {&redirect.CompleteResponse{Failure: "f", RefreshToken: "rt"}, nil},
		"the secret":      {&redirect.CompleteResponse{Failure: "f", Description: "bad code " + secret}, nil},
	} {
		if p := judgeCompleteFailure(c.resp, c.err, secret); len(p) == 0 {
			t.Errorf("Complete with %s: no problem found", name)
		}
	}

	if p := judgeRefreshFailure(&redirect.RefreshResponse{Failure: redirect.FailureInvalidGrant}, nil, secret); len(p) != 0 {
		t.Errorf("a good refresh failure: %v", p)
	}
	for name, c := range map[string]struct {
		resp *redirect.RefreshResponse
		err  error
	}{
		"an error":    {nil, errors.New("boom")},
		"no failure":  {&redirect.RefreshResponse{}, nil},
		"a new token": {&redirect.RefreshResponse{Failure: "f", RefreshToken: "rt"}, nil},
		"the secret":  {&redirect.RefreshResponse{Failure: secret}, nil},
	} {
		if p := judgeRefreshFailure(c.resp, c.err, secret); len(p) == 0 {
			t.Errorf("Refresh with %s: no problem found", name)
		}
	}
}

func TestJudgeIdentity(t *testing.T) {
	good := redirect.Identity{Subject: "s", Provisioning: redirect.ProvisionCreate}
	if p := judgeIdentity(&redirect.CompleteResponse{Identity: &good}); len(p) != 0 {
		t.Errorf("a good identity: %v", p)
	}
	for name, resp := range map[string]*redirect.CompleteResponse{
		"none":            {Failure: "f"},
		"no subject":      {Identity: &redirect.Identity{Provisioning: redirect.ProvisionLink}},
		"no provisioning": {Identity: &redirect.Identity{Subject: "s"}},
		"a failure too":   {Identity: &good, Failure: "f"},
	} {
		if p := judgeIdentity(resp); len(p) == 0 {
			t.Errorf("an identity with %s: no problem found", name)
		}
	}
}

// brittleBackend reads what a zero request lacks, and vouches for anyone
// when asked to refresh nothing.
type brittleBackend struct{ oidcBackend }

func (brittleBackend) Begin(_ context.Context, req *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	return &redirect.BeginResponse{URL: "https://idp.example/?state=" + req.State[:1]}, nil
}

func (brittleBackend) Refresh(context.Context, *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	return &redirect.RefreshResponse{}, nil
}

func TestZeroCallsFindPanics(t *testing.T) {
	if p := zeroCalls(Start(t, &oidcBackend{p: newFakeProvider()}, nil, nil).RedirectAuthenticator()); len(p) != 0 {
		t.Errorf("a sound backend: %v", p)
	}
	p := zeroCalls(Start(t, &brittleBackend{oidcBackend{p: newFakeProvider()}}, nil, nil).RedirectAuthenticator())
	joined := strings.Join(p, "\n")
	if !strings.Contains(joined, "Begin of a zero request panicked") || !strings.Contains(joined, "Refresh of a zero request") {
		t.Errorf("a brittle backend: %v", p)
	}
}
