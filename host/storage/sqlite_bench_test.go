package storage

// Benchmarks of the SQLite store through its public API, for the driver
// comparisons in docs/storage.md. Without tags they run on the pure-Go
// driver; with -tags sqlitecgo on the cgo one (sqlite_cgo_bench_test.go):
//
//	go test ./host/storage -run '^$' -bench SQLite -count 10
//	go test ./host/storage -run '^$' -bench SQLite -count 10 -tags sqlitecgo
//
// The -parallel variants run b.RunParallel with 4 goroutines per CPU (many
// logins at once, as behind an HTTP server) against one store, whose
// SQLite pool holds 4 connections.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/procstat"
)

// benchHash has the shape and length of a PHC string from the password
// plugin's default Argon2id parameters.
var benchHash = "$argon2id$v=19$m=19456,t=2,p=1$" + strings.Repeat("s", 22) + "$" + strings.Repeat("h", 43)

// benchUsers is how many users the lookup and update benchmarks spread over.
const benchUsers = 1000

func BenchmarkSQLite(b *testing.B) {
	// A configuration line (benchstat shows it in its header) naming the
	// driver, so that results from the two builds cannot be mixed up.
	fmt.Printf("sqlite-driver: %s\n", sqliteDriver.name)

	b.Run("CreateUser", func(b *testing.B) {
		s, ctx := openBenchStore(b)
		var n int
		defer reportCPU(b)()
		for b.Loop() {
			n++
			if _, err := s.CreateUser(ctx, fmt.Sprintf("user-%d", n), benchHash); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UserByUsername", func(b *testing.B) {
		s, ctx := openBenchStore(b)
		users := createBenchUsers(b, s, benchUsers)
		var n int
		defer reportCPU(b)()
		for b.Loop() {
			n++
			if _, err := s.UserByUsername(ctx, users[n%len(users)].Username); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReplacePasswordHash", func(b *testing.B) {
		s, ctx := openBenchStore(b)
		users := createBenchUsers(b, s, benchUsers)
		hashes := make([]string, len(users)) // each user's current hash
		for i := range hashes {
			hashes[i] = benchHash
		}
		var n int
		defer reportCPU(b)()
		for b.Loop() {
			i := n % len(users)
			n++
			next := fmt.Sprintf("%s-%d", benchHash, n)
			if err := s.ReplacePasswordHash(ctx, users[i].ID, hashes[i], next); err != nil {
				b.Fatal(err)
			}
			hashes[i] = next
		}
	})
	b.Run("IncrementWindow", func(b *testing.B) {
		// The lockout's counter of one client, as the host's shortcut
		// counts each repeated refusal: one upsert of one row.
		s, ctx := openBenchStore(b)
		kv := s.KV("lockout")
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := kv.IncrementWindow(ctx, "f:victim|203.0.113.7", 1, 30*time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Enqueue", func(b *testing.B) {
		// One signal for two async subscribers: two outbox rows in one
		// statement.
		s, ctx := openBenchStore(b)
		subscribers := []string{"webhook", "audit"}
		var n int
		defer reportCPU(b)()
		for b.Loop() {
			n++
			sig := sdk.Signal{
				ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), Name: "user_login_failed", Sender: "local",
				Time: time.Now(), Args: []byte(`{"username":"victim","ip_address":"203.0.113.7"}`),
			}
			if err := s.Enqueue(ctx, sig, subscribers); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("CreateUser-parallel", func(b *testing.B) {
		s, ctx := openBenchStore(b)
		var n atomic.Int64
		b.ResetTimer()
		defer reportCPU(b)()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.CreateUser(ctx, fmt.Sprintf("user-%d", n.Add(1)), benchHash); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("UserByUsername-parallel", func(b *testing.B) {
		s, ctx := openBenchStore(b)
		users := createBenchUsers(b, s, benchUsers)
		var n atomic.Int64
		b.ResetTimer()
		defer reportCPU(b)()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.UserByUsername(ctx, users[n.Add(1)%int64(len(users))].Username); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("ReplacePasswordHash-parallel", func(b *testing.B) {
		s, ctx := openBenchStore(b)
		users := createBenchUsers(b, s, benchUsers)
		var (
			goroutines atomic.Int64
			n          atomic.Int64
		)
		b.ResetTimer()
		defer reportCPU(b)()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine updates users of its own (every 64th, from its
			// own offset), so no update loses a compare-and-swap race.
			g := int(goroutines.Add(1) - 1)
			if g >= 64 {
				b.Error("more than 64 goroutines")
				return
			}
			var mine []int
			for i := g; i < len(users); i += 64 {
				mine = append(mine, i)
			}
			hashes := map[int]string{}
			for k := 0; pb.Next(); k++ {
				i := mine[k%len(mine)]
				old, ok := hashes[i]
				if !ok {
					old = benchHash
				}
				next := fmt.Sprintf("%s-%d", benchHash, n.Add(1))
				if err := s.ReplacePasswordHash(ctx, users[i].ID, old, next); err != nil {
					b.Error(err)
					return
				}
				hashes[i] = next
			}
		})
	})
}

// reportCPU starts measuring the CPU time this process uses; the function
// it returns reports it per operation as "cpu-ns/op". On a machine shared
// with other work, wall time per operation includes waiting for a CPU and
// CPU time does not, so the drivers can still be compared. Linux only (it
// reads /proc/PID/stat); elsewhere nothing is reported.
func reportCPU(b *testing.B) func() {
	start, ok := procstat.CPU(os.Getpid())
	return func() {
		end, ok2 := procstat.CPU(os.Getpid())
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// openBenchStore opens a store on a new SQLite file, closed when b ends.
func openBenchStore(b *testing.B) (*Store, context.Context) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, SQLite, filepath.Join(b.TempDir(), "portcullis.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	b.ReportAllocs()
	return s, ctx
}

func createBenchUsers(b *testing.B, s *Store, n int) []User {
	b.Helper()
	users := make([]User, n)
	for i := range users {
		u, err := s.CreateUser(context.Background(), fmt.Sprintf("user-%d", i), benchHash)
		if err != nil {
			b.Fatal(err)
		}
		users[i] = u
	}
	return users
}

// TestSQLitePragmas checks that the SQLite driver in use (the pure-Go one,
// or the cgo one with -tags sqlitecgo) runs with the settings the store
// relies on, so that the benchmarks compare like with like.
func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, SQLite, filepath.Join(t.TempDir(), "portcullis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "10000",
		"synchronous":  "1", // NORMAL
		"foreign_keys": "1",
	} {
		var got string
		if err := s.db.WithContext(ctx).Raw("PRAGMA " + pragma).Row().Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("%s with %s: PRAGMA %s = %q, want %q", sqliteDriver.name, "the store's DSN", pragma, got, want)
		}
	}
}
