// Package client is what an app imports to accept Portcullis access tokens.
//
// A Client verifies access tokens locally, with the signing keys the host
// publishes at /.well-known/jwks.json, and through the host's
// introspection endpoint when an app must see a revoked session at once.
// Every check on a token is accesstoken.Verifier's: this package only
// finds the keys, reads the Authorization header and answers refusals.
//
// # The contract
//
// Verify and Middleware accept a token only when accesstoken.Verifier
// does, with the Client's issuer, audience and leeway. The issuer is
// Options.Issuer, or, when that is empty, the one the host names at
// /.well-known/openid-configuration (read once, with jwks_uri); a token
// is never checked against an empty issuer.
//
// The Client is an accesstoken.Keys. It fetches the key set on first use
// and keeps it for the max-age of the answer's Cache-Control (five minutes
// when there is none), and at least MinRefetchInterval. A token whose kid
// is not in the set makes the Client fetch it again, at most once per
// MinRefetchInterval whatever kids it is shown; callers that need a fetch
// while one is under way wait for that one. A kid still missing after a
// fetch is refused as unknown_key. A fetch that fails lets no token
// through: while the set is older than its max-age, or when a kid is
// missing and the set could not be fetched again, tokens are refused as
// unexpected_exception until a fetch succeeds (the next attempt is made
// MinRefetchInterval after the failed one).
//
// Middleware reads "Authorization: Bearer <token>". A request without one,
// or with a token Verify refuses, is answered as the host answers:
//
//	HTTP/1.1 401 Unauthorized
//	Content-Type: application/json
//	WWW-Authenticate: Bearer error="invalid_token"
//
//	{"error":"invalid_token","error_description":"the access token has expired"}
//
// except when the token could not be checked at all (the keys or the
// introspection endpoint could not be read), which is 503 with the error
// backend_unavailable and no WWW-Authenticate, so that a client does not
// throw away a good token because the host was briefly out of reach. An accepted request
// reaches the next handler with the token's claims in its context
// (ClaimsFrom).
//
// IntrospectionMiddleware does the same and then asks the host
// (Introspect, with Options.AppKey) whether the token is still active; a
// token of a revoked session is refused as revoked.
//
// RequirePermissions and RequireAnyPermission, placed after either
// middleware, pass only the requests whose token holds the permissions
// named (or is a superuser's), and answer the others 403
// permission_denied with the permissions missing. They decide with
// accesstoken.CheckPermissions, the rule of the host's
// POST /v1/permissions/check, from the token's claims: a change of roles
// reaches the user's next token.
package client
