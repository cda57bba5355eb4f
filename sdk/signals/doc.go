// Package signals is the catalogue of the signals the host knows: their
// names, who may send them, and their typed arguments.
//
// Names follow the seed systems (lback's auth signals, django-auth-token,
// django-axes), so their users find them. Every signal the host owns —
// logins, sessions, tokens, permissions, admin, authorization requests,
// lockouts, plugin_* — is sent only by the host; a plugin may send the
// catalogue signals marked for plugins (the OAuth2 and device ones) and its own names,
// if its metadata declares them (sdk.Metadata.Emits).
//
// A receiver decodes a signal's arguments with Decode:
//
//	var a signals.UserLoggedIn
//	if err := signals.Decode(sig, &a); err != nil { ... }
//
// Argument types carry no secrets — no passwords, codes, tokens or device
// secrets — by construction.
package signals
