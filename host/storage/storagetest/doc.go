// Package storagetest is the conformance suite every storage driver runs,
// and helpers that give each test a database of its own.
package storagetest
