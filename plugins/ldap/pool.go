package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// conn is one connection to the directory. raw is the TCP connection
// under it: closing raw is what ends a call stuck on a directory that
// does not answer, since go-ldap's calls take no context.
type conn struct {
	*goldap.Conn
	raw net.Conn
}

// close ends the connection at once, whatever it is doing.
func (c *conn) close() {
	_ = c.raw.Close()
	_ = c.Conn.Close()
}

// pool is a bounded set of connections of one kind. Every connection of
// the pool is prepared the same way when it is made (bound as the service
// account, or not bound at all), and a user of the pool must leave it in
// a state the next user can rely on, or say it is not reusable. size
// bounds the connections open at once: a caller waits for one, within its
// context.
type pool struct {
	slots   chan struct{}
	dial    func(ctx context.Context) (*conn, error)
	mu      sync.Mutex
	idle    []*idleConn
	maxIdle time.Duration
}

type idleConn struct {
	c     *conn
	since time.Time
}

// maxIdleTime is how long a connection may wait unused in a pool before
// it is closed rather than reused: directories and firewalls drop idle
// connections, and a connection dropped without a word fails the next
// call made on it.
const maxIdleTime = time.Minute

func newPool(size int, dial func(ctx context.Context) (*conn, error)) *pool {
	return &pool{slots: make(chan struct{}, size), dial: dial, maxIdle: maxIdleTime}
}

// errBusy says every connection was in use until the context ended.
var errBusy = errors.New("every connection to the directory was in use")

// do runs f on a connection of the pool. ctx bounds the whole of it: the
// wait for a slot, the dial, and f, whose connection is closed under it
// when ctx ends. A connection f returned a network error on is closed; so
// is one f says is not reusable. If f fails with a network error on a
// connection that had waited in the pool (the directory may have closed
// it meanwhile), f runs once more on a new connection.
func (p *pool) do(ctx context.Context, f func(*conn) (reusable bool, err error)) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errBusy, ctx.Err())
	}
	defer func() { <-p.slots }()

	c, reused, err := p.get(ctx)
	if err != nil {
		return err
	}
	reusable, err := p.run(ctx, c, f)
	if err != nil && reused && broken(err) && ctx.Err() == nil {
		c.close()
		if c, err = p.dial(ctx); err != nil {
			return err
		}
		reusable, err = p.run(ctx, c, f)
	}
	if reusable && !broken(err) {
		p.put(c)
	} else {
		c.close()
	}
	return err
}

// run calls f on c, closing c if ctx ends before f returns.
func (p *pool) run(ctx context.Context, c *conn, f func(*conn) (bool, error)) (bool, error) {
	stop := context.AfterFunc(ctx, c.close)
	reusable, err := f(c)
	if !stop() {
		// ctx ended while f ran: c is closed, and the error f saw was the
		// closed connection; the deadline is the cause.
		return false, fmt.Errorf("the directory did not answer in time: %w", ctx.Err())
	}
	return reusable && !c.IsClosing(), err
}

// get returns an idle connection, or a new one.
func (p *pool) get(ctx context.Context) (c *conn, reused bool, err error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		ic := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if ic.c.IsClosing() || time.Since(ic.since) > p.maxIdle {
			go ic.c.close()
			continue
		}
		p.mu.Unlock()
		return ic.c, true, nil
	}
	p.mu.Unlock()
	c, err = p.dial(ctx)
	return c, false, err
}

// put gives c back to the pool. There are never more idle connections
// than slots, since each was taken with one.
func (p *pool) put(c *conn) {
	if c.IsClosing() {
		c.close()
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, &idleConn{c: c, since: time.Now()})
	p.mu.Unlock()
}

// broken reports whether err means the connection can no longer be used:
// anything but an answer of the directory (a result code below 200 is
// the directory's; go-ldap's own codes, such as ErrorNetwork, are 200 and
// above).
func broken(err error) bool {
	if err == nil {
		return false
	}
	var le *goldap.Error
	return !errors.As(err, &le) || le.ResultCode >= goldap.ErrorNetwork
}

// dialer makes connections to the directory of s: TCP, then TLS (at once
// for ldaps://, with StartTLS for ldap://), within s.DialTimeout and ctx.
func dialer(s *Settings) func(ctx context.Context) (*conn, error) {
	u, _ := url.Parse(s.URL) // checked by ParseConfig
	return func(ctx context.Context) (*conn, error) {
		ctx, cancel := context.WithTimeout(ctx, s.DialTimeout)
		defer cancel()
		raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", s.URL, err)
		}
		if u.Scheme == "ldaps" {
			tc := tls.Client(raw, s.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, fmt.Errorf("TLS with %s: %w", s.URL, err)
			}
			return started(goldap.NewConn(tc, true), raw, s), nil
		}
		c := started(goldap.NewConn(raw, false), raw, s)
		if !s.StartTLS {
			return c, nil
		}
		// go-ldap's StartTLS takes no context: closing the TCP connection
		// is what ends a handshake the server does not finish.
		stop := context.AfterFunc(ctx, func() { raw.Close() })
		err = c.StartTLS(s.TLS)
		if !stop() {
			c.close()
			return nil, fmt.Errorf("StartTLS with %s: %w", s.URL, ctx.Err())
		}
		if err != nil {
			c.close()
			return nil, fmt.Errorf("StartTLS with %s: %w", s.URL, err)
		}
		if _, ok := c.TLSConnectionState(); !ok {
			c.close()
			return nil, fmt.Errorf("StartTLS with %s: the connection is not encrypted", s.URL)
		}
		return c, nil
	}
}

// started starts lc's reader and sets its request timeout: the context
// bounds each call, and the timeout bounds what go-ldap waits for by
// itself (closing, handing over an answer) so that nothing waits forever.
func started(lc *goldap.Conn, raw net.Conn, s *Settings) *conn {
	lc.SetTimeout(s.Timeout)
	lc.Start()
	return &conn{Conn: lc, raw: raw}
}
