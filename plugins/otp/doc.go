// Package otp is the first-party "otp" plugin: one-time codes for
// authorization requests (sdk.AuthorizationRequestBackend).
//
// For each request, and again at each reset, PrepareChallenge draws a new
// code (crypto/rand, without modulo bias), delivers it through the
// configured sender, and keeps only a keyed hash of it in the challenge's
// state: HMAC-SHA256 over the request id, the generation and the code,
// with the state's request id, generation and a used flag. CheckAnswer
// compares in constant time; a code is valid once, for its own request and
// generation only, and an empty code never is. The plugin keeps nothing in
// memory between calls but the hash key.
//
// The hash key is the configuration's hash_key (at least 32 bytes), or
// else one the plugin makes once with crypto/rand and keeps in its host
// storage, shared by every host on the database. The configured key is
// the stronger choice: a stored key sits in the same database as the
// hashes it keys, so whoever reads the database can try every code against
// a hash offline; a configured key keeps them apart.
//
// The sender is a webhook (sender.webhook and sender.secret): a JSON POST
// signed with the Standard Webhooks scheme as the host's signal webhooks
// are, retried a few times within the call's deadline; a delivery that
// fails fails the challenge, and so the request (fail closed). Or, for
// development only, the log (sender.log with development: true).
//
// TOTP (authenticator apps, RFC 6238: SHA-1, 6 digits, 30 s steps) is
// the plugin's other second factor. Its operator commands (sdk.Admin, in
// admin.go: totp_enroll, totp_confirm, totp_status, totp_reset) keep one
// record per user in the plugin's storage (totp.go): the secret sealed
// with AES-256-GCM under a key derived from the hash key with HKDF (a TOTP
// secret must be read back, so it cannot be hashed), the user id as
// associated data; whether it is confirmed; the last step accepted; and
// the recovery codes' keyed hashes. For a "2FA" request of a user whose
// enrollment is confirmed, PrepareChallenge sends nothing and returns a
// TOTP state (Delivery "totp"); CheckAnswer then accepts a code within
// one step of now, of a step after the last one accepted, or an unused
// recovery code, and records its use with compare-and-swap before the
// answer is valid (secondfactor.go), so that a code is accepted once
// across hosts.
//
// The code is never logged (but by the log sender), never in an error and
// never in the state in clear; neither the webhook's secret nor the hash
// key is ever logged, nor a TOTP secret or a recovery code. Settings are
// in docs/config.md.
package otp
