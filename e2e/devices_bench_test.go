package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkIdleDeviceLongPolls measures what devices' long polls cost a
// host process while nothing happens: one operation is 100 ms of wall
// time with the polls held open (GET /v1/device/authorization-requests
// ?wait=60 over HTTP, one connection each), and host-cpu-% is the host's
// CPU time (with its plugins) over that time. The yardstick is the same
// host with no poll (polls=0): a poll that looped would show above it.
//
//	go test ./e2e -run '^$' -bench IdleDeviceLongPolls -benchtime 100x
func BenchmarkIdleDeviceLongPolls(b *testing.B) {
	for _, db := range benchStorages {
		for _, polls := range []int{0, 100} {
			b.Run(fmt.Sprintf("db=%s/polls=%d", db.name, polls), func(b *testing.B) {
				box := newPushBox(b)
				dir := b.TempDir()
				cfg := writeConfigAt(b, dir, "info", deviceConfig(box, db.line(b), ""))
				h := startHost(b, cfg)
				addUser(b, cfg, nil, "alice", "alice-password-1")
				app := createApp(b, cfg, nil, "bank")
				r := send(b, "POST", h.url+"/v1/devices", `{"user":"alice","name":"phone"}`, bearer(app))
				if r.status != 201 {
					b.Fatalf("register: %d %s", r.status, r.raw)
				}
				auth := basic(r.body["device_id"].(string), r.body["device_token"].(string))
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				var answered atomic.Int32
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: polls + 1}}
				for range polls {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/v1/device/authorization-requests?wait=60", nil)
						req.Header = auth
						if resp, err := client.Do(req); err == nil {
							resp.Body.Close()
						}
						answered.Add(1)
					}()
				}
				time.Sleep(2 * time.Second) // every poll has arrived and waits
				if n := answered.Load(); n != 0 {
					b.Fatalf("%d of %d polls were answered before anything happened; want all waiting", n, polls)
				}
				began := time.Now()
				hostStart, _ := h.hostCPU(b)
				b.ResetTimer()
				for range b.N {
					time.Sleep(100 * time.Millisecond)
				}
				b.StopTimer()
				hostEnd, ok := h.hostCPU(b)
				if n := answered.Load(); n != 0 {
					b.Fatalf("%d polls were answered while nothing happened", n)
				}
				if ok {
					b.ReportMetric(100*float64(hostEnd-hostStart)/float64(time.Since(began)), "host-cpu-%")
				}
				cancel()
				wg.Wait()
			})
		}
	}
}
