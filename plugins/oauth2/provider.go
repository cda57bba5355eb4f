package oauth2

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// provider is what the plugin knows of its provider: endpoints, and for
// an OpenID Provider the ID token verifier, which caches the provider's
// keys and fetches them again when it meets a key it does not know.
type provider struct {
	// issuer qualifies subjects: the OpenID Provider's issuer, or a plain
	// provider's userinfo URL (the endpoint that vouches for them).
	issuer   string
	endpoint oauth2.Endpoint
	userinfo string                // plain OAuth2 only
	verifier *oidc.IDTokenVerifier // OpenID Connect only
}

// explicitProvider is the provider a plain OAuth2 configuration names.
// How the client authenticates at the token endpoint is found out on the
// first exchange (Basic, else in the form), as the configuration does not
// say.
func explicitProvider(s Settings) *provider {
	return &provider{
		issuer:   s.UserinfoURL,
		endpoint: oauth2.Endpoint{AuthURL: s.AuthURL, TokenURL: s.TokenURL, AuthStyle: oauth2.AuthStyleAutoDetect},
		userinfo: s.UserinfoURL,
	}
}

// maxResponse bounds what is read of a provider's JSON answer.
const maxResponse = 1 << 20

// discovery is the part of an OpenID Provider's metadata the plugin uses.
type discovery struct {
	Issuer           string   `json:"issuer"`
	AuthURL          string   `json:"authorization_endpoint"`
	TokenURL         string   `json:"token_endpoint"`
	UserinfoURL      string   `json:"userinfo_endpoint"` // not called with an issuer: the ID token is the identity
	JWKSURL          string   `json:"jwks_uri"`
	Algorithms       []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
}

// signingAlgorithms are the ID token algorithms accepted: asymmetric
// ones only. A symmetric one would make the client secret a signing
// key, and "none" no signature at all.
var signingAlgorithms = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// providerFor returns the provider, discovering an issuer's on first use.
// A discovery that fails is not kept: the next call tries again.
func (p *Plugin) providerFor(ctx context.Context) (*provider, error) {
	p.mu.Lock()
	prov := p.provider
	p.mu.Unlock()
	if prov != nil {
		return prov, nil
	}
	prov, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider == nil {
		p.provider = prov
	}
	return p.provider, nil
}

// discover reads the issuer's discovery document, within the timeout.
// Its issuer must be the configured one exactly (OpenID Connect
// Discovery 1.0, section 4.3), and its endpoints https ones (or http
// to this machine, as the issuer may be).
func (p *Plugin) discover(ctx context.Context) (*provider, error) {
	s := p.settings
	var d discovery
	wellKnown := strings.TrimSuffix(s.Issuer, "/") + "/.well-known/openid-configuration"
	if err := p.getJSON(ctx, "discovery endpoint", wellKnown, "", &d); err != nil {
		return nil, err
	}
	if d.Issuer != s.Issuer {
		return nil, fail(FailureRequestError, "the discovery document names another issuer than the configured one (they must be equal to the character, trailing slash included)")
	}
	for name, u := range map[string]string{"authorization_endpoint": d.AuthURL, "token_endpoint": d.TokenURL, "jwks_uri": d.JWKSURL} {
		if !providerURL(u) {
			return nil, fail(FailureRequestError, "the discovery document's %s is missing or not an https URL", name)
		}
	}
	var algs []string
	for _, a := range d.Algorithms {
		if slices.Contains(signingAlgorithms, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = []string{oidc.RS256} // the one OpenID Connect requires
	}
	style := oauth2.AuthStyleInHeader // client_secret_basic, the default
	if len(d.TokenAuthMethods) > 0 && !slices.Contains(d.TokenAuthMethods, "client_secret_basic") {
		style = oauth2.AuthStyleAutoDetect
		if slices.Contains(d.TokenAuthMethods, "client_secret_post") {
			style = oauth2.AuthStyleInParams
		}
	}
	conf := &oidc.ProviderConfig{IssuerURL: d.Issuer, AuthURL: d.AuthURL, TokenURL: d.TokenURL, JWKSURL: d.JWKSURL, Algorithms: algs}
	op := conf.NewProvider(oidc.ClientContext(context.Background(), p.client))
	// The issuer and audience are checked by Complete, to say which
	// check failed; the signature and expiry here.
	verifier := op.Verifier(&oidc.Config{ClientID: s.ClientID, SupportedSigningAlgs: algs, SkipClientIDCheck: true, SkipIssuerCheck: true})
	return &provider{
		issuer:   d.Issuer,
		endpoint: oauth2.Endpoint{AuthURL: d.AuthURL, TokenURL: d.TokenURL, AuthStyle: style},
		verifier: verifier,
	}, nil
}

// providerURL reports whether a URL from the provider's metadata is one
// the plugin will call: https, or http to this machine.
func providerURL(raw string) bool {
	var s Settings
	var ps problems
	return raw != "" && s.checkURL(&ps, "", raw, false) != "" && len(ps) == 0
}

// getJSON GETs a provider's JSON document into v, within the timeout,
// with bearer as the access token if it is set. An HTTP error status is
// a *statusError; a document that is not a JSON object is a failure.
func (p *Plugin) getJSON(ctx context.Context, endpoint, rawURL, bearer string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, p.settings.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fail(FailureRequestError, "the %s's URL is not one", endpoint)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{endpoint: endpoint, status: resp.StatusCode}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return fail(FailureRequestError, "the %s answered %s, not JSON", endpoint, printable(mt))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fail(FailureRequestError, "the %s's answer is not the JSON object expected", endpoint)
	}
	return nil
}

// printable returns a media type as a description may show it.
func printable(mt string) string {
	if mt == "" {
		return "no media type"
	}
	if len(mt) > 64 || strings.ContainsFunc(mt, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return "an unreadable media type"
	}
	return mt
}

// userinfo reads the userinfo endpoint's claims with an access token.
func (p *Plugin) userinfo(ctx context.Context, prov *provider, accessToken string) (map[string]any, error) {
	var claims map[string]any
	if err := p.getJSON(ctx, "userinfo endpoint", prov.userinfo, accessToken, &claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, fail(FailureRequestError, "the userinfo endpoint's answer is not a JSON object")
	}
	return claims, nil
}
