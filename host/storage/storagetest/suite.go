package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Opener returns a handle on one database. Every call within a test must
// reach the same database, as a second host process would; the first call
// may create it.
type Opener func(t testing.TB) *storage.Store

// Run runs the storage conformance suite. newDB is called once per subtest
// and returns an Opener on a fresh database. The plugin storage (KV) runs
// the SDK's storage suite, sdktest.StorageSuite, which every sdk.Storage
// passes; what is tested here besides is the host's own.
func Run(t *testing.T, newDB func(t testing.TB) Opener) {
	t.Run("ConcurrentMigrations", func(t *testing.T) { testConcurrentMigrations(t, newDB(t)) })
	t.Run("Users", func(t *testing.T) { testUsers(t, newDB(t)(t)) })
	t.Run("Usernames", func(t *testing.T) { testUsernames(t, newDB(t)(t)) })
	t.Run("ConcurrentCaseVariants", func(t *testing.T) { testConcurrentCaseVariants(t, newDB(t)) })
	t.Run("ReplacePasswordHash", func(t *testing.T) { testReplacePasswordHash(t, newDB(t)(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newDB(t)(t)) })
	t.Run("PurgeTokens", func(t *testing.T) { testPurgeTokens(t, newDB(t)(t)) })
	t.Run("PurgeTokensIsBounded", func(t *testing.T) { testPurgeTokensIsBounded(t, newDB(t)(t)) })
	t.Run("KV", func(t *testing.T) { kvSuite(newDB).Run(t) })
	t.Run("KVIncrementWindow", func(t *testing.T) { testKVIncrementWindow(t, newDB(t)(t)) })
	t.Run("KVPurgeExpired", func(t *testing.T) { testPurgeExpired(t, newDB(t)(t)) })
	t.Run("OutboxLifecycle", func(t *testing.T) { testOutboxLifecycle(t, newDB(t)(t)) })
	t.Run("OutboxClaimsAreExclusive", func(t *testing.T) { testOutboxClaimsAreExclusive(t, newDB(t)) })
	t.Run("AppKeys", func(t *testing.T) { testAppKeys(t, newDB(t)) })
	t.Run("Admins", func(t *testing.T) { testAdmins(t, newDB(t)) })
	t.Run("AuthRequests", func(t *testing.T) { testAuthRequests(t, newDB(t)) })
	t.Run("AuthRequestWatch", func(t *testing.T) { testAuthRequestWatch(t, newDB(t)) })
	t.Run("OAuth2", func(t *testing.T) { testOAuth2(t, newDB(t)) })
	t.Run("Roles", func(t *testing.T) { testRoles(t, newDB(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, newDB(t)(t)) })
	t.Run("SessionUpstream", func(t *testing.T) { testSessionUpstream(t, newDB(t)) })
	t.Run("VouchedRoles", func(t *testing.T) { testVouchedRoles(t, newDB(t)) })
	t.Run("SigningKeys", func(t *testing.T) { testSigningKeys(t, newDB(t)) })
}

func testConcurrentMigrations(t *testing.T, open Opener) {
	const hosts = 4
	var wg sync.WaitGroup
	stores := make([]*storage.Store, hosts)
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i] = open(t)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	if _, err := stores[0].CreateUser(ctx, "migrated", "h"); err != nil {
		t.Fatalf("using the schema after concurrent migrations: %v", err)
	}
	for i, s := range stores {
		if _, err := s.UserByUsername(ctx, "migrated"); err != nil {
			t.Errorf("host %d does not see the user: %v", i, err)
		}
	}
}

func testUsers(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	alice, err := s.CreateUser(ctx, "alice", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	if alice.ID == "" || alice.CreatedAt.IsZero() {
		t.Fatalf("created user lacks id or time: %+v", alice)
	}
	if _, err := s.CreateUser(ctx, "alice", "other"); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("duplicate username: got %v, want ErrConflict", err)
	}
	for _, name := range []string{"Alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45"} {
		if _, err := s.CreateUser(ctx, name, "hash-A"); !errors.Is(err, sdk.ErrConflict) && !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("CreateUser(%+q) beside alice: got %v, want ErrConflict (one name whatever its case or width)", name, err)
		}
	}
	if _, err := s.CreateUser(ctx, "Alice2", "hash-A"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByUsername(ctx, "Alice2"); err != nil {
		t.Fatalf("UserByUsername(Alice2): %v", err)
	}
	if _, err := s.UserByUsername(ctx, "alice2"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("UserByUsername(alice2) for the user Alice2: got %v; want ErrNotFound (a login matches the name exactly, case included)", err)
	}
	got, err := s.UserByUsername(ctx, "alice")
	if err != nil || got.ID != alice.ID || got.PasswordHash != "hash-a" {
		t.Fatalf("UserByUsername = %+v, %v", got, err)
	}
	if _, err := s.UserByUsername(ctx, "nobody"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("unknown user: got %v, want ErrNotFound", err)
	}
	if _, err := s.SetPassword(ctx, "alice", "hash-b"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByUsername(ctx, "alice"); got.PasswordHash != "hash-b" {
		t.Fatalf("SetPassword did not stick: %+v", got)
	}
	if _, err := s.SetPassword(ctx, "nobody", "x"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("SetPassword of unknown user: got %v", err)
	}
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[0].Username != "Alice2" || users[1].Username != "alice" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
	if _, err := s.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveUser(ctx, "alice"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("removing twice: got %v, want ErrNotFound", err)
	}
	if _, err := s.UserByUsername(ctx, "alice"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("removed user still found: %v", err)
	}
}

// testUsernames: the store keeps only canonical usernames, one per key.
func testUsernames(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	const joseNFC, joseNFD = "Jos\u00e9", "Jose\u0301"
	if _, err := s.CreateUser(ctx, joseNFC, "h"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"decomposed form of a user's name", joseNFD, sdk.ErrInvalidArgument},
		{"upper case of a user's name", "JOS\u00c9", sdk.ErrConflict},
		{"the same name", joseNFC, sdk.ErrConflict},
		{"mixed scripts", "\u0430lice", sdk.ErrInvalidArgument},
		{"zero width space", "ali\u200bce", sdk.ErrInvalidArgument},
		{"right-to-left override", "ali\u202ece", sdk.ErrInvalidArgument},
		{"trailing space", "alice ", sdk.ErrInvalidArgument},
		{"empty", "", sdk.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.CreateUser(ctx, tt.in, "h"); !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateUser(%+q) = %v, want %v", tt.in, err, tt.wantErr)
			}
		})
	}
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) != 1 {
		t.Fatalf("refused names were stored: %+v, %v", users, err)
	}
}

