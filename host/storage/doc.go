// Package storage is the host's database: users, tokens and (through host
// services) plugin state. It runs on SQLite (embedded, the default) and on
// PostgreSQL (for several hosts sharing state), through gorm.
//
// The SQLite driver is github.com/glebarez/sqlite, a pure-Go port (no cgo):
// the portcullis binary stays one static executable that cross-compiles
// anywhere. docs/storage.md records the cost measured against the cgo driver.
//
// Every driver runs one conformance suite, storagetest.Run. Errors are the
// sdk sentinels (sdk.ErrNotFound, sdk.ErrConflict), so host services can
// pass them to plugins unchanged.
package storage
