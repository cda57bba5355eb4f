// Package password is the first-party "password" backend: users live in the
// host's user table and log in with a password.
//
// New hashes are argon2id in PHC format. Existing bcrypt and Django
// (pbkdf2_sha256, argon2, bcrypt, bcrypt_sha256) hashes are verified too, so
// users migrated from Django keep their passwords; each is replaced by an
// argon2id hash on the user's next successful login.
//
// An unknown user costs the same as a wrong password: the backend verifies
// the attempt against a dummy hash made with the configured parameters. A
// wrong password or unknown user is an abstain with reason
// "invalid_credentials", as Django's ModelBackend returns None, so a later
// backend in the chain may still know the user.
package password
