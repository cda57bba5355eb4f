package tokens_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

var quiet = slog.New(slog.DiscardHandler)

func open(t *testing.T, store *storage.Store, dir, alg string) *tokens.Issuer {
	t.Helper()
	sealer, err := tokens.LoadKEK("", dir)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.OpenKeyRing(context.Background(), store, sealer, alg, time.Hour, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return tokens.NewIssuer(store, keys, tokens.Options{Issuer: "https://auth.example", Audience: "app", AccessTTL: time.Hour, RefreshTTL: time.Hour, MaxLifetime: time.Hour})
}

func TestRotationKeepsOldTokensValid(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := storagetest.Open(t, storage.SQLite, filepath.Join(dir, "p.db"))
	first := open(t, store, dir, accesstoken.EdDSA)
	before, err := first.Issue(ctx, sdk.Identity{Subject: "u1", Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	oldKid := headerKid(t, before.AccessToken)

	sealer, err := tokens.LoadKEK("", dir)
	if err != nil {
		t.Fatal(err)
	}
	made, err := tokens.Rotate(ctx, store, sealer, accesstoken.EdDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A restarted host (a new ring over the same database) signs with the
	// new key and still verifies the old one's token.
	second := open(t, store, dir, accesstoken.EdDSA)
	after, err := second.Issue(ctx, sdk.Identity{Subject: "u1", Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if kid := headerKid(t, after.AccessToken); kid != made.ID || kid == oldKid {
		t.Errorf("new token's kid = %s, want the new key %s", kid, made.ID)
	}
	for name, tok := range map[string]string{"before": before.AccessToken, "after": after.AccessToken} {
		if _, err := second.Verify(ctx, tok); err != nil {
			t.Errorf("token issued %s the rotation: %v", name, err)
		}
	}
	set, err := second.Keys().Set()
	if err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS after rotation = %+v, %v; want both keys", set, err)
	}
	// The old key retires once its tokens have expired.
	if n, err := store.PurgeSigningKeys(ctx, time.Now().Add(time.Hour+2*tokens.ReloadEvery+time.Second)); err != nil || n != 1 {
		t.Errorf("purge after the retirement = %d, %v; want the old key", n, err)
	}
}

// headerKid returns the kid a token's header names.
func headerKid(t *testing.T, token string) string {
	t.Helper()
	var kid string
	_, err := (&accesstoken.Verifier{Issuer: "https://auth.example", Audience: "app", Keys: kidCatcher{&kid}}).Verify(context.Background(), token)
	if !errors.Is(err, accesstoken.ErrInvalidToken) || kid == "" {
		t.Fatalf("catching the kid: %v", err)
	}
	return kid
}

type kidCatcher struct{ kid *string }

func (k kidCatcher) VerificationKey(_ context.Context, kid string) (accesstoken.Key, error) {
	*k.kid = kid
	return accesstoken.Key{}, accesstoken.ErrUnknownKeyID
}

func TestSigningKeysAreSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := storagetest.Open(t, storage.SQLite, filepath.Join(dir, "p.db"))
	open(t, store, dir, accesstoken.ES256)

	info, err := os.Stat(filepath.Join(dir, tokens.DefaultKEKFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key-encryption key file: %v, %v; want mode 0600", info, err)
	}
	keys, err := store.SigningKeys(ctx, time.Now())
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(keys[0].Sealed); err == nil {
		t.Fatal("the stored private key parses without the key-encryption key")
	}
	if bytes.Contains(keys[0].Sealed, keys[0].Public[len(keys[0].Public)-32:]) {
		t.Error("the sealed key holds the public key's bytes in clear")
	}

	// Another key-encryption key cannot open it, and says so.
	other := t.TempDir()
	sealer, err := tokens.LoadKEK("", other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokens.OpenKeyRing(ctx, store, sealer, accesstoken.ES256, time.Hour, quiet)
	if !errors.Is(err, tokens.ErrWrongKEK) {
		t.Fatalf("opening with another key-encryption key: %v, want ErrWrongKEK", err)
	}
}

func TestKEKSources(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.LoadKEK(loose, dir); err == nil {
		t.Error("a key-encryption key file readable by others was accepted")
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.LoadKEK(short, dir); err == nil {
		t.Error("a 5-byte key-encryption key was accepted")
	}
	t.Setenv(tokens.KEKEnv, "not base64!")
	if _, err := tokens.LoadKEK("", dir); err == nil {
		t.Error("a malformed key in the environment was accepted")
	}
	t.Setenv(tokens.KEKEnv, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	s, err := tokens.LoadKEK(short, dir)
	if err != nil || s.Source != "$"+tokens.KEKEnv {
		t.Errorf("the environment does not come first: %v, %v", s, err)
	}
}

func TestAlgorithmChangeMakesANewKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := storagetest.Open(t, storage.SQLite, filepath.Join(dir, "p.db"))
	ed := open(t, store, dir, accesstoken.EdDSA)
	old, err := ed.Issue(ctx, sdk.Identity{Subject: "u1", Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	rsa := open(t, store, dir, accesstoken.RS256)
	fresh, err := rsa.Issue(ctx, sdk.Identity{Subject: "u1", Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{old.AccessToken, fresh.AccessToken} {
		if _, err := rsa.Verify(ctx, tok); err != nil {
			t.Errorf("verify after an algorithm change: %v", err)
		}
	}
	if keys := rsa.Keys().Keys(); len(keys) != 2 || keys[0].Algorithm != accesstoken.RS256 {
		t.Errorf("keys = %+v", keys)
	}
}
