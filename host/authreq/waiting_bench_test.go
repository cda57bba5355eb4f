package authreq_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/procstat"
)

// BenchmarkIdleLongPolls measures what devices' long polls cost while
// nothing happens: one operation is 100 ms of wall time with the polls
// waiting, and cpu-% is the process's CPU time over that wall time. The
// yardstick is the same process with no poll at all (polls=0): a poll
// that looped would show as CPU above it.
//
//	go test ./host/authreq -run '^$' -bench IdleLongPolls -benchtime 30x
func BenchmarkIdleLongPolls(b *testing.B) {
	for _, db := range []string{storage.SQLite, storage.Postgres} {
		for _, polls := range []int{0, 100} {
			b.Run(fmt.Sprintf("db=%s/polls=%d", db, polls), func(b *testing.B) {
				dsn := storagetest.SQLitePath(b)
				if db == storage.Postgres {
					dsn = storagetest.PostgresDSN(b)
				}
				store := storagetest.Open(b, db, dsn)
				svc := authreq.New(authreq.Options{Store: store, Backends: map[string]sdk.AuthorizationRequestBackend{},
					DefaultExpiration: time.Hour, MaxExpiration: time.Hour, MaxWrongAnswers: 5, Signals: dropSignals{}})
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for i := range polls {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, _ = svc.Waiting(ctx, fmt.Sprintf("user-%d", i), "phone", time.Hour)
					}()
				}
				for store.Watching() < polls {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(200 * time.Millisecond) // the first queries and the LISTEN are done
				start, ok := procstat.CPU(os.Getpid())
				began := time.Now()
				b.ResetTimer()
				for range b.N {
					time.Sleep(100 * time.Millisecond)
				}
				b.StopTimer()
				end, ok2 := procstat.CPU(os.Getpid())
				if ok && ok2 {
					b.ReportMetric(100*float64(end-start)/float64(time.Since(began)), "cpu-%")
				}
				cancel()
				wg.Wait()
			})
		}
	}
}
