package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/portcullis-auth/portcullis/host/storage"
)

// PostgresEnv names the environment variable with the PostgreSQL DSN tests
// use; without it they skip.
const PostgresEnv = "PORTCULLIS_TEST_POSTGRES_DSN"

// PostgresDSN returns a DSN for a fresh, empty schema in the test
// PostgreSQL database, dropped when the test ends. It skips the test when
// PostgresEnv is not set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("skipping: %s is not set (see DEVELOPERS.md)", PostgresEnv)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("opening %s: %v", PostgresEnv, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "portcullis_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	return withSearchPath(t, base, schema)
}

func withSearchPath(t testing.TB, dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// key=value form
		return fmt.Sprintf("%s search_path=%s", dsn, schema)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLitePath returns the path of a new SQLite database file in a directory
// removed when the test ends.
func SQLitePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "portcullis.db")
}

// Open opens a store and closes it when the test ends.
func Open(t testing.TB, driver, dsn string) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatalf("opening %s store: %v", driver, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
