// Package sqlitedialect is gorm's SQLite dialect (SQL generation, schema
// migration, error translation) on the pure-Go driver modernc.org/sqlite.
//
// It is github.com/glebarez/sqlite v1.11.0 (MIT, LICENSE in this
// directory), unchanged but for one import: glebarez/sqlite drives
// modernc.org/sqlite through github.com/glebarez/go-sqlite, a fork of its
// database/sql layer that parses every statement again on each execution,
// and that registers itself under the same driver name, "sqlite", as
// modernc.org/sqlite, so the two cannot be linked into one binary. Here the
// driver is modernc.org/sqlite itself, whose prepared statements are parsed
// once. The dialect's SQL is plain SQLite and does not depend on the driver.
//
// Nothing outside host/storage uses it; host/storage's conformance suite is
// its test, with the dialect's own DDL parsing tests.
package sqlitedialect
