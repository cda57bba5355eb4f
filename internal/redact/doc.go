// Package redact hides the credentials a URL can carry before the URL, or
// a message that quotes one, is logged, stored or printed.
//
// A URL is shown as its scheme, host and path: user information (a
// password, a token as user name) is dropped, a query (which often holds a
// token) is replaced by "?…", and a fragment is dropped. The path is kept:
// a receiver that takes its secret in the path shows it.
package redact
