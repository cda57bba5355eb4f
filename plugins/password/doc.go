// Package password is the first-party "password" backend: users live in the
// host's user table and log in with a password.
//
// New hashes are argon2id in PHC format. Existing bcrypt and Django
// (pbkdf2_sha256, argon2, bcrypt, bcrypt_sha256) hashes are verified too, so
// users migrated from Django keep their passwords; each is replaced by an
// argon2id hash on the user's next successful login. Every hash the backend
// computes or verifies, that replacement included, takes one of its
// max_concurrent_hashes slots.
//
// The time of an answer tells nothing about the user: the backend learns
// which kinds of hash are stored (format and cost, through the host's
// ListUsers, which needs password_hashes:read) and finds the slowest to
// verify. An unknown user, or one without a usable hash, is verified
// against a dummy hash of that kind, and any attempt that verified a
// cheaper kind waits until it has taken as long as a recent verification
// of the slowest (timing.go). Until it knows the kinds stored, the backend
// decides no login. A wrong password, an unknown user or a disabled account
// is an abstain with reason "invalid_credentials", as Django's ModelBackend
// returns None, so a later backend in the chain may still know the user.
//
// Its admin commands (sdk.Admin): "hash_password" hashes a password for
// `portcullis users add` and `users passwd`; "rehash_report" counts the
// stored hashes by kind and names the users whose hash is to be replaced,
// for `portcullis users rehash-report`.
package password
