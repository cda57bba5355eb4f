package tokens_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
)

// newTestIssuer returns an issuer of EdDSA tokens on a fresh SQLite store,
// with hour-long tokens and sessions and a quiet log; edit, if not nil,
// changes its options first.
func newTestIssuer(t *testing.T, edit func(*tokens.Options)) (*storage.Store, *tokens.Issuer) {
	t.Helper()
	dir := t.TempDir()
	store := storagetest.Open(t, storage.SQLite, filepath.Join(dir, "p.db"))
	sealer, err := tokens.LoadKEK("", dir)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.OpenKeyRing(context.Background(), store, sealer, accesstoken.EdDSA, time.Hour, quiet)
	if err != nil {
		t.Fatal(err)
	}
	opts := tokens.Options{Issuer: "https://auth.example", Audience: "app", AccessTTL: time.Hour,
		RefreshTTL: time.Hour, MaxLifetime: time.Hour, Logger: quiet}
	if edit != nil {
		edit(&opts)
	}
	return store, tokens.NewIssuer(store, keys, opts)
}
