// Package e2e holds the end-to-end tests: they build the real portcullis
// binary and an external test plugin, start hosts as separate processes with
// real plugin subprocesses, and talk to them over HTTP.
package e2e
