// Package lockout is the first-party "lockout" plugin: brute-force
// protection with django-axes semantics, without axes' check-then-act race.
//
// The plugin's configuration is a rule (package sdk/attempts) that the host
// enforces itself, at the lockout backend's place in the chain (package
// host/limiter): the plugin process only checks and declares it, and is not
// on the login path. The host counts each lockout group's wrong passwords
// durably in its database, refuses a client whose count reached its group's
// limit, and keeps every burst within the limit across hosts sharing
// PostgreSQL. Settings, warnings and the differences from django-axes are in
// docs/lockout.md.
package lockout
