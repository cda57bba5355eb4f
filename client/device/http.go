package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Error codes the host answers on the device endpoints.
const (
	CodeInvalidRequest = "invalid_request"
	CodeInvalidDevice  = "invalid_device" // wrong secret or signature, revoked or unknown device
	CodeForbidden      = "forbidden"      // another user's authorization request
	CodeNotFound       = "not_found"      // no such request, or devices are not enabled on the host
	CodeNotWaiting     = "not_waiting"    // the request was decided or has expired
	CodeDeviceExists   = "device_exists"
)

// DefaultTimeout bounds each request to the host, beyond the time a long
// poll is asked to wait, when the caller's context has no earlier
// deadline: a host that stops answering must not hang a device for ever.
const DefaultTimeout = 30 * time.Second

// maxBody bounds an answer read from the host.
const maxBody = 4 << 20

// Error is the host's refusal of a request: a status other than the one
// expected, with the error body's code and description when it had one
// ({"error": code, "error_description": text}).
type Error struct {
	Method string // of the request refused
	Path   string // the request's path and query, without the host
	Status int    // HTTP status
	// Code is the host's error code (CodeInvalidDevice, ...); empty when
	// the answer had no error body.
	Code        string
	Description string
	// State is the request's state when Code is CodeNotWaiting (granted,
	// denied, cancelled or expired).
	State string
}

func (e *Error) Error() string {
	s := "device: " + e.Method + " " + e.Path + ": " + strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	switch {
	case e.Code != "" && e.Description != "":
		s += " (" + printable(e.Code) + ": " + printable(e.Description) + ")"
	case e.Code != "":
		s += " (" + printable(e.Code) + ")"
	case e.Description != "":
		s += " (" + printable(e.Description) + ")"
	}
	return s
}

// printable returns s as it is when every character prints, else quoted
// with escapes: the host's words must not rewrite a terminal line.
func printable(s string) string {
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// call is one request to the host.
type call struct {
	method string
	path   string // from the host URL on, with the query
	body   any    // encoded as JSON; nil for no body
	// auth sets the request's credentials; body is what is sent (nil for
	// none), for a signature.
	auth func(req *http.Request, body []byte) error
	want int // the status of success
	out  any // decoded from the answer of success
}

// do makes the call to the host at base and decodes its answer into
// c.out, or returns an *Error for any other status.
func do(ctx context.Context, hc *http.Client, base string, c call) error {
	var body []byte
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return fmt.Errorf("device: %s %s: %w", c.method, c.path, err)
		}
		body = b
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, base+c.path, rd)
	if err != nil {
		return fmt.Errorf("device: %s %s: %w", c.method, c.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != nil {
		if err := c.auth(req, body); err != nil {
			return err
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// A *url.Error names the URL, which holds no credential
		// (parseHostURL), and never a header.
		return fmt.Errorf("device: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("device: %s %s: reading the answer: %w", c.method, c.path, err)
	}
	if resp.StatusCode != c.want {
		return answerError(c, resp, data)
	}
	if len(data) > maxBody {
		return fmt.Errorf("device: %s %s: the answer is over %d bytes", c.method, c.path, maxBody)
	}
	if c.out != nil {
		if err := json.Unmarshal(data, c.out); err != nil {
			return fmt.Errorf("device: %s %s: reading the answer: %w", c.method, c.path, err)
		}
	}
	return nil
}

// answerError is the *Error for an answer whose status is not the one of
// success.
func answerError(c call, resp *http.Response, data []byte) *Error {
	e := &Error{Method: c.method, Path: c.path, Status: resp.StatusCode}
	var wire struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		State       string `json:"state"`
	}
	if json.Unmarshal(data, &wire) == nil {
		e.Code, e.Description, e.State = wire.Error, wire.Description, wire.State
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && e.Code == "" {
		// Redirects are not followed (httpClient): say where to.
		e.Description = "the host redirects to " + resp.Header.Get("Location") + "; use the URL it names"
	}
	return e
}

// httpClient returns a copy of hc (or of a client with no overall
// timeout, when nil: each request has its own deadline) that follows no
// redirect, so that a device's credentials go only to the host's URL.
func httpClient(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// parseHostURL checks that s is the host's base URL, http or https with
// no credentials, query or fragment, and returns it without a trailing
// slash.
func parseHostURL(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "", errors.New("device: the host's URL is required")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return "", fmt.Errorf("device: the host's URL %q is not an http or https URL", s)
	case u.User != nil:
		return "", errors.New("device: the host's URL must not hold a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("device: the host's URL %q must not have a query or a fragment", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// checkDeviceID refuses a device id that the credentials could not carry:
// Basic authentication ends the id at a colon, and a signed request's
// header ends it at a quote or a comma.
func checkDeviceID(id string) error {
	if id == "" {
		return errors.New("device: the device id is empty")
	}
	if len(id) > 256 {
		return errors.New("device: the device id is over 256 bytes")
	}
	for _, r := range id {
		if r <= ' ' || r > '~' || r == '"' || r == ',' || r == ':' || r == '\\' {
			return fmt.Errorf("device: the device id %s holds %q: an id is printable ASCII without spaces, quotes, commas, colons or backslashes", strconv.QuoteToASCII(id), r)
		}
	}
	return nil
}

// headerSafe reports whether s can be sent in a header as it is.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
