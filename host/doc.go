// Package host assembles a running Portcullis host from its configuration:
// the database, the supervised plugin processes, the login chain and the
// HTTP API. The command line (package cli) and the end-to-end tests drive it.
package host
