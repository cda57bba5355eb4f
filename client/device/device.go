package device

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/internal/devicesig"
)

// MaxWait is the longest Pending may ask the host to wait.
const MaxWait = 60 * time.Second

// States of an authorization request.
const (
	StateWaiting   = "waiting"
	StateGranted   = "granted"
	StateDenied    = "denied"
	StateCancelled = "cancelled"
	StateExpired   = "expired"
)

// Request is an authorization request as the device endpoints show it.
type Request struct {
	ID          string          `json:"id"`
	Slug        string          `json:"slug"` // what the request is for, such as "2FA"
	User        User            `json:"user"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	State       string          `json:"state"`
	ExpiresAt   time.Time       `json:"expires_at"`
	CreatedAt   time.Time       `json:"created_at"`
	Data        json.RawMessage `json:"data,omitempty"` // what its creator attached, if anything
}

// User is the user a request is for.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// Device is a registered device talking to its host. It is safe for
// concurrent use.
type Device struct {
	base  string
	id    string
	token string
	key   ed25519.PrivateKey
	http  *http.Client
}

// New returns the Device of c. hc makes the requests (nil for a default
// client); redirects are never followed, and its Timeout, if any, must be
// longer than the longest wait given to Pending.
func New(c Credentials, hc *http.Client) (*Device, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	base, _ := parseHostURL(c.URL)
	return &Device{base: base, id: c.DeviceID, token: c.Token, key: c.PrivateKey, http: httpClient(hc)}, nil
}

// ID is the device's id.
func (d *Device) ID() string { return d.id }

// Pending returns the waiting authorization requests of the device's
// user. With wait above zero (whole seconds, up to MaxWait) the host
// holds the request until one is waiting or wait has passed, and then
// answers with what it has, possibly none.
func (d *Device) Pending(ctx context.Context, wait time.Duration) ([]Request, error) {
	if wait < 0 || wait > MaxWait {
		return nil, fmt.Errorf("device: the wait %s is not from 0 to %s", wait, MaxWait)
	}
	secs := int(wait / time.Second)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+DefaultTimeout)
	defer cancel()
	var out struct {
		Requests *[]Request `json:"authorization_requests"`
	}
	err := d.do(ctx, call{
		method: http.MethodGet, path: "/v1/device/authorization-requests?wait=" + strconv.Itoa(secs),
		want: http.StatusOK, out: &out,
	})
	if err != nil {
		return nil, err
	}
	if out.Requests == nil {
		return nil, errors.New("device: the host's answer has no authorization_requests")
	}
	if *out.Requests == nil {
		return []Request{}, nil
	}
	return *out.Requests, nil
}

// Approve grants the waiting authorization request id and returns it as
// decided. A request of another user is an *Error with status 403, one
// decided or expired already 409 (CodeNotWaiting, with its State).
func (d *Device) Approve(ctx context.Context, id string) (Request, error) {
	return d.decide(ctx, id, "approve")
}

// Deny refuses the waiting authorization request id, as Approve grants it.
func (d *Device) Deny(ctx context.Context, id string) (Request, error) {
	return d.decide(ctx, id, "deny")
}

func (d *Device) decide(ctx context.Context, id, verb string) (Request, error) {
	if id == "" {
		return Request{}, errors.New("device: the authorization request's id is empty")
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	var r Request
	err := d.do(ctx, call{
		method: http.MethodPost, path: "/v1/device/authorization-requests/" + url.PathEscape(id) + "/" + verb,
		want: http.StatusOK, out: &r,
	})
	return r, err
}

// do makes c as the device.
func (d *Device) do(ctx context.Context, c call) error {
	c.auth = func(req *http.Request, body []byte) error { return d.authorize(ctx, req, body) }
	return do(ctx, d.http, d.base, c)
}

// authorize sets req's credentials: Basic for a token device; for an
// Ed25519 device, a signature over the request as it will be sent, with a
// nonce fetched for it alone.
func (d *Device) authorize(ctx context.Context, req *http.Request, body []byte) error {
	if d.key == nil {
		req.SetBasicAuth(d.id, d.token)
		return nil
	}
	nonce, err := d.nonce(ctx)
	if err != nil {
		return err
	}
	// RequestURI is the target net/http writes on the request line.
	msg := devicesig.Message(req.Method, req.URL.RequestURI(), devicesig.BodyHash(body), nonce)
	req.Header.Set("Authorization", devicesig.Header(d.id, nonce, ed25519.Sign(d.key, msg)))
	return nil
}

// nonce fetches a fresh nonce for one signed request.
func (d *Device) nonce(ctx context.Context) (string, error) {
	var out struct {
		Nonce string `json:"nonce"`
	}
	err := do(ctx, d.http, d.base, call{
		method: http.MethodPost, path: "/v1/device/nonce",
		body: map[string]string{"device_id": d.id}, want: http.StatusOK, out: &out,
	})
	if err != nil {
		return "", err
	}
	// The nonce goes between quotes in a header whose fields are split at
	// commas (devicesig.Parse).
	if out.Nonce == "" || len(out.Nonce) > 512 || !headerSafe(out.Nonce) || strings.ContainsAny(out.Nonce, `",\`) {
		return "", errors.New("device: the host's nonce is empty or holds characters a signed request cannot carry")
	}
	return out.Nonce, nil
}
