package e2e

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/host/storage"
)

// BenchmarkLoginTiming measures what an attacker measures to learn which
// usernames exist: how long a login with a wrong password takes, for an
// unknown username and for users whose stored hash is argon2id (made by
// `users add`), bcrypt with cost 12, and Django's pbkdf2_sha256 with
// 1,000,000 iterations (imported before the host starts). One real host,
// chain [password]; the kinds take turns, in a rotating order, for
// loginTimingRounds rounds after loginTimingWarmup; each login is timed by
// the client, over one kept-alive connection, one at a time. It reports
// the median of each kind in ms, and the spread of the medians, in one
// run:
//
//	go test ./e2e -run '^$' -bench LoginTiming -benchtime 1x
//
// docs/benchmarks.md records the figures.
func BenchmarkLoginTiming(b *testing.B) {
	const (
		loginTimingRounds = 60
		loginTimingWarmup = 3
	)
	dir := b.TempDir()
	cfg := writeConfigAt(b, dir, "info", "storage: {driver: sqlite, dsn: ./portcullis.db}\nbackends:\n  - {name: local, plugin: password}\n")

	// Users imported from an older system, before the host starts.
	store, err := storage.Open(context.Background(), storage.SQLite, filepath.Join(dir, "portcullis.db"))
	if err != nil {
		b.Fatal(err)
	}
	bcrypt12, err := bcrypt.GenerateFromPassword([]byte("bcrypt-pw"), 12)
	if err != nil {
		b.Fatal(err)
	}
	salt := "FQdDu0nnpPZNk0r3Hy4kBm"
	key, err := pbkdf2.Key(sha256.New, "django-pw", []byte(salt), 1_000_000, 32)
	if err != nil {
		b.Fatal(err)
	}
	for name, hash := range map[string]string{
		"bcrypt-user": string(bcrypt12),
		"django-user": "pbkdf2_sha256$1000000$" + salt + "$" + base64.StdEncoding.EncodeToString(key),
	} {
		if _, err := store.CreateUser(context.Background(), name, hash); err != nil {
			b.Fatal(err)
		}
	}
	store.Close()

	h := startHost(b, cfg)
	mustRun(b, cfg, "argon-pw\n", "users", "add", "argon-user", "--password-stdin")

	kinds := []struct{ name, username string }{
		{"unknown", "no-such-user"},
		{"argon2id", "argon-user"},
		{"bcrypt-12", "bcrypt-user"},
		{"pbkdf2-1M", "django-user"},
	}
	client := &http.Client{Timeout: 30 * time.Second}
	login := func(username string) time.Duration {
		body, _ := json.Marshal(map[string]string{"username": username, "password": "wrong-password"})
		start := time.Now()
		resp, err := client.Post(h.url+"/v1/login", "application/json", strings.NewReader(string(body)))
		if err != nil {
			b.Fatal(err)
		}
		r := readResponse(b, resp)
		took := time.Since(start)
		if r.status != http.StatusUnauthorized {
			b.Fatalf("login as %s: %d %s", username, r.status, r.raw)
		}
		return took
	}
	samples := make([][]time.Duration, len(kinds))
	b.ResetTimer()
	for range b.N {
		for round := range loginTimingWarmup + loginTimingRounds {
			for i := range kinds {
				k := (round + i) % len(kinds)
				took := login(kinds[k].username)
				if round >= loginTimingWarmup {
					samples[k] = append(samples[k], took)
				}
			}
		}
	}
	b.StopTimer()

	medians := make([]float64, len(kinds))
	var table strings.Builder
	fmt.Fprintf(&table, "%-10s %5s %10s %10s %10s %10s\n", "kind", "n", "median ms", "p25 ms", "p75 ms", "max ms")
	for i, k := range kinds {
		s := slices.Clone(samples[i])
		slices.Sort(s)
		ms := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))]) / 1e6 }
		medians[i] = median(s)
		fmt.Fprintf(&table, "%-10s %5d %10.1f %10.1f %10.1f %10.1f\n", k.name, len(s), medians[i], ms(0.25), ms(0.75), ms(1))
		b.ReportMetric(medians[i], k.name+"-median-ms")
	}
	lo, hi := slices.Min(medians), slices.Max(medians)
	b.ReportMetric((hi/lo-1)*100, "spread-%")
	b.Logf("wrong-password logins, medians of %d per kind in one run:\n%sspread of the medians: %.1f%% (slowest over fastest)", loginTimingRounds*b.N, table.String(), (hi/lo-1)*100)
}

// median returns the median of sorted durations, in ms.
func median(sorted []time.Duration) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return float64(sorted[n/2]) / 1e6
	}
	return float64(sorted[n/2-1]+sorted[n/2]) / 2e6
}
