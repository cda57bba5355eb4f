//go:build sqlitecgo

package storage

// With -tags sqlitecgo the tests and benchmarks of this package run on the
// cgo SQLite driver (gorm.io/driver/sqlite, i.e. mattn/go-sqlite3) instead
// of the pure-Go one, with the same pragmas, so that the two can be
// compared (docs/storage.md):
//
//	go test ./host/storage -run '^$' -bench SQLite -count 10 > purego.txt
//	go test ./host/storage -run '^$' -bench SQLite -count 10 -tags sqlitecgo > cgo.txt
//
// The cgo driver is only ever linked into this package's test binary.

import (
	cgosqlite "gorm.io/driver/sqlite"
)

func init() {
	sqliteDriver.name = "gorm.io/driver/sqlite (mattn/go-sqlite3, cgo)"
	sqliteDriver.dsn = mattnDSN
	sqliteDriver.open = cgosqlite.Open
}

// mattnDSN is sqliteDSN in mattn/go-sqlite3's parameter names: WAL, a 10 s
// busy timeout, synchronous NORMAL, foreign keys and immediate transactions.
func mattnDSN(path string) (string, error) {
	full, err := sqliteDSN(path) // checks the path and creates its directory
	if err != nil || isOperatorDSN(path) {
		return full, err // an error, or a DSN the operator wrote in full
	}
	return "file:" + path + "?_busy_timeout=10000&_journal_mode=WAL" +
		"&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate", nil
}
