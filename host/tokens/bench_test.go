package tokens_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/procstat"
)

// BenchmarkIssue compares Issuer.Issue on SQLite (sign an access token,
// make a refresh token, store the session and the refresh token's hash in
// one transaction) with its yardstick, accesstoken.Sign alone signing
// claims of the same shape with an Ed25519 key: the difference is what
// storing the session costs. store/sqlite is that write alone
// (Store.CreateSession of a session and its refresh token, as Issue makes
// them), to show that it accounts for the difference. Each also reports
// the CPU time the process used per operation (cpu-ns/op, Linux only): on
// a machine shared with other work, wall time includes waiting for a CPU
// and CPU time does not.
//
//	go test ./host/tokens -run '^$' -bench Issue -count 10
//
// (docs/benchmarks.md runs -count 1 ten times instead, so that the three
// alternate and all see the same conditions.)
func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	id := sdk.Identity{Subject: uuid.NewString(), Username: "alice"}

	b.Run("yardstick=sign", func(b *testing.B) {
		private, err := accesstoken.NewKey(accesstoken.EdDSA)
		if err != nil {
			b.Fatal(err)
		}
		kid, err := accesstoken.KeyID(private.Public())
		if err != nil {
			b.Fatal(err)
		}
		key := accesstoken.Key{ID: kid, Algorithm: accesstoken.EdDSA, Public: private.Public()}
		now := time.Now().UTC().Truncate(time.Second)
		claims := &accesstoken.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "https://auth.example", Audience: jwt.ClaimStrings{"app"}, Subject: id.Subject, ID: uuid.NewString(),
				IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			},
			SessionID: uuid.NewString(), Username: id.Username,
		}
		b.ReportAllocs()
		defer reportIssueCPU(b)()
		for b.Loop() {
			if _, err := accesstoken.Sign(claims, key, private); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("store/sqlite", func(b *testing.B) {
		store := storagetest.Open(b, storage.SQLite, filepath.Join(b.TempDir(), "portcullis.db"))
		session := func() (storage.Session, storage.Token) {
			now := time.Now().UTC().Truncate(time.Second)
			sess := storage.Session{ID: uuid.NewString(), Subject: id.Subject, Username: id.Username, ExpiresAt: now.Add(time.Hour)}
			return sess, storage.Token{ID: uuid.NewString(), Hash: tokens.Hash("pcr_" + uuid.NewString()), Kind: tokens.Refresh,
				Subject: sess.Subject, Username: sess.Username, FamilyID: sess.ID, ExpiresAt: sess.ExpiresAt}
		}
		sess, refresh := session()
		if _, err := store.CreateSession(ctx, sess, refresh); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer reportIssueCPU(b)()
		for b.Loop() {
			sess, refresh := session()
			if _, err := store.CreateSession(ctx, sess, refresh); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("issue/sqlite", func(b *testing.B) {
		dir := b.TempDir()
		store := storagetest.Open(b, storage.SQLite, filepath.Join(dir, "portcullis.db"))
		sealer, err := tokens.LoadKEK("", dir)
		if err != nil {
			b.Fatal(err)
		}
		keys, err := tokens.OpenKeyRing(ctx, store, sealer, accesstoken.EdDSA, time.Hour, quiet)
		if err != nil {
			b.Fatal(err)
		}
		issuer := tokens.NewIssuer(store, keys, tokens.Options{Issuer: "https://auth.example", Audience: "app",
			AccessTTL: time.Hour, RefreshTTL: time.Hour, MaxLifetime: time.Hour})
		if _, err := issuer.Issue(ctx, id); err != nil { // opens the database's connections
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer reportIssueCPU(b)()
		for b.Loop() {
			if _, err := issuer.Issue(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportIssueCPU starts measuring the CPU time this process uses; the
// function it returns reports it per operation as "cpu-ns/op".
func reportIssueCPU(b *testing.B) func() {
	start, ok := procstat.CPU(os.Getpid())
	return func() {
		end, ok2 := procstat.CPU(os.Getpid())
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
