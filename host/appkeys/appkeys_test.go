package appkeys

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
)

// fakeStore is a Store that counts its reads.
type fakeStore struct {
	mu    sync.Mutex
	keys  map[string]storage.AppKey // by hash
	err   error
	reads int
}

func (f *fakeStore) AppKeyByHash(_ context.Context, hash string) (storage.AppKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return storage.AppKey{}, f.err
	}
	k, ok := f.keys[hash]
	if !ok {
		return storage.AppKey{}, sdk.ErrNotFound
	}
	return k, nil
}

func (f *fakeStore) add(name string) string {
	key, hash := New()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]storage.AppKey{}
	}
	f.keys[hash] = storage.AppKey{ID: "id-" + name, Name: name, CreatedAt: time.Now()}
	return key
}

func (f *fakeStore) revoke(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[Hash(key)]
	k.RevokedAt = time.Now()
	f.keys[Hash(key)] = k
}

func (f *fakeStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// clock is a settable time for the cache.
type clock struct{ t time.Time }

func (c *clock) now() time.Time               { return c.t }
func (c *clock) advance(d time.Duration)      { c.t = c.t.Add(d) }
func withClock(v *Checker, c *clock) *Checker { v.now = c.now; return v }

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, hash := New()
		if !strings.HasPrefix(key, "pck_") || len(key) != 4+43 || !WellFormed(Prefix, key) {
			t.Fatalf("New() key %q is not pck_ and 43 base64url characters", key)
		}
		if hash != Hash(key) || len(hash) != 64 || strings.ToLower(hash) != hash {
			t.Fatalf("New() hash %q is not Hash(key), 64 lower-case hex digits", hash)
		}
		if seen[key] {
			t.Fatalf("New() made %q twice", key)
		}
		seen[key] = true
	}
	if got, want := Hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("Hash(abc) = %s, want its SHA-256 %s", got, want)
	}
}

func TestMalformedKeysAreRefusedWithoutARead(t *testing.T) {
	store := &fakeStore{}
	good := store.add("billing")
	c := NewChecker(store, Options{})
	body := good[len(Prefix):]
	for _, key := range []string{
		"",
		"pck_",
		"pck",
		"pca_" + body,      // an access token's prefix
		"PCK_" + body,      // prefixes match exactly
		" " + good,         // surrounding spaces
		good + " ",         //
		good + "A",         // too long
		good[:len(good)-1], // too short
		"pck_" + strings.Repeat("A", 42) + "=",
		"pck_" + strings.Repeat("A", 42) + "+",
		"pck_" + strings.Repeat("A", 42) + "/",
		"pck_" + strings.Repeat("A", 42) + ".",
		"pck_" + strings.Repeat("A", 41) + "\u00e9", // 43 bytes, not 43 base64url characters
		"pck_" + strings.Repeat("A", 42) + "\x00",
		strings.Repeat("pck_", 10000),
	} {
		if _, err := c.Check(context.Background(), key); err != ErrInvalidKey {
			t.Errorf("Check(%+q) = %v, want ErrInvalidKey itself", key, err)
		}
	}
	if n := store.readCount(); n != 0 {
		t.Fatalf("malformed keys cost %d database reads, want 0", n)
	}
	if app, err := c.Check(context.Background(), good); err != nil || app.Name != "billing" {
		t.Fatalf("Check(good key) = %+v, %v", app, err)
	}
}

// TestEveryRefusalIsOneError: malformed, unknown and revoked keys get the
// same error, word for word.
func TestEveryRefusalIsOneError(t *testing.T) {
	store := &fakeStore{}
	revoked := store.add("old")
	store.revoke(revoked)
	unknown, _ := New()
	c := NewChecker(store, Options{})
	for name, key := range map[string]string{"malformed": "pck_nope", "unknown": unknown, "revoked": revoked} {
		app, err := c.Check(context.Background(), key)
		if err != ErrInvalidKey || err.Error() != "invalid key" || app != (storage.AppKey{}) {
			t.Errorf("%s key: %+v, %v; want the zero AppKey and ErrInvalidKey", name, app, err)
		}
	}
}

// TestStoreErrorsFailClosed: a store that cannot be read is an error
// that is not ErrInvalidKey (the caller answers 503), never a success.
func TestStoreErrorsFailClosed(t *testing.T) {
	store := &fakeStore{}
	key := store.add("billing")
	store.err = errors.New("connection refused")
	c := NewChecker(store, Options{})
	app, err := c.Check(context.Background(), key)
	if err == nil || errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "connection refused") || app.Name != "" {
		t.Fatalf("Check with the store down = %+v, %v; want a store error", app, err)
	}
	// Not remembered: the store back, the key works.
	store.err = nil
	if _, err := c.Check(context.Background(), key); err != nil {
		t.Fatal(err)
	}
}

