// Package sdk is what a Portcullis plugin imports.
//
// A plugin is an executable whose main function calls Serve with a value
// that implements Plugin. What else the plugin does is what else its value
// implements; Serve tells the host, so nothing is declared twice:
//
//   - Authenticator: one link of the login chain (identity, abstain or
//     deny).
//   - OutcomeObserver: told how each login it answered ended, with the memo
//     it returned.
//   - AttemptLimiter: declares a rule on login attempts that the host
//     enforces and counts itself (package sdk/attempts; a lockout).
//   - Admin: serves operator commands for the command line and admin API.
//   - AuthorizationRequestBackend: prepares the challenges of authorization
//     requests (makes and delivers a code) and checks the answers to them
//     (package sdk/authreq).
//   - redirect.Authenticator (package sdk/redirect): signs users in through
//     a browser redirect to an external provider (OAuth2, OpenID Connect);
//     the host owns the flow, the backend builds the provider's URL,
//     exchanges the code and refreshes tokens.
//   - SignalReceiver: receives the signals its Metadata subscribes to
//     (package sdk/signals is the catalogue).
//
// Every method takes a context that carries the host's deadline for the
// call; a plugin must return when it is done. A wrong credential is a
// result (an AuthenticateResponse), never an error: an error means the
// plugin could not decide, and the host then fails closed.
//
// The host offers services back to the plugin (user lookup, namespaced
// storage, signal emission) through the Host handed to Configure, with
// least privilege: see Host. The plugin keeps no state of its own, so a
// restart loses nothing and two hosts sharing one database share it.
//
// Errors cross the wire in one place: the sentinels below (ErrNotFound,
// ErrConflict, ...) and *ConfigError arrive on the other side as themselves,
// so errors.Is and errors.As work on the host and in the plugin alike.
//
// A backend that checks passwords against hashes of its own uses package
// sdk/passwords: a Checker answers unknown users in the time known ones
// take, and a Pool bounds the hashing.
//
// Package sdktest holds an in-process host/plugin pair, an in-memory host,
// the conformance suites every Authenticator, AuthorizationRequestBackend,
// redirect.Authenticator and Storage runs, and TimingCheck, which fails a
// backend whose unknown users answer sooner than its known ones.
package sdk
