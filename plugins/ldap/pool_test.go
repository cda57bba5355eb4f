package ldap

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// whoami asks the directory who an idle connection of p is bound as.
func whoami(t *testing.T, p *pool) string {
	t.Helper()
	var who string
	err := p.do(context.Background(), func(c *conn) (bool, error) {
		res, err := c.WhoAmI(nil)
		if err != nil {
			return false, err
		}
		who = res.AuthzID
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return who
}

// A user's bind never leaves a connection of the service pool bound as
// the user, and the next login on a connection of the bind pool binds
// before anything else: a wrong password leaves it anonymous, not still
// the previous user.
func TestUserBindsDoNotLeak(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	b, _ := configured(t, with(searchConfig(d.LDAPURL), map[string]any{"pool_size": 1}))
	mustGrant(t, b, "alice", alicePW)
	if who := whoami(t, b.service); !strings.EqualFold(who, "dn:"+serviceDN) {
		t.Errorf("the service connection is bound as %q after alice's login, want the service account", who)
	}
	if who := whoami(t, b.binds); !strings.EqualFold(who, "dn:"+aliceDN) {
		t.Errorf("the bind connection is bound as %q after alice's login, want alice (until the next bind)", who)
	}
	mustRefuse(t, b, "bob", "wrong-password")
	if who := whoami(t, b.binds); who != "" {
		t.Errorf("the bind connection is bound as %q after bob's wrong password, want anonymous", who)
	}
	if id := mustGrant(t, b, "carol", carolPW); id.Username != "carol" || id.Roles != nil {
		t.Errorf("carol's identity %+v", id)
	}
	if b.s.SearchMode() && b.service == b.binds {
		t.Fatal("one pool for both")
	}

	// In the bind mode a user's reads are made as the user, on its own
	// bind: the next user's identity is its own.
	bb, _ := configured(t, with(bindConfig(d.LDAPURL), map[string]any{"pool_size": 1}))
	if bb.service != nil {
		t.Error("a service pool in the bind mode, which has no service account")
	}
	mustGrant(t, bb, "alice", alicePW)
	mustRefuse(t, bb, "alice", "wrong")
	if id := mustGrant(t, bb, "bob", bobPW); id.Username != "bob" || len(id.Roles) != 2 {
		t.Errorf("bob's identity after alice's login on the same connection: %+v", id)
	}
}

// The pool never has more connections in use, or open, than its size, and
// reuses them; a caller waits for a free one within its context.
func TestPoolIsBounded(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	b, _ := configured(t, with(bindConfig(d.LDAPURL), map[string]any{"pool_size": 2}))
	var dials atomic.Int32
	dial := b.binds.dial
	b.binds.dial = func(ctx context.Context) (*conn, error) {
		dials.Add(1)
		return dial(ctx)
	}
	var inUse, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.binds.do(context.Background(), func(c *conn) (bool, error) {
				n := inUse.Add(1)
				defer inUse.Add(-1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				return true, c.Bind(aliceDN, alicePW)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if most.Load() > 2 || dials.Load() > 2 {
		t.Errorf("%d connections in use at once and %d dialled, want at most 2 of each", most.Load(), dials.Load())
	}

	// Both connections held: a third caller gives up with its context.
	hold := make(chan struct{})
	held := make(chan struct{}, 2)
	for range 2 {
		go b.binds.do(context.Background(), func(*conn) (bool, error) {
			held <- struct{}{}
			<-hold
			return true, nil
		})
	}
	<-held
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := b.binds.do(ctx, func(*conn) (bool, error) { return true, nil })
	close(hold)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a third caller of a full pool: %v, want an error saying every connection was in use", err)
	}
}

// A connection the directory dropped while it waited in the pool is not
// the login's problem: the call runs again on a new connection.
func TestStaleConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	d := directory(t, false)
	b, _ := configured(t, with(searchConfig(d.LDAPURL), map[string]any{"pool_size": 1}))
	mustGrant(t, b, "alice", alicePW)
	// Kill the idle connections' sockets under go-ldap, without its
	// knowing: the next call on them fails with a network error.
	for _, p := range []*pool{b.service, b.binds} {
		p.mu.Lock()
		for _, ic := range p.idle {
			ic.c.raw.Close()
		}
		p.mu.Unlock()
	}
	mustGrant(t, b, "alice", alicePW)
	// One that waited too long is not used at all.
	b.binds.maxIdle = 0
	mustGrant(t, b, "bob", bobPW)
}
