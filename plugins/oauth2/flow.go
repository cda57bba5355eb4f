package oauth2

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// Begin implements redirect.Authenticator: the provider's authorization
// URL with the flow's state, its PKCE challenge (S256), its nonce (for
// OpenID Connect) and the scopes. With an issuer, the first call
// discovers the provider; if that fails the flow cannot begin, and the
// error matches sdk.ErrUnavailable.
func (p *Plugin) Begin(ctx context.Context, req *redirect.BeginRequest) (*redirect.BeginResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	s := p.settings
	switch {
	case req.State == "":
		return nil, fmt.Errorf("%w: oauth2: a flow needs a state", sdk.ErrInvalidArgument)
	case req.CodeChallenge == "":
		return nil, fmt.Errorf("%w: oauth2: a flow needs a PKCE code challenge", sdk.ErrInvalidArgument)
	case s.OIDC() && req.Nonce == "":
		return nil, fmt.Errorf("%w: oauth2: an OpenID Connect flow needs a nonce", sdk.ErrInvalidArgument)
	}
	redirectURL, err := p.redirectURL(req.RedirectURL)
	if err != nil {
		return nil, err
	}
	prov, err := p.providerFor(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		f := classify(err, "the discovery endpoint", s.Timeout)
		p.log.Warn("oauth2: the provider could not be discovered; the flow cannot begin", "backend", p.instance, "error_type", f.Type, "description", f.Description)
		return nil, fmt.Errorf("%w: oauth2: the provider could not be discovered: %s", sdk.ErrUnavailable, f.Description)
	}
	opts := []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("code_challenge", req.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	}
	if s.OIDC() {
		// A plain provider has no use for it: nothing would carry it back.
		opts = append(opts, oidc.Nonce(req.Nonce))
	}
	authURL := p.config(prov, redirectURL).AuthCodeURL(req.State, opts...)
	p.emit(ctx, SignalAuthorizeURLGenerated, signals.OAuth2AuthorizeURLGenerated{
		Backend: p.instance, AuthorizeURL: withoutQuery(prov.endpoint.AuthURL), Scope: strings.Join(s.Scopes, " "),
	})
	p.log.Debug("oauth2: authorization URL built", "backend", p.instance, "authorize_url", withoutQuery(prov.endpoint.AuthURL))
	return &redirect.BeginResponse{URL: authURL}, nil
}

// Complete implements redirect.Authenticator: it exchanges the code with
// the flow's PKCE verifier, then reads who signed in: from the ID token,
// verified (signature, issuer, audience, expiry, nonce), for OpenID
// Connect; from the userinfo endpoint otherwise. Whatever the provider
// refused, and every token that does not verify, is a Failure. An error
// means the call was cancelled or malformed.
func (p *Plugin) Complete(ctx context.Context, req *redirect.CompleteRequest) (*redirect.CompleteResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	s := p.settings
	switch {
	case req.Code == "":
		// No code is a code that does not redeem: the provider's answer
		// to it would be invalid_grant.
		return &redirect.CompleteResponse{Failure: redirect.FailureInvalidGrant, Description: "the callback carries no code"}, nil
	case req.CodeVerifier == "":
		return nil, fmt.Errorf("%w: oauth2: a callback needs the flow's PKCE verifier", sdk.ErrInvalidArgument)
	case s.OIDC() && req.Nonce == "":
		return nil, fmt.Errorf("%w: oauth2: an OpenID Connect callback needs the flow's nonce", sdk.ErrInvalidArgument)
	}
	redirectURL, err := p.redirectURL(req.RedirectURL)
	if err != nil {
		return nil, err
	}
	res, f, err := p.complete(ctx, req, redirectURL)
	switch {
	case err != nil:
		return nil, err
	case f != nil:
		p.emit(ctx, SignalTokenFetchFailed, signals.OAuth2TokenFetchFailed{Backend: p.instance, Error: f.Type})
		p.log.Info("oauth2: the provider did not vouch for a user", "backend", p.instance, "error_type", f.Type, "description", f.Description)
		return &redirect.CompleteResponse{Failure: f.Type, Description: f.Description}, nil
	}
	return res, nil
}

