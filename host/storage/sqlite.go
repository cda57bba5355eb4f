package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gorm.io/gorm"

	gormsqlite "gorm.io/driver/sqlite"
	modernc "modernc.org/sqlite"
)

// sqliteDriver is how the store opens SQLite: the pure-Go driver
// modernc.org/sqlite, whose prepared statements are parsed once, under
// gorm's own SQLite dialect (gorm.io/driver/sqlite, given the driver by
// name). It is a variable only so that a benchmark can compare another
// driver.
var sqliteDriver = struct {
	name string
	dsn  func(path string) (string, error)
	open func(dsn string) gorm.Dialector
}{"modernc.org/sqlite (pure Go)", sqliteDSN, openModernc}

// openModernc is gorm's SQLite dialect on the pure-Go driver, whose
// errors it translates itself: the dialect reads the error fields of the
// cgo driver, which this one does not have.
func openModernc(dsn string) gorm.Dialector {
	return moderncDialector{gormsqlite.New(gormsqlite.Config{DriverName: "sqlite", DSN: dsn}).(*gormsqlite.Dialector)}
}

type moderncDialector struct{ *gormsqlite.Dialector }

// Translate implements gorm.ErrorTranslator for modernc.org/sqlite's
// errors: a unique or primary key conflict is gorm.ErrDuplicatedKey, a
// foreign key violation gorm.ErrForeignKeyViolated
// (https://www.sqlite.org/rescode.html).
func (d moderncDialector) Translate(err error) error {
	var se *modernc.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case 1555, 2067: // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE
			return gorm.ErrDuplicatedKey
		case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
			return gorm.ErrForeignKeyViolated
		}
	}
	return err
}

// sqliteDSN turns a file path into a DSN with the pragmas the host relies
// on: WAL so readers never wait for the writer, a busy timeout so that
// processes sharing the file wait for each other, and immediate
// transactions so that a read-then-write transaction cannot deadlock.
//
// A DSN the operator wrote in full (isOperatorDSN) keeps its parameters;
// only the time format is added when it sets none. Times are written as
// "2006-01-02 15:04:05.999999999-07:00", the text every earlier version of
// the host (and the cgo driver) wrote, so that a database keeps one format
// and its times compare in order as text.
func sqliteDSN(path string) (string, error) {
	if path == "" {
		return "", errors.New("storage: sqlite needs a file path")
	}
	if isOperatorDSN(path) {
		return withTimeFormat(path), nil
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("storage: creating the database directory: %w", err)
		}
	}
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate&_time_format=sqlite", nil
}

// isOperatorDSN reports whether dsn is a DSN written in full, with its
// parameters chosen by the operator, rather than a file path.
func isOperatorDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "file:") || strings.Contains(dsn, "?")
}

// withTimeFormat adds _time_format=sqlite to an operator's DSN that sets
// no _time_format.
func withTimeFormat(dsn string) string {
	rest, fragment, hasFragment := strings.Cut(dsn, "#")
	_, rawQuery, hasQuery := strings.Cut(rest, "?")
	if query, _ := url.ParseQuery(rawQuery); query.Has("_time_format") {
		return dsn
	}
	switch {
	case !hasQuery:
		rest += "?"
	case rawQuery != "" && !strings.HasSuffix(rawQuery, "&"):
		rest += "&"
	}
	rest += "_time_format=sqlite"
	if hasFragment {
		rest += "#" + fragment
	}
	return rest
}

// openToOthers are the permission bits that let users other than the
// host's read or change a file, or list or change a directory.
const openToOthers fs.FileMode = 0o066

// prepareSQLiteFile creates the database file that dsn names, if it does
// not exist yet and the DSN lets SQLite create it, readable and writable by
// its owner only. SQLite gives the -wal and -shm files it makes beside the
// database the database file's permissions, so they are private too.
//
// It never changes an existing file or directory. It returns a warning for
// each that other users can reach: the database's directory, if they can
// list or change it, and the database, -wal and -shm files, if they can
// read or write them.
func prepareSQLiteFile(dsn string) (warnings []string, err error) {
	path, create := sqliteFilePath(dsn)
	if path == "" {
		return nil, nil
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&openToOthers != 0 {
		warnings = append(warnings, fmt.Sprintf(
			"storage: other users can list or change the database directory %s (mode %v); "+
				"keep the database in a directory only the host's user can open (chmod 700)", dir, fi.Mode().Perm()))
	}
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			err = f.Close()
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return warnings, fmt.Errorf("storage: creating the database file: %w", err)
		}
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(name); err == nil && fi.Mode().Perm()&openToOthers != 0 {
			warnings = append(warnings, fmt.Sprintf(
				"storage: other users can read or write the database file %s (mode %v); chmod 600 it", name, fi.Mode().Perm()))
		}
	}
	return warnings, nil
}

// sqliteFilePath returns the file a SQLite DSN opens, read the way SQLite
// reads it, and whether SQLite may create it. A DSN that starts with
// "file:" is a URI: an optional empty or "localhost" authority, a
// percent-encoded path, and parameters (mode=ro and mode=rw forbid
// creating the file). Any other DSN is a path, whose parameters after "?"
// the driver takes for itself. The path is "" when the DSN names no file of
// this machine: an in-memory database, another VFS, or another host.
func sqliteFilePath(dsn string) (path string, create bool) {
	uri, isURI := strings.CutPrefix(dsn, "file:")
	if !isURI {
		path, _, _ = strings.Cut(dsn, "?")
		if path == ":memory:" {
			return "", false
		}
		return path, path != ""
	}
	uri, _, _ = strings.Cut(uri, "#")
	uri, rawQuery, _ := strings.Cut(uri, "?")
	if rest, ok := strings.CutPrefix(uri, "//"); ok {
		authority, p, _ := strings.Cut(rest, "/")
		if authority != "" && authority != "localhost" {
			return "", false
		}
		uri = "/" + p
	}
	path = uri
	if p, err := url.PathUnescape(uri); err == nil {
		path = p
	}
	query, _ := url.ParseQuery(rawQuery) // what parses; SQLite is as lenient
	mode := query.Get("mode")
	if path == "" || path == ":memory:" || mode == "memory" || query.Get("vfs") != "" {
		return "", false
	}
	return path, mode == "" || mode == "rwc"
}
