package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

// verifyType verifies token and returns "" when it is accepted, else the
// refusal's Type.
func verifyType(t testing.TB, c *Client, token string) string {
	t.Helper()
	_, err := c.Verify(context.Background(), token)
	if err == nil {
		return ""
	}
	return refusal(t, err)
}

func TestForgedKidsFetchAtMostOncePerInterval(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	c, clock := newTestClient(t, h, nil)
	if got := verifyType(t, c, ed.mint(t, nil)); got != "" {
		t.Fatalf("valid token refused as %s", got)
	}
	attacker := newSigner(t, accesstoken.EdDSA)
	// Tokens with kids the host never published, signed ahead.
	forged := make([]string, 400)
	for i := range forged {
		forged[i] = attacker.withKID(randomString(16)).mint(t, nil)
	}

	const intervals = 5
	for round := range intervals + 1 {
		if round > 0 {
			clock.Advance(c.minInterval)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for _, tok := range forged[g*50 : (g+1)*50] {
					if got := verifyType(t, c, tok); got != accesstoken.ErrUnknownKey {
						t.Errorf("forged kid refused as %q; want %s", got, accesstoken.ErrUnknownKey)
						return
					}
				}
			})
		}
		wg.Wait()
		// The first fetch, then one per interval that passed.
		if got, want := h.jwksHits.Load(), int64(1+round); got != want {
			t.Fatalf("after %d intervals of %d forged kids: %d fetches; want %d", round, len(forged), got, want)
		}
	}
	// Valid tokens were never refused meanwhile.
	if got := verifyType(t, c, ed.mint(t, nil)); got != "" {
		t.Fatalf("valid token refused as %s", got)
	}
	if n := h.maxInflight.Load(); n != 1 {
		t.Errorf("%d fetches at once; want 1", n)
	}
}

