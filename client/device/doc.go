// Package device is the client of a Portcullis host's device endpoints: what
// a mobile device (or a program standing in for one) uses to register with
// the host once and then see and decide its user's waiting authorization
// requests.
//
// # Registering
//
// Register makes a device for a user, authenticating with an app key (and
// naming the user) or with the user's own access token. A device either
// holds a secret token the host issued, or, with Registration.Ed25519, a key
// pair made here whose private half never leaves the device. The
// Credentials it returns are what the device keeps: Save writes them to a
// file only its owner can read, and Load refuses a file that others can
// read, as ssh refuses a private key.
//
// # Deciding
//
// A Device made from Credentials lists the waiting requests (Pending, which
// can wait for one to arrive) and approves or denies them. Every request
// authenticates the device: with HTTP Basic (device id and token), or for
// an Ed25519 device with a signature (package internal/devicesig) over the
// method, the path and query as sent, the body's hash and a nonce fetched
// from the host for that request alone, so that a request seen on the way
// cannot be sent again.
//
// A refusal from the host is an *Error carrying the HTTP status and the
// host's error code (invalid_device, forbidden, not_found, not_waiting, ...),
// so that a caller can tell a revoked device from a request decided
// elsewhere.
//
// No error, log value or String of this package holds a device token, an
// app key, an access token or a private key.
package device
