package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// sqliteDriver is how the store opens SQLite: the pure-Go driver. It is a
// variable only so that a benchmark can compare another driver.
var sqliteDriver = struct {
	name string
	dsn  func(path string) (string, error)
	open func(dsn string) gorm.Dialector
}{"github.com/glebarez/sqlite (pure Go)", sqliteDSN, sqlite.Open}

// sqliteDSN turns a file path into a DSN with the pragmas the host relies
// on: WAL so readers never wait for the writer, a busy timeout so that
// processes sharing the file wait for each other, and immediate
// transactions so that a read-then-write transaction cannot deadlock.
func sqliteDSN(path string) (string, error) {
	if path == "" {
		return "", errors.New("storage: sqlite needs a file path")
	}
	if strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return path, nil // the operator chose every parameter
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("storage: creating the database directory: %w", err)
		}
	}
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate", nil
}
