package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// testAppKeys: app keys are stored by hash under unique names, listed by
// name, and revoked once; a second handle on the database (another host)
// sees what the first did.
func testAppKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	hash := func(key string) string {
		sum := sha256.Sum256([]byte(key))
		return hex.EncodeToString(sum[:])
	}

	billing, err := s.CreateAppKey(ctx, "billing", hash("key-billing"))
	if err != nil {
		t.Fatal(err)
	}
	if billing.ID == "" || billing.Name != "billing" || billing.CreatedAt.IsZero() || billing.Revoked() {
		t.Fatalf("created app key = %+v", billing)
	}

	t.Run("names are unique", func(t *testing.T) {
		if _, err := s.CreateAppKey(ctx, "billing", hash("another")); !errors.Is(err, sdk.ErrConflict) {
			t.Fatalf("a second key named billing: got %v, want ErrConflict", err)
		}
		if _, err := s.CreateAppKey(ctx, "shop", hash("key-billing")); !errors.Is(err, sdk.ErrConflict) {
			t.Fatalf("a second key with billing's hash: got %v, want ErrConflict", err)
		}
	})

	t.Run("invalid names and hashes", func(t *testing.T) {
		for _, name := range []string{"", " ", "bill ing", "billing\n", "a/b", "bill\x00", "caf\u00e9", "\u0430pp",
			strings.Repeat("a", storage.MaxAppKeyName+1), strings.Repeat("\u00e9", 40), "\xff"} {
			if _, err := s.CreateAppKey(ctx, name, hash("k-"+name)); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("CreateAppKey(%+q) = %v, want ErrInvalidArgument", name, err)
			}
		}
		long := strings.Repeat("a", storage.MaxAppKeyName)
		if _, err := s.CreateAppKey(ctx, long, hash("k-long")); err != nil {
			t.Errorf("a name of %d characters: %v", storage.MaxAppKeyName, err)
		}
		for _, h := range []string{"", "pck_not-a-hash", strings.ToUpper(hash("x")), hash("x")[:63], hash("x") + "0"} {
			if _, err := s.CreateAppKey(ctx, "good-name", h); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("CreateAppKey with hash %q = %v, want ErrInvalidArgument", h, err)
			}
		}
		if _, err := s.AppKeyByHash(ctx, hash("k-")); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("a refused key was stored: %v", err)
		}
	})

	t.Run("lookup by hash", func(t *testing.T) {
		got, err := other.AppKeyByHash(ctx, hash("key-billing"))
		if err != nil || got.ID != billing.ID || got.Name != "billing" || got.Revoked() {
			t.Fatalf("AppKeyByHash = %+v, %v", got, err)
		}
		if _, err := other.AppKeyByHash(ctx, hash("unknown")); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("unknown hash: got %v, want ErrNotFound", err)
		}
		if _, err := other.AppKeyByHash(ctx, "key-billing"); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("looking up by the key instead of its hash: got %v, want ErrNotFound", err)
		}
	})

	for _, name := range []string{"zeta", "Alpha", "alpha", "a.b_c-9", "Zeta"} {
		if _, err := s.CreateAppKey(ctx, name, hash("key-"+name)); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("revoke", func(t *testing.T) {
		revoked, err := s.RevokeAppKey(ctx, "billing")
		if err != nil || !revoked {
			t.Fatalf("RevokeAppKey(billing) = %v, %v", revoked, err)
		}
		got, err := other.AppKeyByHash(ctx, hash("key-billing"))
		if err != nil || !got.Revoked() || got.RevokedAt.Before(got.CreatedAt) {
			t.Fatalf("AppKeyByHash of a revoked key = %+v, %v; want it with RevokedAt set", got, err)
		}
		if revoked, err := other.RevokeAppKey(ctx, "billing"); err != nil || revoked {
			t.Fatalf("revoking twice = %v, %v; want false, nil", revoked, err)
		}
		if _, err := s.RevokeAppKey(ctx, "nobody"); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("revoking an unknown name: got %v, want ErrNotFound", err)
		}
		if _, err := s.RevokeAppKey(ctx, "BILLING"); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("names match exactly: revoking BILLING got %v, want ErrNotFound", err)
		}
		if _, err := s.CreateAppKey(ctx, "billing", hash("key-billing-2")); !errors.Is(err, sdk.ErrConflict) {
			t.Fatalf("reusing a revoked key's name: got %v, want ErrConflict", err)
		}
		if got, _ := s.AppKeyByHash(ctx, hash("key-zeta")); got.Revoked() {
			t.Fatalf("revoking billing revoked zeta: %+v", got)
		}
	})

	t.Run("concurrent revokes", func(t *testing.T) {
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := s
				if i%2 == 1 {
					db = other
				}
				revoked, err := db.RevokeAppKey(ctx, "alpha")
				if err != nil {
					t.Error(err)
					return
				}
				if revoked {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d of %d concurrent revokes said they revoked the key, want 1", won, n)
		}
	})

	t.Run("list", func(t *testing.T) {
		keys, err := other.ListAppKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, k := range keys {
			names = append(names, k.Name)
			if k.ID == "" || k.CreatedAt.IsZero() {
				t.Errorf("listed key lacks id or time: %+v", k)
			}
			if want := k.Name == "billing" || k.Name == "alpha"; k.Revoked() != want {
				t.Errorf("key %s: revoked %v, want %v", k.Name, k.Revoked(), want)
			}
		}
		want := []string{"Alpha", "Zeta", "a.b_c-9", strings.Repeat("a", storage.MaxAppKeyName), "alpha", "billing", "zeta"}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("ListAppKeys names = %q, want %q (byte order)", names, want)
		}
	})
}