// testConcurrentCaseVariants: of names that differ only in case, created
// at once from two hosts, exactly one is stored.
func testConcurrentCaseVariants(t *testing.T, open Opener) {
	ctx := context.Background()
	stores := []*storage.Store{open(t), open(t)}
	names := []string{"carol", "Carol", "CAROL", "caroL"}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = stores[i%2].CreateUser(ctx, name, "h")
		}()
	}
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, sdk.ErrConflict):
			t.Errorf("CreateUser(%s): %v, want success or ErrConflict", names[i], err)
		}
	}
	if users, err := stores[0].ListUsers(ctx); created != 1 || err != nil || len(users) != 1 {
		t.Fatalf("%d of %v created, stored %+v, %v; want exactly one", created, names, users, err)
	}
}

func testReplacePasswordHash(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "bob", "legacy")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplacePasswordHash(ctx, u.ID, "not-the-hash", "new"); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("stale old hash: got %v, want ErrConflict", err)
	}
	if err := s.ReplacePasswordHash(ctx, "no-such-id", "legacy", "new"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("unknown id: got %v, want ErrNotFound", err)
	}
	// Of concurrent replacements from the same old hash exactly one wins.
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ReplacePasswordHash(ctx, u.ID, "legacy", fmt.Sprintf("new-%d", i))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, sdk.ErrConflict):
			t.Errorf("racer failed with %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent replacements won, want exactly 1", wins)
	}
}

func testTokens(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tok := storage.Token{Hash: "ab12", Kind: "access", Subject: "u1", Username: "alice", FamilyID: "f1", ExpiresAt: exp}
	if err := s.SaveTokens(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByHash(ctx, "ab12")
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "u1" || !got.ExpiresAt.Equal(exp) || !got.RevokedAt.IsZero() {
		t.Fatalf("TokenByHash = %+v", got)
	}
	if _, err := s.TokenByHash(ctx, "nope"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("unknown token: got %v", err)
	}
}
