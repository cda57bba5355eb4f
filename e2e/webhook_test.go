package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hook is a webhook receiver that checks every delivery with the official
// Standard Webhooks library, as a receiver in the field would, and records
// what it got. It can be stopped and started again on the same address.
type hook struct {
	t     *testing.T
	lib   *standardwebhooks.Webhook
	addr  string
	delay time.Duration

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

// newHook starts a receiver for deliveries signed with secret, as the
// subscriber's configuration gives it: a whsec_ secret goes to the library
// as it is, any other as whsec_ and the base64 of its bytes.
func newHook(t *testing.T, secret string) *hook {
	if !strings.HasPrefix(secret, "whsec_") {
		secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte(secret))
	}
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("the Standard Webhooks library refuses the secret: %v", err)
	}
	h := &hook{t: t, lib: lib, counts: map[string]int{}}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *hook) url() string { return "http://" + h.addr + "/hook" }

func (h *hook) start() {
	var ln net.Listener
	var err error
	if h.addr == "" {
		// A port below the kernel's ephemeral range (32768 and up on
		// Linux): while the receiver is stopped, no connection or
		// listener of another test is given its port by the kernel, so
		// it can start again on it.
		for i := 0; i < 100; i++ {
			if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))); err == nil {
				break
			}
		}
	} else {
		for i := 0; i < 50; i++ { // the old socket may linger briefly
			if ln, err = net.Listen("tcp", h.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
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
	// Signature and timestamp (within 5 minutes), and the signed id is
	// the signal's.
	err := h.lib.Verify(body, r.Header)
	var d delivered
	_ = json.Unmarshal(body, &d)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil || r.Header.Get("webhook-id") != d.ID || d.ID == "" {
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
