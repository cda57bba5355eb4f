// Package lockout is the first-party "lockout" plugin: brute-force
// protection with django-axes semantics, without axes' check-then-act race.
//
// It is a backend placed first in the chain. For every login it counts the
// attempt before any password is checked, atomically, in the host's storage
// (one counter per lockout group, e.g. username+IP): an attempt whose count
// goes past failure_limit is denied (429 locked_out), so under any burst at
// most failure_limit attempts reach the backends after it, on one host or on
// many sharing PostgreSQL. The count is a reservation: the plugin receives
// the login's outcome as a signal within the same request and gives the
// reservation back when the attempt was not a wrong password (a success, a
// denial by another backend, or a backend that could not decide). Only
// invalid credentials stay counted.
//
// State lives only in host storage, so a restart or a SIGKILL loses no
// count. Settings, warnings and the differences from django-axes are in
// docs/lockout.md.
package lockout