// complete does Complete's work; f is why the provider did not vouch for
// anyone, err that the caller gave up.
func (p *Plugin) complete(ctx context.Context, req *redirect.CompleteRequest, redirectURL string) (_ *redirect.CompleteResponse, f *failure, err error) {
	s := p.settings
	// A failure is the provider's only if the caller is still waiting.
	defer func() {
		if f != nil && ctx.Err() != nil {
			f, err = nil, ctx.Err()
		}
	}()
	prov, err := p.providerFor(ctx)
	if err != nil {
		return nil, classify(err, "the discovery endpoint", s.Timeout), nil
	}
	tok, err := p.exchange(ctx, prov, redirectURL, req)
	if err != nil {
		return nil, classify(err, "the token endpoint", s.Timeout), nil
	}
	var id *redirect.Identity
	if s.OIDC() {
		id, f = p.verifiedIdentity(ctx, prov, tok, req.Nonce)
	} else {
		id, f = p.userinfoIdentity(ctx, prov, tok)
	}
	if f != nil {
		return nil, f, nil
	}
	scope, _ := tok.Extra("scope").(string)
	if scope == "" {
		scope = strings.Join(s.Scopes, " ")
	}
	p.emit(ctx, SignalTokenFetched, signals.OAuth2TokenFetched{Backend: p.instance, Scope: scope, ExpiresIn: expiresIn(tok)})
	p.log.Debug("oauth2: the provider vouched for a user", "backend", p.instance, "subject", id.Subject, "has_refresh_token", tok.RefreshToken != "")
	return &redirect.CompleteResponse{Identity: id, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}, nil, nil
}

// exchange trades the code for tokens, within the timeout.
func (p *Plugin) exchange(ctx context.Context, prov *provider, redirectURL string, req *redirect.CompleteRequest) (*oauth2.Token, error) {
	ctx, cancel := p.call(ctx)
	defer cancel()
	return p.config(prov, redirectURL).Exchange(ctx, req.Code, oauth2.VerifierOption(req.CodeVerifier))
}

// verifiedIdentity verifies the ID token the exchange returned and reads
// the identity from its claims. Each check that fails says which it is
// in the description: signature, expiry, issuer, audience, nonce,
// at_hash.
func (p *Plugin) verifiedIdentity(ctx context.Context, prov *provider, tok *oauth2.Token, nonce string) (*redirect.Identity, *failure) {
	s := p.settings
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fail(redirect.FailureInvalidIDToken, "missing: the provider sent no ID token")
	}
	vctx, cancel := p.call(ctx)
	defer cancel()
	idt, err := prov.verifier.Verify(vctx, raw)
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return nil, fail(redirect.FailureInvalidIDToken, "expiry: the ID token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
	case err != nil && vctx.Err() != nil && ctx.Err() == nil:
		return nil, fail(redirect.FailureTimeout, "the provider's keys could not be fetched within %s", s.Timeout)
	case err != nil:
		return nil, fail(redirect.FailureInvalidIDToken, "signature: the ID token is malformed, or its signature does not verify with the provider's keys (or they could not be fetched)")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fail(redirect.FailureInvalidIDToken, "claims: the ID token's claims cannot be read")
	}
	azp, hasAZP := claims["azp"].(string)
	switch {
	case idt.Issuer != prov.issuer:
		return nil, fail(redirect.FailureInvalidIDToken, "issuer: the ID token was issued by another issuer than the provider's")
	case !slices.Contains(idt.Audience, s.ClientID):
		return nil, fail(redirect.FailureInvalidIDToken, "audience: the ID token is not for this client (client_id is not among its audiences)")
	case hasAZP && azp != s.ClientID:
		return nil, fail(redirect.FailureInvalidIDToken, "audience: the ID token's authorized party (azp) is another client")
	case subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1:
		return nil, fail(redirect.FailureInvalidIDToken, "nonce: the ID token's nonce is not this flow's")
	case idt.AccessTokenHash != "" && idt.VerifyAccessToken(tok.AccessToken) != nil:
		return nil, fail(redirect.FailureInvalidIDToken, "at_hash: the ID token's access token hash does not match the access token")
	}
	return s.identity(prov.issuer, idt.Subject, claims)
}

