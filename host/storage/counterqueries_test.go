package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
)

func TestQueryCounters(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d db) {
		ctx := context.Background()
		hour := []storage.CooloffStep{{Cooloff: time.Hour}}
		// failures by key, in namespaces a and b (lock at 3); c is not
		// asked for; a's "gone" has expired.
		for _, c := range []struct {
			ns, key  string
			failures int
			lockAt   int64
			cooloff  []storage.CooloffStep
		}{
			{"a", "k1", 1, 3, hour},
			{"a", "k2", 3, 3, hour}, // locked
			{"a", "k3", 2, 0, nil},  // never locks
			{"b", "k1", 4, 3, nil},  // locked, no expiry
			{"b", "k2", 2, 3, hour},
			{"c", "k1", 9, 3, hour},
			{"a", "gone", 5, 3, []storage.CooloffStep{{Cooloff: time.Millisecond}}},
		} {
			counter := storage.AttemptCounter{Key: c.key, LockAt: c.lockAt, Cooloffs: c.cooloff}
			for range c.failures {
				if _, err := d.store.Attempts(c.ns).Settle(ctx, []storage.AttemptCounter{counter}, storage.Settlement{ID: "x", Failed: true}); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(5 * time.Millisecond) // "gone" expires
		names := func(cs []storage.NamespacedCounter) string {
			s := ""
			for _, c := range cs {
				s += fmt.Sprintf("%s/%s:%d ", c.Namespace, c.Key, c.Failures)
			}
			return s
		}
		for _, tt := range []struct {
			name      string
			q         storage.CounterQuery
			want      string
			wantTotal int64
		}{
			{"all", storage.CounterQuery{Namespaces: []string{"a", "b"}}, "b/k1:4 a/k2:3 a/k3:2 b/k2:2 a/k1:1 ", 5},
			{"a page", storage.CounterQuery{Namespaces: []string{"a", "b"}, Page: storage.Page{Offset: 1, Limit: 2}}, "a/k2:3 a/k3:2 ", 5},
			{"locked", storage.CounterQuery{Namespaces: []string{"a", "b"}, LockedOnly: true}, "b/k1:4 a/k2:3 ", 2},
			{"one namespace", storage.CounterQuery{Namespaces: []string{"b"}}, "b/k1:4 b/k2:2 ", 2},
			{"none", storage.CounterQuery{}, "", 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := d.store.QueryCounters(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if names(got) != tt.want || total != tt.wantTotal {
					t.Errorf("QueryCounters = %q, %d; want %q, %d", names(got), total, tt.want, tt.wantTotal)
				}
			})
		}
		got, _, _ := d.store.QueryCounters(ctx, storage.CounterQuery{Namespaces: []string{"b"}})
		if len(got) != 2 || !got[0].ExpiresAt.IsZero() || got[1].ExpiresAt.IsZero() || got[0].LockAt != 3 {
			t.Errorf("counters' expiry and lock: %+v", got)
		}
	})
}
