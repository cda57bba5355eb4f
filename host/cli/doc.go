// Package cli is the portcullis command line. Every command takes --config
// (default portcullis.yaml when present, else the built-in defaults) and
// works on the same database as a running host. Secrets are read from stdin
// (--password-stdin), never from arguments.
package cli
