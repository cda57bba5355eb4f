// Package httpload is a small HTTP/1.1 load generator for the benchmarks:
// a fixed number of kept-alive connections, each sending one prepared
// request after another and reading each answer to its end before the
// next, the way wrk drives a server.
//
// It exists because net/http's client, which parses every answer into a
// Response with a header map and hands the connection between goroutines,
// costs about as much CPU per request as the host spends answering a
// locked-out client; on a 2-core machine the load generator then takes the
// cores the host would use, and the benchmark measures the client. This
// one reads the status line and the Content-Length of each answer from a
// buffered reader and skips the rest, so nearly all of the CPU is left to
// the server.
//
// It speaks only what the benchmarks need: requests are prepared bytes, and
// answers must carry a Content-Length (Go's net/http server sets it on
// every small body). A chunked answer is an error, not a guess; an answer
// with "Connection: close" makes the connection dial again.
package httpload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// UserAgent is the User-Agent of every request Request makes.
const UserAgent = "portcullis-httpload/1"

// Request returns the bytes of an HTTP/1.1 POST of body to path on host,
// with the given content type; HTTP/1.1 keeps the connection alive.
func Request(host, path, contentType string, body []byte) []byte {
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		path, host, UserAgent, contentType, len(body))
	return append(req, body...)
}

// Options says how to run a load.
type Options struct {
	// Addr is the server's TCP address, host:port.
	Addr string
	// Conns is the number of concurrent connections, each sending one
	// request at a time.
	Conns int
	// Requests is how many requests are sent in all.
	Requests int64
	// Request is one complete request, as Request makes it.
	Request []byte
	// PerConn, if set, replaces Request: connection i sends
	// PerConn[i%len(PerConn)] (each a client of its own, say).
	PerConn [][]byte
	// Want is the status every answer should have; any other counts as a
	// mismatch.
	Want int
	// Timeout bounds each request's write and read (default 30 s).
	Timeout time.Duration
}

// Result is what a run saw.
type Result struct {
	// Matched is how many answers had the wanted status.
	Matched int64
	// Other is how many answers had another status, or failed.
	Other int64
	// FirstErr describes the first answer that did not match, or the first
	// failure; nil when every answer matched.
	FirstErr error
}

// Run sends o.Requests requests over o.Conns connections and returns what
// came back. It stops early only when ctx is done or a connection cannot be
// made; requests not sent then count as failures.
func Run(ctx context.Context, o Options) Result {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	var (
		next, matched, other atomic.Int64
		mu                   sync.Mutex
		firstErr             error
		wg                   sync.WaitGroup
	)
	fail := func(err error) {
		other.Add(1)
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for i := range max(o.Conns, 1) {
		req := o.Request
		if len(o.PerConn) > 0 {
			req = o.PerConn[i%len(o.PerConn)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *conn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for next.Add(1) <= o.Requests {
				if ctx.Err() != nil {
					fail(ctx.Err())
					continue
				}
				if c == nil {
					var err error
					if c, err = dial(ctx, o.Addr); err != nil {
						fail(err)
						continue
					}
				}
				status, keep, err := c.roundTrip(req, o.Timeout)
				switch {
				case err != nil:
					fail(err)
				case status != o.Want:
					fail(fmt.Errorf("status %d, want %d", status, o.Want))
				default:
					matched.Add(1)
				}
				if err != nil || !keep {
					c.Close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	return Result{Matched: matched.Load(), Other: other.Load(), FirstErr: firstErr}
}

// conn is one kept-alive connection with its read buffer.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(ctx context.Context, addr string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: nc, r: bufio.NewReaderSize(nc, 16<<10)}, nil
}

// errChunked is returned for an answer without a Content-Length.
var errChunked = errors.New("httpload: answer without Content-Length (chunked or read-to-close) is not supported")

// roundTrip writes req and reads one answer to its end. keep is false when
// the server asked to close the connection.
func (c *conn) roundTrip(req []byte, timeout time.Duration) (status int, keep bool, err error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, false, err
	}
	if _, err := c.Write(req); err != nil {
		return 0, false, err
	}
	line, err := c.line()
	if err != nil {
		return 0, false, fmt.Errorf("reading the status line: %w", err)
	}
	// HTTP/1.1 429 Too Many Requests
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(rest) < 3 {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(rest[:3]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	keep = string(proto) == "HTTP/1.1"
	length := int64(-1)
	for {
		line, err := c.line()
		if err != nil {
			return 0, false, fmt.Errorf("reading the header: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	if length < 0 {
		// 1xx, 204 and 304 have no body, but nothing here asks for them.
		return 0, false, errChunked
	}
	if _, err := c.r.Discard(int(length)); err != nil {
		return 0, false, fmt.Errorf("reading the body: %w", err)
	}
	return status, keep, nil
}

// line reads one header line without its CRLF.
func (c *conn) line() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long")
		}
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
