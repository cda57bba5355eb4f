// Package mobiledevice is the first-party "mobiledevice" plugin: a user's
// mobile devices, which log in (sdk.Authenticator) and approve
// authorization requests (sdk.AuthorizationRequestBackend), as
// django-auth-token's MobileDevice does, self-hosted: no push service is
// needed, since devices can poll the host, and the app may be told on a
// webhook to push.
//
// A device proves itself in one of two ways. A token device was given a
// token at registration, 64 characters of [A-Za-z0-9] from crypto/rand,
// shown once; the plugin keeps only its SHA-256 (a token has 381 random
// bits, so a fast hash gives nothing away) and compares in constant time.
// An ed25519 device registered its public key instead and signs each
// request (internal/devicesig): the method, target, body hash and a nonce
// the plugin issued for that device. Then the server holds no secret of
// the device at all.
//
// Everything lives in the plugin's host storage, shared by every host on
// the database; the plugin keeps nothing in memory but the nonce key:
//
//   - device/<id>: the device's record (device.go), never deleted: a
//     revoked device stays, inactive, so that its id keeps its user.
//   - user/<user id>/<id>: an empty entry per device of a user, the index
//     a user's devices are listed by. It is written before the record, so
//     a registration cut short leaves at worst an entry without a record,
//     which readers skip.
//   - nonce/<sha256 of a nonce>: a nonce's used marker, written with
//     compare-and-swap on absent and kept until the nonce has expired, so
//     that a nonce is good once across hosts.
//   - nonce_key: the 32-byte key of the nonces' MACs, made once with
//     compare-and-swap on absent (key.go).
//
// Every change of a record is a compare-and-swap of the bytes read, tried
// again a few times, so that two hosts never lose each other's change.
//
// Nonces need no storage to issue (nonce.go): a nonce carries its expiry
// and a MAC over the device id, so device_nonce answers any well-formed
// device id alike and tells nobody which devices exist.
//
// Operators and the host's device endpoints use the admin commands
// (admin.go): device_register, device_authenticate, device_nonce,
// device_list, device_get and device_revoke. A registration and a
// revocation send device_registered and device_revoked.
//
// A token, a signature or a nonce is never logged, sent in a signal or a
// webhook, or put in an error; a failed proof is one error,
// sdk.ErrPermissionDenied, whatever went wrong, and the log says why.
// The settings are Config's.
package mobiledevice
