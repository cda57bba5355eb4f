// Package storage is the host's database: users, tokens and (through host
// services) plugin state. It runs on SQLite (embedded, the default) and on
// PostgreSQL (for several hosts sharing state), through gorm.
//
// The SQLite driver is modernc.org/sqlite, a pure-Go translation of
// SQLite (no cgo), given by name to gorm's own SQLite dialect
// (gorm.io/driver/sqlite): built with CGO_ENABLED=0, the portcullis binary
// is one static executable that cross-compiles anywhere. It keeps prepared statements, so gorm's statement cache spares
// the hot statements (counter increments above all) their parsing.
// docs/storage.md records the costs measured against the previous pure-Go
// driver and the cgo one.
//
// Every driver runs one conformance suite, storagetest.Run; for the plugin
// storage (KV) it runs the SDK's storage suite, sdktest.StorageSuite, which
// every sdk.Storage passes. Errors are the sdk sentinels (sdk.ErrNotFound,
// sdk.ErrConflict, sdk.ErrInvalidArgument), so host services can pass them
// to plugins unchanged.
package storage
