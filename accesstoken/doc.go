// Package accesstoken defines the access tokens Portcullis issues and the
// one function that verifies them, for the host and for apps alike.
//
// An access token is a JWT (RFC 9068 profile): header typ "at+jwt" and the
// kid of the signing key; claims iss, aud, sub (the user id), exp, iat,
// nbf, jti, sid (the session) and username; and the user's authorization
// when it was issued: roles, permissions, superuser (permissions_overflow
// when they did not fit). Keys are Ed25519 (alg EdDSA,
// the default), ECDSA P-256 (ES256) or RSA (RS256), published as a JSON
// Web Key Set (NewSet, ParseSet) at the host's /.well-known/jwks.json.
//
// Verifier.Verify accepts a token only when every check holds: it is a
// JWT of type at+jwt (or application/at+jwt, RFC 9068 §4), its kid names a key the Verifier knows, its alg is
// the algorithm of that key (so alg "none" and HS256 keyed with a public
// key never pass), the signature verifies, it has not expired, it is
// already valid, and its issuer and audience are the configured ones. Any
// other token is refused with an *Error whose Type names the reason
// (error_type in the jwt_decode_failed signal). A refresh token is not a
// JWT and is refused as malformed.
//
// CheckPermissions is the one rule that decides a permission check from a
// verified token's claims, for the host's POST /v1/permissions/check and
// the Go client's middleware alike.
package accesstoken
