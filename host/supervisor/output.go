package supervisor

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Bounds on what a failed start reports of a plugin's output.
const (
	stderrTailBytes = 4 << 10
	stderrTailLines = 30
	stdoutTailBytes = 1 << 10
	stdoutTailLines = 10
)

// tail keeps the last bytes written to it, up to its size, so that a
// failed start can show what the plugin wrote last however much it wrote.
type tail struct {
	mu      sync.Mutex
	buf     []byte
	size    int
	dropped bool // bytes before buf were written and dropped
}

func newTail(size int) *tail { return &tail{size: size} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.size {
		t.buf = append(t.buf[:0], p[len(p)-t.size:]...)
		t.dropped = true
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.size; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.dropped = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// lines returns at most max of the last complete lines kept, made safe to
// print: control characters and invalid UTF-8 are escaped. A line cut by
// the size bound is not shown.
func (t *tail) lines(max int) []string {
	t.mu.Lock()
	s := string(t.buf)
	dropped := t.dropped
	t.mu.Unlock()
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	if dropped {
		ls = ls[1:]
	}
	if len(ls) > max {
		ls = ls[len(ls)-max:]
	}
	for i, l := range ls {
		ls[i] = printable(strings.TrimSuffix(l, "\r"))
	}
	return ls
}

// printable escapes what a terminal or a log reader could misread.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r != '\t' && (unicode.IsControl(r) || !unicode.IsPrint(r) && !unicode.IsSpace(r)):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

// teeReader copies what is read from r into w.
type teeReader struct {
	io.ReadCloser
	w io.Writer
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		_, _ = t.w.Write(p[:n])
	}
	return n, err
}

// lastOutput describes the last lines of a plugin's standard error and
// standard output for an error message.
func lastOutput(stderr, stdout *tail) string {
	var b strings.Builder
	for _, s := range []struct {
		name string
		t    *tail
		max  int
	}{{"standard error", stderr, stderrTailLines}, {"standard output", stdout, stdoutTailLines}} {
		ls := s.t.lines(s.max)
		if len(ls) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nlast lines of its %s:", s.name)
		for _, l := range ls {
			b.WriteString("\n  " + l)
		}
	}
	if b.Len() == 0 {
		return "\nit wrote nothing to standard error or standard output"
	}
	return b.String()
}