func TestCacheRemembersSuccessForItsTTL(t *testing.T) {
	store := &fakeStore{}
	key := store.add("billing")
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := withClock(NewChecker(store, Options{}), clk)
	ctx := context.Background()
	for range 10 {
		if _, err := c.Check(ctx, key); err != nil {
			t.Fatal(err)
		}
		clk.advance(DefaultCacheTTL / 20)
	}
	if n := store.readCount(); n != 1 {
		t.Fatalf("10 checks within the TTL cost %d reads, want 1", n)
	}

	store.revoke(key)
	if _, err := c.Check(ctx, key); err != nil {
		t.Fatalf("within the TTL the cached check stands: %v", err)
	}
	clk.advance(DefaultCacheTTL)
	if _, err := c.Check(ctx, key); err != ErrInvalidKey {
		t.Fatalf("after the TTL a revoked key: %v, want ErrInvalidKey", err)
	}
	if _, err := c.Check(ctx, key); err != ErrInvalidKey {
		t.Fatalf("a revoked key checked again: %v, want ErrInvalidKey", err)
	}
	if n := store.readCount(); n != 3 {
		t.Fatalf("reads = %d, want 3 (refusals are not cached)", n)
	}
}

// TestFailuresAreNotCached: a key unknown a moment ago works as soon as
// it is stored.
func TestFailuresAreNotCached(t *testing.T) {
	store := &fakeStore{}
	key, hash := New()
	c := NewChecker(store, Options{})
	if _, err := c.Check(context.Background(), key); err != ErrInvalidKey {
		t.Fatalf("unknown key: %v", err)
	}
	store.keys = map[string]storage.AppKey{hash: {ID: "1", Name: "new"}}
	if app, err := c.Check(context.Background(), key); err != nil || app.Name != "new" {
		t.Fatalf("the key once stored: %+v, %v", app, err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	store := &fakeStore{}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := withClock(NewChecker(store, Options{CacheSize: 3}), clk)
	for i := range 10 {
		key := store.add(string(rune('a' + i)))
		if _, err := c.Check(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		if len(c.cache) > 3 {
			t.Fatalf("after %d keys the cache holds %d entries, want at most 3", i+1, len(c.cache))
		}
	}
	// Expired entries go first.
	clk.advance(DefaultCacheTTL)
	fresh := store.add("fresh")
	if _, err := c.Check(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
	if len(c.cache) != 1 {
		t.Fatalf("expired entries were kept: %d entries", len(c.cache))
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		opts     Options
		ttl      time.Duration
		size     int
		cacheOff bool
	}{
		{Options{}, DefaultCacheTTL, DefaultCacheSize, false},
		{Options{CacheTTL: time.Second, CacheSize: 7}, time.Second, 7, false},
		{Options{CacheTTL: time.Hour}, MaxCacheTTL, DefaultCacheSize, false},
		{Options{CacheTTL: -1}, 0, 0, true},
		{Options{CacheSize: -1}, 0, 0, true},
	} {
		store := &fakeStore{}
		key := store.add("k")
		c := NewChecker(store, tt.opts)
		if c.ttl != tt.ttl || c.size != tt.size {
			t.Errorf("%+v: ttl %v size %d, want %v %d", tt.opts, c.ttl, c.size, tt.ttl, tt.size)
		}
		for range 3 {
			if _, err := c.Check(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		}
		if want := map[bool]int{false: 1, true: 3}[tt.cacheOff]; store.readCount() != want {
			t.Errorf("%+v: 3 checks cost %d reads, want %d", tt.opts, store.readCount(), want)
		}
	}
}

// TestVerifierOfAnotherKind: the check is not tied to app keys.
func TestVerifierOfAnotherKind(t *testing.T) {
	type adminToken struct{ user string }
	key, hash := Generate("pct_")
	v := NewVerifier(Kind[adminToken]{
		Prefix: "pct_",
		Lookup: func(_ context.Context, h string) (adminToken, error) {
			if h == hash {
				return adminToken{user: "root"}, nil
			}
			return adminToken{}, sdk.ErrNotFound
		},
		Live: func(adminToken) bool { return true },
	}, Options{})
	if got, err := v.Check(context.Background(), key); err != nil || got.user != "root" {
		t.Fatalf("Check = %+v, %v", got, err)
	}
	appKey, _ := New()
	if _, err := v.Check(context.Background(), appKey); err != ErrInvalidKey {
		t.Fatalf("an app key checked as an admin token: %v, want ErrInvalidKey", err)
	}
}

// TestWithAStore: the Checker on a real SQLite store.
func TestWithAStore(t *testing.T) {
	ctx := context.Background()
	s := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	key, hash := New()
	if _, err := s.CreateAppKey(ctx, "billing", hash); err != nil {
		t.Fatal(err)
	}
	c := NewChecker(s, Options{CacheTTL: -1})
	if app, err := c.Check(ctx, key); err != nil || app.Name != "billing" {
		t.Fatalf("Check = %+v, %v", app, err)
	}
	if _, err := s.RevokeAppKey(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctx, key); err != ErrInvalidKey {
		t.Fatalf("revoked: %v, want ErrInvalidKey", err)
	}
}

// TestConcurrentChecks: one Checker serves many requests at once (run
// with -race).
func TestConcurrentChecks(t *testing.T) {
	store := &fakeStore{}
	var keys []string
	for i := range 8 {
		keys = append(keys, store.add(string(rune('a'+i))))
	}
	c := NewChecker(store, Options{CacheSize: 4})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				key := keys[(g+i)%len(keys)]
				if app, err := c.Check(context.Background(), key); err != nil || app.Name != string(rune('a'+(g+i)%len(keys))) {
					t.Errorf("Check = %+v, %v", app, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(c.cache) > 4 {
		t.Fatalf("the cache holds %d entries, want at most 4", len(c.cache))
	}
}
