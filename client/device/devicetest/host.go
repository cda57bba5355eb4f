// Package devicetest is a fake Portcullis host serving the device
// endpoints, for the tests of device clients. It is written from the
// endpoints' contract (docs/http-api.md), not from the client, so that a
// client that sends the wrong thing fails against it: it checks every
// credential as the host does (an app key or a user's access token to
// register; HTTP Basic, or an Ed25519 signature over the request as sent
// with a nonce that is good for one request, for the rest) and keeps
// users, devices and authorization requests in memory.
package devicetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Host is the fake host. Its fields are set up by its methods; read them
// through its methods too, which lock.
type Host struct {
	// URL is the host's base URL.
	URL    string
	server *httptest.Server

	mu           sync.Mutex
	users        map[string]string // username: id
	appKeys      map[string]bool
	accessTokens map[string]string // token: user id
	devices      map[string]*Device
	nonces       map[string]issuedNonce
	requests     []*Request
	changed      chan struct{} // closed and replaced when a request is added
	refusals     []string
	noncesIssued int
	signed       int // signed requests accepted
	disabled     bool
}

// Device is a device as the host keeps it.
type Device struct {
	ID, UserID, Name string
	Token            string            // empty for an Ed25519 device
	PublicKey        ed25519.PublicKey // nil for a token device
	Primary, Active  bool
}

// Request is an authorization request as the host keeps it.
type Request struct {
	ID, Slug, UserID, Username, Title, Description, State string
	ExpiresAt, CreatedAt                                  time.Time
	Data                                                  json.RawMessage
}

type issuedNonce struct {
	deviceID string
	expires  time.Time
}

// NonceLifetime is how long an issued nonce is good for.
const NonceLifetime = time.Minute

// NewHost starts a fake host, closed when the test ends.
func NewHost(t testing.TB) *Host {
	h := &Host{
		users: map[string]string{}, appKeys: map[string]bool{}, accessTokens: map[string]string{},
		devices: map[string]*Device{}, nonces: map[string]issuedNonce{}, changed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/devices", h.register)
	mux.HandleFunc("POST /v1/device/nonce", h.nonce)
	mux.HandleFunc("GET /v1/device/authorization-requests", h.pending)
	mux.HandleFunc("POST /v1/device/authorization-requests/{id}/approve", h.decide(stateGranted))
	mux.HandleFunc("POST /v1/device/authorization-requests/{id}/deny", h.decide(stateDenied))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no endpoint "+r.Method+" "+r.URL.Path, nil)
	})
	h.server = httptest.NewServer(mux)
	h.URL = h.server.URL
	t.Cleanup(h.server.Close)
	return h
}

// Client is an HTTP client for the host.
func (h *Host) Client() *http.Client { return h.server.Client() }

// AddUser adds a user and returns its id.
func (h *Host) AddUser(username string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := "user-" + random(6)
	h.users[username] = id
	return id
}

// AddAppKey makes an app key the host accepts.
func (h *Host) AddAppKey() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := "pck_" + random(32)
	h.appKeys[k] = true
	return k
}

// AddAccessToken makes an access token of the user named.
func (h *Host) AddAccessToken(username string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := h.users[username]
	if !ok {
		panic("devicetest: no user " + username)
	}
	tok := "eyJ" + random(24)
	h.accessTokens[tok] = id
	return tok
}

// AddRequest adds a waiting authorization request for r.Username, with
// r's slug, title, description and data, expiring in an hour (or at
// r.ExpiresAt), and wakes the long polls. It returns the request as
// added.
func (h *Host) AddRequest(r Request) Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := h.users[r.Username]
	if !ok {
		panic("devicetest: no user " + r.Username)
	}
	now := time.Now().UTC().Truncate(time.Second)
	r.ID, r.UserID, r.State, r.CreatedAt = "ar-"+random(8), id, stateWaiting, now
	if r.ExpiresAt.IsZero() {
		r.ExpiresAt = now.Add(time.Hour)
	}
	h.requests = append(h.requests, &r)
	close(h.changed)
	h.changed = make(chan struct{})
	return r
}

// SetRequestState sets a request's state (to make one expired, say).
func (h *Host) SetRequestState(id, state string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.request(id); r != nil {
		r.State = state
	}
}

// Request returns the request id as the host has it now.
func (h *Host) Request(id string) (Request, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.request(id); r != nil {
		return *r, true
	}
	return Request{}, false
}

// Device returns the device id as the host has it now.
func (h *Host) Device(id string) (Device, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.devices[id]; ok {
		return *d, true
	}
	return Device{}, false
}

// Devices is how many devices were registered.
func (h *Host) Devices() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.devices)
}

// RevokeDevice makes a device inactive: its requests are refused.
func (h *Host) RevokeDevice(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.devices[id]; ok {
		d.Active = false
	}
}

// DisableDevices makes the host answer the device endpoints 404, as a host
// whose configuration names no device backend does.
func (h *Host) DisableDevices() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.disabled = true
}

// Refusals are the reasons the host gave itself for every request it
// refused with 401, in order: a test can check why it was refused.
func (h *Host) Refusals() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.refusals...)
}

// Nonces is how many nonces the host issued, and Signed how many signed
// requests it accepted.
func (h *Host) Nonces() (issued, signed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.noncesIssued, h.signed
}

func (h *Host) request(id string) *Request {
	for _, r := range h.requests {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if n <= 8 {
		return hex.EncodeToString(b)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, description string, extra map[string]any) {
	body := map[string]any{"error": code, "error_description": description}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}
