package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/sdk"
)

// MemoryHost is an in-memory sdk.Host for tests. The zero value is not
// usable; call NewMemoryHost. It is safe for concurrent use.
type MemoryHost struct {
	mu      sync.Mutex
	now     func() time.Time
	users   map[string]sdk.User // by username
	entries map[string]sdk.Entry
	// counters marks the keys that hold a counter (made by Increment), as
	// the host's storage does: Put makes a key an ordinary value again.
	counters map[string]bool
	emitted  []sdk.Signal
	nextID   int
}

// NewMemoryHost returns an empty host.
func NewMemoryHost() *MemoryHost {
	return &MemoryHost{
		now:      time.Now,
		users:    map[string]sdk.User{},
		entries:  map[string]sdk.Entry{},
		counters: map[string]bool{},
	}
}

// SetClock makes the host's storage expire entries by now instead of the
// wall clock.
func (h *MemoryHost) SetClock(now func() time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = now
}

// AddUser adds or replaces a user; an empty ID gets one.
func (h *MemoryHost) AddUser(u sdk.User) sdk.User {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u.ID == "" {
		h.nextID++
		u.ID = "user-" + strconv.Itoa(h.nextID)
	}
	h.users[u.Username] = u
	return u
}

// User returns the stored user by username.
func (h *MemoryHost) User(username string) (sdk.User, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[username]
	return u, ok
}

// Emitted returns a copy of every signal emitted so far.
func (h *MemoryHost) Emitted() []sdk.Signal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sdk.Signal(nil), h.emitted...)
}

func (h *MemoryHost) Users() sdk.Users     { return h }
func (h *MemoryHost) Storage() sdk.Storage { return h }
func (h *MemoryHost) Signals() sdk.Emitter { return h }

func (h *MemoryHost) LookupUser(_ context.Context, username string) (sdk.User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.users[username]
	if !ok {
		return sdk.User{}, fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	return u, nil
}

func (h *MemoryHost) SetPasswordHash(_ context.Context, userID, oldHash, newHash string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, u := range h.users {
		if u.ID != userID {
			continue
		}
		if u.PasswordHash != oldHash {
			return fmt.Errorf("password of %q changed meanwhile: %w", name, sdk.ErrConflict)
		}
		u.PasswordHash = newHash
		h.users[name] = u
		return nil
	}
	return fmt.Errorf("user id %q: %w", userID, sdk.ErrNotFound)
}

// ListUsers returns the users whose id sorts after afterID, in id order,
// at most limit; the memory host keeps no grants, so hashes are included.
func (h *MemoryHost) ListUsers(_ context.Context, afterID string, limit int) ([]sdk.User, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit must be > 0", sdk.ErrInvalidArgument)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sdk.User
	for _, u := range h.users {
		if u.ID > afterID {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// live returns the entry at key if it exists and has not expired; the
// caller holds h.mu.
func (h *MemoryHost) live(key string) (sdk.Entry, bool) {
	e, ok := h.entries[key]
	if !ok {
		return sdk.Entry{}, false
	}
	if !e.ExpiresAt.IsZero() && !h.now().Before(e.ExpiresAt) {
		delete(h.entries, key)
		delete(h.counters, key)
		return sdk.Entry{}, false
	}
	return e, true
}

// The limits sdk.Storage documents, which MemoryHost enforces as the host
// does.
const (
	maxKeyBytes   = 1024
	maxValueBytes = 1 << 20
)

func checkKey(key string) error {
	if key == "" || len(key) > maxKeyBytes || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: a key must be 1 to %d bytes of UTF-8 without NUL", sdk.ErrInvalidArgument, maxKeyBytes)
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > maxValueBytes {
		return fmt.Errorf("%w: a value must be at most %d bytes", sdk.ErrInvalidArgument, maxValueBytes)
	}
	return nil
}

func (h *MemoryHost) expiry(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return h.now().Add(ttl)
}

func (h *MemoryHost) Get(_ context.Context, key string) (sdk.Entry, error) {
	if err := checkKey(key); err != nil {
		return sdk.Entry{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.live(key)
	if !ok {
		return sdk.Entry{}, fmt.Errorf("key %q: %w", key, sdk.ErrNotFound)
	}
	return e, nil
}

func (h *MemoryHost) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries[key] = sdk.Entry{Key: key, Value: append([]byte{}, value...), ExpiresAt: h.expiry(ttl)}
	delete(h.counters, key)
	return nil
}

func (h *MemoryHost) Delete(_ context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.live(key)
	delete(h.entries, key)
	delete(h.counters, key)
	return ok, nil
}

func (h *MemoryHost) List(_ context.Context, prefix string) ([]sdk.Entry, error) {
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return nil, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sdk.Entry
	for k := range h.entries {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if e, ok := h.live(k); ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (h *MemoryHost) Increment(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	e, ok := h.live(key)
	if ok {
		if !h.counters[key] {
			return 0, fmt.Errorf("key %q holds a value that is not a counter: %w", key, sdk.ErrInvalidArgument)
		}
		n, _ = strconv.ParseInt(string(e.Value), 10, 64)
	}
	n += delta
	var expires time.Time
	if ok {
		expires = e.ExpiresAt
	}
	if ttl > 0 {
		expires = h.expiry(ttl)
	}
	h.entries[key] = sdk.Entry{Key: key, Value: []byte(strconv.FormatInt(n, 10)), ExpiresAt: expires}
	h.counters[key] = true
	return n, nil
}

func (h *MemoryHost) CompareAndSwap(_ context.Context, key string, oldValue, newValue []byte, ttl time.Duration) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	if err := checkValue(newValue); err != nil {
		return false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.live(key)
	switch {
	case oldValue == nil && ok:
		return false, nil
	case oldValue != nil && (!ok || string(e.Value) != string(oldValue)):
		return false, nil
	}
	h.entries[key] = sdk.Entry{Key: key, Value: append([]byte{}, newValue...), ExpiresAt: h.expiry(ttl)}
	// A counter swapped to another decimal, as Increment writes it, stays
	// a counter.
	if !ok || !h.counters[key] || !isDecimal(newValue) {
		delete(h.counters, key)
	}
	return true, nil
}

// isDecimal reports whether v is an int64 as Increment writes it: "42",
// "-7", not "042" or "+42".
func isDecimal(v []byte) bool {
	n, err := strconv.ParseInt(string(v), 10, 64)
	return err == nil && strconv.FormatInt(n, 10) == string(v)
}

// Emit records the signal with the sender "test" (the host sends a
// plugin's signals under its instance name).
func (h *MemoryHost) Emit(_ context.Context, name string, args any) (string, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	id := "signal-" + strconv.Itoa(h.nextID)
	h.emitted = append(h.emitted, sdk.Signal{ID: id, Name: name, Sender: "test", Origin: "plugin", Time: h.now(), Args: raw})
	return id, nil
}

// Interface guards.
var (
	_ sdk.Host    = (*MemoryHost)(nil)
	_ sdk.Users   = (*MemoryHost)(nil)
	_ sdk.Storage = (*MemoryHost)(nil)
	_ sdk.Emitter = (*MemoryHost)(nil)
)
