package storage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Devices long-poll for their user's waiting authorization requests
// (GET /v1/device/authorization-requests?wait=). A poll sleeps on a
// channel until a request for its user is announced; it costs no query
// while it waits. On PostgreSQL the announcement is a NOTIFY, heard by one
// LISTEN connection per host, so that a request created on one host
// wakes the polls waiting on every other; on SQLite (one host) it goes
// straight to this process's watchers.

// authRequestChannel is the PostgreSQL NOTIFY channel; the payload is the
// user id.
const authRequestChannel = "portcullis_authorization_requests"

// listenRetry is the wait before a lost LISTEN connection is made again.
const listenRetry = time.Second

// watchers are this process's long polls, by user id.
type watchers struct {
	mu    sync.Mutex
	users map[string]map[chan struct{}]struct{}
	// listen starts the LISTEN connection on the first watch; stop ends it.
	listen sync.Once
	stop   context.CancelFunc
	done   chan struct{}
}

// WatchAuthRequests returns a channel that is sent to (never blocking the
// sender: it holds one wakeup) when a waiting request may have appeared
// for userID on any host sharing the database, and a func that ends the
// watch. Watch first, then read the requests: a request created between
// the two is then not missed. A wakeup may be spurious (after the LISTEN
// connection was made again, every watcher wakes to look).
func (s *Store) WatchAuthRequests(userID string) (<-chan struct{}, func()) {
	w := &s.watch
	if s.driver == Postgres {
		w.listen.Do(func() {
			ctx, cancel := context.WithCancel(context.Background())
			w.stop, w.done = cancel, make(chan struct{})
			go s.listenAuthRequests(ctx)
		})
	}
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.users == nil {
		w.users = map[string]map[chan struct{}]struct{}{}
	}
	if w.users[userID] == nil {
		w.users[userID] = map[chan struct{}]struct{}{}
	}
	w.users[userID][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.users[userID], ch)
		if len(w.users[userID]) == 0 {
			delete(w.users, userID)
		}
		w.mu.Unlock()
	}
}

// wake wakes the watchers of userID, or every watcher for "".
func (w *watchers) wake(userID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, chans := range w.users {
		if userID != "" && id != userID {
			continue
		}
		for ch := range chans {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Watching reports how many long polls this process holds (tests,
// metrics).
func (s *Store) Watching() int {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	n := 0
	for _, chans := range s.watch.users {
		n += len(chans)
	}
	return n
}

// AnnounceAuthRequest tells the watchers of userID, on every host, that
// a waiting request appeared. It is best effort: a watcher that misses it
// still finds the request at its next poll. Call it only for requests
// someone may watch (a device backend's): on PostgreSQL a transaction
// that notifies takes a lock at commit that every other notifying
// transaction waits for, so that creates that notify run one at a time.
func (s *Store) AnnounceAuthRequest(ctx context.Context, userID string) {
	if s.driver != Postgres {
		s.watch.wake(userID)
		return
	}
	_ = s.db.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", authRequestChannel, userID).Error
}

// listenAuthRequests holds the LISTEN connection until ctx ends, making
// it again after a failure; each (re)connection wakes every watcher, which
// may have missed an announcement meanwhile.
func (s *Store) listenAuthRequests(ctx context.Context) {
	defer close(s.watch.done)
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		_ = err // the next attempt says more; the watchers time out meanwhile
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+authRequestChannel); err != nil {
		return fmt.Errorf("LISTEN: %w", err)
	}
	s.watch.wake("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s.watch.wake(n.Payload)
	}
}

// stopWatching ends the LISTEN connection, if one was started.
func (s *Store) stopWatching() {
	w := &s.watch
	w.listen.Do(func() {}) // no LISTEN may start after Close
	if w.stop != nil {
		w.stop()
		<-w.done
	}
}

// WaitingAuthRequests returns the waiting, unexpired requests of userID
// prepared by backend, oldest first, at most limit.
func (s *Store) WaitingAuthRequests(ctx context.Context, userID, backend string, now time.Time, limit int) ([]AuthRequest, error) {
	var rows []authRequestRow
	err := s.db.WithContext(ctx).Where("user_id = ? AND backend = ? AND state = ? AND expires_at > ?",
		userID, backend, AuthRequestWaiting, now.UTC()).Order("created_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("listing waiting authorization requests: %w", err)
	}
	out := make([]AuthRequest, len(rows))
	for i, r := range rows {
		out[i] = r.request()
	}
	return out, nil
}

// CompleteAuthRequest marks the login of a granted two-factor request
// completed: it reports true to exactly one caller, and only while the
// request's time is not up.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, now time.Time) (bool, error) {
	now = now.UTC()
	res := s.db.WithContext(ctx).Exec(`UPDATE authorization_requests SET completed_at = ?
		WHERE id = ? AND state = ? AND completed_at IS NULL AND expires_at > ?`, now, id, AuthRequestGranted, now)
	if res.Error != nil {
		return false, fmt.Errorf("completing an authorization request: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}
