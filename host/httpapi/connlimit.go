package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/host/metrics"
)

// DefaultIdleGrace is how long a connection may wait for a request before
// a ConnLimiter at its limit may close it.
const DefaultIdleGrace = time.Second

// ConnLimitOptions configure a ConnLimiter.
type ConnLimitOptions struct {
	// Max is the most connections open at once (> 0).
	Max int
	// IdleGrace is how long a connection may wait for a request before it
	// may be closed to make room (zero: DefaultIdleGrace).
	IdleGrace time.Duration
	Logger    *slog.Logger      // optional
	Metrics   *metrics.Registry // optional
}

// ConnLimiter is a listener that keeps at most Max connections open,
// idle and active alike, so that a flood of connections costs the host a
// bounded amount of memory and file descriptors.
//
// At the limit, Accept waits: new connections wait in the kernel's listen
// backlog (and past it the kernel refuses them; clients retry), taken in
// arrival order as places free up. While it waits, Accept closes the
// connection that has waited longest for a request (kept alive after an
// answer, or never sent one), once it has waited IdleGrace: otherwise a
// client holding Max idle connections would keep every other client out
// until the server's idle and header timeouts. A connection reading or
// answering a request is never closed.
//
// The http.Server must call ConnState (its ConnState hook): that is how
// the limiter knows which connections wait for a request. Without it the
// limiter only bounds the number of connections and never closes one.
type ConnLimiter struct {
	net.Listener
	places chan struct{} // one element per open connection
	grace  time.Duration
	done   chan struct{}
	closed sync.Once
	shed   *metrics.Counter
	log    *throttledLog

	mu sync.Mutex
	// waiting are the connections waiting for a request, with the time
	// they started to.
	waiting map[*limitedConn]time.Time
}

// LimitConnections wraps ln.
func LimitConnections(ln net.Listener, opts ConnLimitOptions) *ConnLimiter {
	if opts.IdleGrace <= 0 {
		opts.IdleGrace = DefaultIdleGrace
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	return &ConnLimiter{
		Listener: ln,
		places:   make(chan struct{}, max(opts.Max, 1)),
		grace:    opts.IdleGrace,
		done:     make(chan struct{}),
		shed: opts.Metrics.Counter("portcullis_connections_shed_total",
			"Connections closed at max_connections because they had waited longest for a request, to let a new one in."),
		log:     &throttledLog{log: opts.Logger, interval: time.Minute},
		waiting: map[*limitedConn]time.Time{},
	}
}

// Accept waits for a free place, then accepts a connection.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	if err := l.takePlace(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.places
		return nil, err
	}
	return &limitedConn{Conn: c, l: l}, nil
}

// Close stops Accept, including one waiting for a place.
func (l *ConnLimiter) Close() error {
	l.closed.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// ConnState is the http.Server's ConnState hook.
func (l *ConnLimiter) ConnState(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew, http.StateIdle:
		l.waiting[lc] = time.Now()
	default: // active, hijacked (no longer the server's) or closed
		delete(l.waiting, lc)
	}
}

// takePlace waits for a place, closing a connection that has waited
// IdleGrace for a request whenever there is none.
func (l *ConnLimiter) takePlace() error {
	select {
	case l.places <- struct{}{}:
		return nil
	case <-l.done:
		return net.ErrClosed
	default:
	}
	l.log.warn("the connection limit is reached: new connections wait, and connections idle for a while are closed to let them in",
		"max_connections", cap(l.places))
	tick := time.NewTicker(l.grace / 4)
	defer tick.Stop()
	for {
		l.shedOne()
		select {
		case l.places <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		case <-tick.C:
		}
	}
}

// shedOne closes the connection that has waited longest for a request,
// if it has waited at least the grace.
func (l *ConnLimiter) shedOne() {
	l.mu.Lock()
	var oldest *limitedConn
	var since time.Time
	for c, t := range l.waiting {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest == nil || time.Since(since) < l.grace {
		l.mu.Unlock()
		return
	}
	delete(l.waiting, oldest)
	l.mu.Unlock()
	l.shed.Inc()
	_ = oldest.Close()
}

// limitedConn gives its place back when closed.
type limitedConn struct {
	net.Conn
	l    *ConnLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.waiting, c)
		c.l.mu.Unlock()
		<-c.l.places
	})
	return err
}

// Interface guards.
var (
	_ net.Listener = (*ConnLimiter)(nil)
	_ net.Conn     = (*limitedConn)(nil)
)