// userinfoIdentity reads who signed in from a plain provider's userinfo
// endpoint.
func (p *Plugin) userinfoIdentity(ctx context.Context, prov *provider, tok *oauth2.Token) (*redirect.Identity, *failure) {
	claims, err := p.userinfo(ctx, prov, tok.AccessToken)
	if err != nil {
		return nil, classify(err, "the userinfo endpoint", p.settings.Timeout)
	}
	return p.settings.identity(prov.issuer, claimString(claims[p.settings.Claims.Subject]), claims)
}

// Refresh implements redirect.Authenticator: it trades the refresh token
// for new tokens, within the timeout. A refresh token the provider does
// not take (revoked, expired, not one) is a Failure. An ID token that
// comes with the new tokens is not read: who the user is was settled by
// Complete, and the host keeps it.
func (p *Plugin) Refresh(ctx context.Context, req *redirect.RefreshRequest) (*redirect.RefreshResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if req.RefreshToken == "" {
		return nil, fmt.Errorf("%w: oauth2: a refresh needs a refresh token", sdk.ErrInvalidArgument)
	}
	tok, f := p.refresh(ctx, req.RefreshToken)
	if f != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.emit(ctx, SignalTokenRefreshFailed, signals.OAuth2TokenRefreshFailed{Backend: p.instance, Error: f.Type})
		p.log.Info("oauth2: the provider did not refresh the tokens", "backend", p.instance, "error_type", f.Type, "description", f.Description)
		return &redirect.RefreshResponse{Failure: f.Type, Description: f.Description}, nil
	}
	res := &redirect.RefreshResponse{Expiry: tok.Expiry}
	if tok.RefreshToken != req.RefreshToken {
		res.RefreshToken = tok.RefreshToken
	}
	p.emit(ctx, SignalTokenRefreshed, signals.OAuth2TokenRefreshed{Backend: p.instance, ExpiresIn: expiresIn(tok)})
	p.log.Debug("oauth2: tokens refreshed", "backend", p.instance, "rotated", res.RefreshToken != "")
	return res, nil
}

// refresh does Refresh's exchange. The token source is given an expired
// token holding only the refresh token, so that it refreshes at once.
func (p *Plugin) refresh(ctx context.Context, refreshToken string) (*oauth2.Token, *failure) {
	s := p.settings
	prov, err := p.providerFor(ctx)
	if err != nil {
		return nil, classify(err, "the discovery endpoint", s.Timeout)
	}
	cctx, cancel := p.call(ctx)
	defer cancel()
	expired := &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}
	tok, err := p.config(prov, s.RedirectURL).TokenSource(cctx, expired).Token()
	if err != nil {
		return nil, classify(err, "the token endpoint", s.Timeout)
	}
	return tok, nil
}

// call bounds one call to the provider by the timeout, with the plugin's
// HTTP client.
func (p *Plugin) call(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, p.settings.Timeout)
	return context.WithValue(ctx, oauth2.HTTPClient, p.client), cancel
}

// config is the OAuth2 client for one call. It is made afresh each
// time: an oauth2.Config may not be copied, and the redirect URL is the
// call's.
func (p *Plugin) config(prov *provider, redirectURL string) *oauth2.Config {
	s := p.settings
	return &oauth2.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, Endpoint: prov.endpoint, RedirectURL: redirectURL, Scopes: s.Scopes}
}

// redirectURL is the host's callback for a flow, else the configured one.
func (p *Plugin) redirectURL(fromHost string) (string, error) {
	if fromHost != "" {
		return fromHost, nil
	}
	if p.settings.RedirectURL == "" {
		return "", fmt.Errorf("%w: oauth2: the flow has no redirect URL and the configuration names none (redirect_url)", sdk.ErrInvalidArgument)
	}
	return p.settings.RedirectURL, nil
}

// withoutQuery returns a URL without its query and fragment: what a
// signal or a log line may show of the authorization endpoint.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	return u.String()
}

// expiresIn is how many seconds the access token has left; 0 if the
// provider did not say.
func expiresIn(tok *oauth2.Token) int64 {
	if tok.ExpiresIn > 0 {
		return tok.ExpiresIn
	}
	if tok.Expiry.IsZero() {
		return 0
	}
	return max(0, int64(time.Until(tok.Expiry).Round(time.Second)/time.Second))
}
