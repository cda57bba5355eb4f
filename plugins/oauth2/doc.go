// Package oauth2 is the first-party "oauth2" plugin: sign-in through an
// external provider, by OAuth2's authorization code flow with PKCE or by
// OpenID Connect (redirect.Authenticator).
//
// The host owns each flow (its state, the browser's cookie, the PKCE
// verifier and the nonce, derived from secrets it never stores) and maps
// the identity to a local user; the plugin keeps nothing between calls.
// Begin builds the provider's authorization URL; Complete exchanges the
// code with the verifier and reads who signed in; Refresh trades an
// upstream refresh token for new tokens.
//
// The provider is named one of two ways. An issuer: the plugin reads its
// discovery document on first use rather than at Configure, so that a
// provider that is down when the host starts does not keep the host from
// starting, and keeps it, and the provider's keys, in memory. The ID
// token is then the identity, verified for its signature (asymmetric
// algorithms only), issuer, audience (and authorized party), expiry,
// nonce (compared in constant time) and, when it carries one, the access
// token's hash. Or the explicit auth_url, token_url and userinfo_url of a
// plain OAuth2 provider: the identity is what the userinfo endpoint says
// for the access token, and its subject is qualified by that endpoint's
// URL, as an OpenID subject is by its issuer.
//
// What the provider refuses, a provider that cannot be reached or does
// not answer within the timeout, and every token that does not verify,
// is a Failure (lback's error types: invalid_grant, timeout,
// connection_error, http_error_<status>, invalid_id_token, no_identity,
// request_error), never an error: an error means the caller gave up or
// the call was malformed. Descriptions are the plugin's own words (and
// at most the provider's OAuth2 error code), never the provider's free
// text, which may echo what it was sent.
//
// No code, verifier, token or client secret is ever in a signal, a log
// line, an error or a description. The settings are Config's.
package oauth2
