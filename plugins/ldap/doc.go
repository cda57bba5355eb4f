// Package ldap is the first-party "ldap" plugin: a link of the login chain
// (sdk.Authenticator) that checks a user's password with a bind to an LDAP
// directory (OpenLDAP, 389 Directory Server, Active Directory).
//
// The user's entry is found one of two ways. Bind-as-user (user_dn): the
// login name, escaped for a DN, fills in a DN template, and the plugin
// binds as that DN, then reads the entry and the groups as the user.
// Search-then-bind (user_search): a service account (bind_dn) searches
// for the one entry whose filter matches the login name, escaped for a
// filter; the plugin binds as that entry, and looks the groups up as the
// service account. No entry, or more than one, is an unknown user; the
// plugin then binds a decoy entry with the password, so that an unknown
// user costs the directory a search and a bind, as a known one with a
// wrong password does.
//
// An empty password is refused before anything is sent: a simple bind
// with a DN and an empty password is an unauthenticated bind, which many
// directories answer with success, as anonymous. A wrong password and an
// unknown user abstain with invalid_credentials. A directory that cannot
// be reached, does not answer within the timeout, fails TLS, or answers
// anything else is an error (the host answers 503, or skips the backend
// with on_error: skip); it is never a grant.
//
// The identity's subject is "ldap:" and the entry's entryUUID (or another
// attribute, or the DN), its username the directory's spelling of the
// login name (uid), and its roles those the configuration gives the
// user's groups, read from a memberOf-style attribute or searched for.
//
// Connections are pooled, in two bounded pools: one bound as the service
// account, for searches only, and one for users' binds, where every use
// begins with a bind, so that a connection left bound as a user is never
// used as that user by the next login. Passwords cross the network only
// over TLS (ldaps://, or StartTLS), verified against ca_file or the
// system's roots; plain ldap:// is accepted only to a loopback address,
// with a warning. No password is ever in a log line, an error or a signal.
// The settings are Config's; docs/ldap.md is the operator's guide.
package ldap