func TestForgedKidsWithTheRealClock(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	c, _ := newTestClient(t, h, func(o *Options) { o.MinRefetchInterval = 50 * time.Millisecond })
	c.now = time.Now
	attacker := newSigner(t, accesstoken.EdDSA)
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Since(start) < 300*time.Millisecond {
				if got := verifyType(t, c, attacker.withKID(randomString(16)).mint(t, nil)); got != accesstoken.ErrUnknownKey {
					t.Errorf("refused as %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if max := int64(elapsed/c.minInterval) + 1; h.jwksHits.Load() > max {
		t.Errorf("%d fetches in %s; want at most %d", h.jwksHits.Load(), elapsed, max)
	}
}

func TestConcurrentMissesShareOneFetch(t *testing.T) {
	old, rotated := newSigner(t, accesstoken.EdDSA), newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, old.key)
	c, clock := newTestClient(t, h, nil)
	if got := verifyType(t, c, old.mint(t, nil)); got != "" {
		t.Fatalf("valid token refused as %s", got)
	}
	gate := make(chan struct{})
	h.set(func(h *testHost) { h.keys, h.gate = []accesstoken.Key{old.key, rotated.key}, gate })
	clock.Advance(c.minInterval)

	const callers = 50
	results := make(chan string, callers)
	for range callers {
		go func() { results <- verifyType(t, c, rotated.mint(t, nil)) }()
	}
	for h.jwksHits.Load() < 2 { // the fetch has reached the host
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the other callers queue behind it
	close(gate)
	for range callers {
		if got := <-results; got != "" {
			t.Errorf("a token of the new key refused as %s", got)
		}
	}
	if got := h.jwksHits.Load(); got != 2 {
		t.Errorf("%d fetches; want 2 (the first, and one shared by %d callers)", got, callers)
	}
	if n := h.maxInflight.Load(); n != 1 {
		t.Errorf("%d fetches at once; want 1", n)
	}
}

func TestRotationIsPickedUpOnceTheIntervalHasPassed(t *testing.T) {
	old, rotated := newSigner(t, accesstoken.EdDSA), newSigner(t, accesstoken.ES256)
	h := newTestHost(t, old.key)
	c, clock := newTestClient(t, h, nil)
	if got := verifyType(t, c, old.mint(t, nil)); got != "" {
		t.Fatalf("valid token refused as %s", got)
	}
	h.set(func(h *testHost) { h.keys = []accesstoken.Key{rotated.key, old.key} })

	// Right after a fetch, a new kid is not fetched for.
	if got := verifyType(t, c, rotated.mint(t, nil)); got != accesstoken.ErrUnknownKey {
		t.Fatalf("within the interval: refused as %q; want %s", got, accesstoken.ErrUnknownKey)
	}
	if got := h.jwksHits.Load(); got != 1 {
		t.Fatalf("%d fetches; want 1", got)
	}
	clock.Advance(c.minInterval)
	if got := verifyType(t, c, rotated.mint(t, nil)); got != "" {
		t.Fatalf("the first token of the new key once the interval passed: refused as %s", got)
	}
	if got := h.jwksHits.Load(); got != 2 {
		t.Fatalf("%d fetches; want 2", got)
	}
	for _, tok := range []string{rotated.mint(t, nil), old.mint(t, nil), rotated.mint(t, nil)} {
		if got := verifyType(t, c, tok); got != "" {
			t.Fatalf("refused as %s", got)
		}
	}
	if got := h.jwksHits.Load(); got != 2 {
		t.Errorf("%d fetches after the rotation; want 2", got)
	}
}

func TestKeySetIsRefreshedAfterItsMaxAge(t *testing.T) {
	old, rotated := newSigner(t, accesstoken.EdDSA), newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, old.key)
	h.set(func(h *testHost) { h.cacheControl = "public, max-age=60" })
	c, clock := newTestClient(t, h, nil)
	token := old.mint(t, nil)
	if got := verifyType(t, c, token); got != "" {
		t.Fatalf("refused as %s", got)
	}
	clock.Advance(59 * time.Second)
	if got := verifyType(t, c, token); got != "" || h.jwksHits.Load() != 1 {
		t.Fatalf("within max-age: %q, %d fetches", got, h.jwksHits.Load())
	}
	clock.Advance(2 * time.Second)
	if got := verifyType(t, c, token); got != "" || h.jwksHits.Load() != 2 {
		t.Fatalf("after max-age: %q, %d fetches; want accepted, 2", got, h.jwksHits.Load())
	}
	// A key the host no longer publishes is no longer trusted once the set
	// it was in is stale.
	h.set(func(h *testHost) { h.keys = []accesstoken.Key{rotated.key} })
	clock.Advance(61 * time.Second)
	if got := verifyType(t, c, token); got != accesstoken.ErrUnknownKey {
		t.Fatalf("a retired key's token: %q; want %s", got, accesstoken.ErrUnknownKey)
	}
	if got := verifyType(t, c, rotated.mint(t, nil)); got != "" {
		t.Fatalf("the new key's token refused as %s", got)
	}
	if got := h.jwksHits.Load(); got != 3 {
		t.Errorf("%d fetches; want 3", got)
	}
}

func TestAFailedFetchLetsNoTokenThrough(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	c, clock := newTestClient(t, h, nil)
	token := ed.mint(t, nil)

	t.Run("first fetch fails", func(t *testing.T) {
		h.set(func(h *testHost) { h.jwksStatus = http.StatusBadGateway })
		for range 3 {
			if got := verifyType(t, c, token); got != accesstoken.ErrUnexpected {
				t.Fatalf("refused as %q; want %s", got, accesstoken.ErrUnexpected)
			}
		}
		if got := h.jwksHits.Load(); got != 1 {
			t.Fatalf("%d fetches; want 1 (no retry within the interval)", got)
		}
	})
	t.Run("the host answers again", func(t *testing.T) {
		h.set(func(h *testHost) { h.jwksStatus = 0 })
		if got := verifyType(t, c, token); got != accesstoken.ErrUnexpected {
			t.Fatalf("within the interval: %q; want %s", got, accesstoken.ErrUnexpected)
		}
		clock.Advance(c.minInterval)
		if got := verifyType(t, c, token); got != "" {
			t.Fatalf("refused as %s", got)
		}
	})
	t.Run("stale set and a failing host", func(t *testing.T) {
		h.set(func(h *testHost) { h.jwksStatus = http.StatusServiceUnavailable })
		clock.Advance(DefaultMaxAge)
		before := h.jwksHits.Load()
		for range 3 {
			if got := verifyType(t, c, token); got != accesstoken.ErrUnexpected {
				t.Fatalf("refused as %q; want %s", got, accesstoken.ErrUnexpected)
			}
		}
		if got := h.jwksHits.Load() - before; got != 1 {
			t.Errorf("%d fetches; want 1", got)
		}
	})
	t.Run("unknown kid and a failing host", func(t *testing.T) {
		h.set(func(h *testHost) { h.jwksStatus = 0 })
		clock.Advance(c.minInterval)
		if got := verifyType(t, c, token); got != "" {
			t.Fatalf("refused as %s", got)
		}
		h.set(func(h *testHost) { h.jwksStatus = http.StatusInternalServerError })
		clock.Advance(c.minInterval)
		if got := verifyType(t, c, newSigner(t, accesstoken.EdDSA).mint(t, nil)); got != accesstoken.ErrUnexpected {
			t.Fatalf("refused as %q; want %s", got, accesstoken.ErrUnexpected)
		}
		// Known keys still verify while the set is fresh.
		if got := verifyType(t, c, token); got != "" {
			t.Fatalf("refused as %s", got)
		}
	})
}

func TestBadKeySetAnswers(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	tests := []struct {
		name string
		body string
	}{
		{"not JSON", "<html>"},
		{"malformed key", `{"keys":[{"kty":"OKP","kid":"` + ed.key.ID + `","alg":"EdDSA","crv":"Ed25519","x":"AAAA"}]}`},
		{"too big", `{"keys":[],"pad":"` + strings.Repeat("x", maxKeySetBytes) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Options{HostURL: srv.URL, Audience: testAudience, Issuer: testIssuer})
			if err != nil {
				t.Fatal(err)
			}
			if got := verifyType(t, c, ed.mint(t, nil)); got != accesstoken.ErrUnexpected {
				t.Errorf("refused as %q; want %s", got, accesstoken.ErrUnexpected)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	h.set(func(h *testHost) { h.jwksPath = "/keys/current.json" })
	c, clock := newTestClient(t, h, func(o *Options) { o.Issuer = "" })

	t.Run("discovery fails", func(t *testing.T) {
		h.set(func(h *testHost) { h.issuer = "" })
		if got := verifyType(t, c, ed.mint(t, nil)); got != accesstoken.ErrUnexpected {
			t.Fatalf("refused as %q; want %s", got, accesstoken.ErrUnexpected)
		}
		if got := verifyType(t, c, "pcr_"+randomString(32)); got != accesstoken.ErrMalformed {
			t.Fatalf("garbage refused as %q; want %s", got, accesstoken.ErrMalformed)
		}
		if got := h.discoveryHits.Load(); got != 1 {
			t.Fatalf("%d discoveries; want 1", got)
		}
	})
	t.Run("discovery succeeds", func(t *testing.T) {
		h.set(func(h *testHost) { h.issuer = testIssuer })
		clock.Advance(c.minInterval)
		for range 5 {
			if got := verifyType(t, c, ed.mint(t, nil)); got != "" {
				t.Fatalf("refused as %s", got)
			}
		}
		if got := h.discoveryHits.Load(); got != 2 {
			t.Errorf("%d discoveries; want 2", got)
		}
		if got := h.jwksHits.Load(); got != 1 {
			t.Errorf("%d fetches of the key set; want 1", got)
		}
	})
	t.Run("the discovered issuer is enforced", func(t *testing.T) {
		tok := ed.mint(t, func(c *accesstoken.Claims) { c.Issuer = "https://other.test" })
		if got := verifyType(t, c, tok); got != accesstoken.ErrInvalidIssuer {
			t.Errorf("refused as %q; want %s", got, accesstoken.ErrInvalidIssuer)
		}
	})
	t.Run("later fetches do not discover again", func(t *testing.T) {
		clock.Advance(DefaultMaxAge)
		if got := verifyType(t, c, ed.mint(t, nil)); got != "" {
			t.Fatalf("refused as %s", got)
		}
		if got := h.discoveryHits.Load(); got != 2 {
			t.Errorf("%d discoveries; want 2", got)
		}
	})
}

func TestACancelledCallerDoesNotCancelTheFetch(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	gate := make(chan struct{})
	h.set(func(h *testHost) { h.gate = gate })
	c, _ := newTestClient(t, h, nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Verify(ctx, ed.mint(t, nil))
		done <- err
	}()
	for h.jwksHits.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	if got := refusal(t, err); got != accesstoken.ErrUnexpected || !errors.Is(err, context.Canceled) {
		t.Fatalf("refused as %s (%v); want %s for context.Canceled", got, err, accesstoken.ErrUnexpected)
	}
	close(gate)
	// The fetch went on for the next caller, who joins it or finds its
	// result.
	if got := verifyType(t, c, ed.mint(t, nil)); got != "" {
		t.Fatalf("refused as %s", got)
	}
	if got := h.jwksHits.Load(); got != 1 {
		t.Errorf("%d fetches; want 1", got)
	}
}

func TestMaxAge(t *testing.T) {
	tests := []struct {
		cacheControl []string
		age          string
		want         time.Duration
	}{
		{nil, "", DefaultMaxAge},
		{[]string{"public"}, "", DefaultMaxAge},
		{[]string{"public, max-age=60"}, "", time.Minute},
		{[]string{"max-age=3600, must-revalidate"}, "", time.Hour},
		{[]string{"public", "MAX-AGE=120"}, "", 2 * time.Minute},
		{[]string{`max-age="30"`}, "", 30 * time.Second},
		{[]string{"max-age=300"}, "100", 200 * time.Second},
		{[]string{"max-age=300"}, "400", 0},
		{[]string{"max-age=0"}, "", 0},
		{[]string{"max-age=-1"}, "", 0},
		{[]string{"max-age=soon"}, "", 0},
		{[]string{"no-store"}, "", 0},
		{[]string{"max-age=300, no-cache"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cacheControl, "; ")+" age "+tt.age, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.cacheControl {
				h.Add("Cache-Control", v)
			}
			if tt.age != "" {
				h.Set("Age", tt.age)
			}
			if got := maxAge(h); got != tt.want {
				t.Errorf("maxAge = %s; want %s", got, tt.want)
			}
		})
	}
}

func TestNoStoreKeySetIsKeptForTheInterval(t *testing.T) {
	ed := newSigner(t, accesstoken.EdDSA)
	h := newTestHost(t, ed.key)
	h.set(func(h *testHost) { h.cacheControl = "no-store" })
	c, clock := newTestClient(t, h, nil)
	token := ed.mint(t, nil)
	for range 10 {
		if got := verifyType(t, c, token); got != "" {
			t.Fatalf("refused as %s", got)
		}
	}
	if got := h.jwksHits.Load(); got != 1 {
		t.Errorf("%d fetches within the interval; want 1", got)
	}
	clock.Advance(c.minInterval)
	if got := verifyType(t, c, token); got != "" || h.jwksHits.Load() != 2 {
		t.Errorf("after the interval: %q, %d fetches; want accepted, 2", got, h.jwksHits.Load())
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"minimal", Options{HostURL: "https://auth.example.com", Audience: "app"}, true},
		{"trailing slash", Options{HostURL: "https://auth.example.com/", Audience: "app"}, true},
		{"no host", Options{Audience: "app"}, false},
		{"not a URL", Options{HostURL: "auth.example.com", Audience: "app"}, false},
		{"ftp", Options{HostURL: "ftp://auth.example.com", Audience: "app"}, false},
		{"no audience", Options{HostURL: "https://auth.example.com"}, false},
		{"negative leeway", Options{HostURL: "https://auth.example.com", Audience: "app", Leeway: -time.Second}, false},
		{"negative interval", Options{HostURL: "https://auth.example.com", Audience: "app", MinRefetchInterval: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.o)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v; want ok %v", err, tt.ok)
			}
			if err != nil {
				return
			}
			if c.minInterval != DefaultMinRefetchInterval || c.http.Timeout != DefaultTimeout || strings.HasSuffix(c.hostURL, "/") {
				t.Errorf("defaults: %s, %s, %q", c.minInterval, c.http.Timeout, c.hostURL)
			}
		})
	}
}
