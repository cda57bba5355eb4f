package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// hook is a webhook receiver that checks signatures and records what it
// got. It can be stopped and started again on the same address.
type hook struct {
	t      *testing.T
	secret string
	addr   string
	delay  time.Duration

	mu      sync.Mutex
	srv     *http.Server
	bodies  []string
	counts  map[string]int // by signal id
	badSigs int
}

type delivered struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Sender string          `json:"sender"`
	Time   time.Time       `json:"time"`
	Args   json.RawMessage `json:"args"`
}

func newHook(t *testing.T, secret string) *hook {
	h := &hook{t: t, secret: secret, counts: map[string]int{}}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *hook) url() string { return "http://" + h.addr + "/hook" }

func (h *hook) start() {
	addr := h.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		h.t.Fatalf("webhook listen: %v", err)
	}
	h.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(h.serve)}
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.t.Errorf("webhook server: %v", err)
		}
	}()
}

func (h *hook) stop() {
	h.mu.Lock()
	srv := h.srv
	h.srv = nil
	h.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if h.delay > 0 {
		time.Sleep(h.delay)
	}
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	var d delivered
	_ = json.Unmarshal(body, &d)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !hmac.Equal([]byte(r.Header.Get("X-Portcullis-Signature")), []byte(want)) || r.Header.Get("X-Portcullis-Signal-Id") != d.ID {
		h.badSigs++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	h.bodies = append(h.bodies, string(body))
	h.counts[d.ID]++
	w.WriteHeader(http.StatusNoContent)
}

// received returns the deliveries so far.
func (h *hook) received() []delivered {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]delivered, len(h.bodies))
	for i, b := range h.bodies {
		_ = json.Unmarshal([]byte(b), &out[i])
	}
	return out
}

// stats returns the number of distinct signals and of duplicate deliveries.
func (h *hook) stats() (distinct, duplicates int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.counts {
		distinct++
		duplicates += c - 1
	}
	return distinct, duplicates
}

func (h *hook) rawBodies() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}
