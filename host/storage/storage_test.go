package storage_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
)

func TestSQLite(t *testing.T) {
	storagetest.Run(t, func(t testing.TB) storagetest.Opener {
		path := storagetest.SQLitePath(t)
		return func(t testing.TB) *storage.Store { return storagetest.Open(t, storage.SQLite, path) }
	})
}

func TestPostgres(t *testing.T) {
	storagetest.Run(t, func(t testing.TB) storagetest.Opener {
		dsn := storagetest.PostgresDSN(t)
		return func(t testing.TB) *storage.Store { return storagetest.Open(t, storage.Postgres, dsn) }
	})
}
