// Package sdk is what a Portcullis plugin imports.
//
// A plugin is an executable whose main function calls Serve with a value
// that implements Plugin and, for each capability its Metadata declares, the
// matching capability interface:
//
//   - CapabilityAuthenticator: Authenticator, one link of the login chain.
//   - CapabilitySignalReceiver: SignalReceiver, receives the signals listed in
//     Metadata.Subscriptions.
//
// Serve refuses to start a plugin whose metadata declares a capability its
// value does not implement, so the host never has to guess.
//
// Every method takes a context that carries the host's deadline for the call;
// a plugin must return when it is done. A wrong credential is a result (an
// AuthenticateResponse), never an error: an error means the plugin could not
// decide, and the host then fails closed.
//
// The host offers services back to the plugin (user lookup, namespaced
// storage, signal emission) through the Host handed to Configure. The plugin
// keeps no state of its own, so two hosts sharing one database share it.
//
// Errors cross the wire in one place: the sentinels below (ErrNotFound,
// ErrConflict, ...) and *ConfigError arrive on the other side as themselves,
// so errors.Is and errors.As work on the host and in the plugin alike.
//
// Package sdktest holds an in-process host/plugin pair and a conformance
// suite every Authenticator can run.
package sdk
