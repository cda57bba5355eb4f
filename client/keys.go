package client

import (
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

	"github.com/portcullis-auth/portcullis/accesstoken"
)

// Bounds on what the host's answers may weigh.
const (
	maxKeySetBytes   = 1 << 20
	maxDiscoveryBody = 64 << 10
)

// keySet is one fetched JSON Web Key Set.
type keySet struct {
	keys    map[string]accesstoken.Key
	fetched time.Time     // when the fetch that read it began
	maxAge  time.Duration // from the answer's Cache-Control
}

// fresh reports whether s may still be used at now: for its max-age, and
// at least until another fetch is allowed.
func (s *keySet) fresh(now time.Time, minInterval time.Duration) bool {
	return now.Sub(s.fetched) < max(s.maxAge, minInterval)
}

// fetchCall is a fetch under way; done is closed when set and err are.
type fetchCall struct {
	done chan struct{}
	set  *keySet
	err  error
}

var _ accesstoken.Keys = (*Client)(nil)

// VerificationKey returns the key named kid, fetching the host's key set
// when the cached one is too old or does not hold kid (at most once per
// MinRefetchInterval). It makes the Client an accesstoken.Keys.
func (c *Client) VerificationKey(ctx context.Context, kid string) (accesstoken.Key, error) {
	if s := c.keys.Load(); s != nil && s.fresh(c.now(), c.minInterval) {
		if k, ok := s.keys[kid]; ok {
			return k, nil
		}
	}
	s, err := c.refetch(ctx)
	if err != nil {
		return accesstoken.Key{}, err
	}
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return accesstoken.Key{}, accesstoken.ErrUnknownKeyID
}

// refetch fetches the key set, or waits for the fetch under way, and
// returns the set it read. Less than MinRefetchInterval after the last
// fetch began, it fetches nothing and returns that fetch's set or error.
func (c *Client) refetch(ctx context.Context) (*keySet, error) {
	c.mu.Lock()
	f := c.inflight
	if f == nil {
		now := c.now()
		if !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < c.minInterval {
			s, err := c.keys.Load(), c.lastErr
			c.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("the last fetch failed, the next is allowed %s after it: %w", c.minInterval, err)
			}
			if s == nil { // cannot happen: the last fetch succeeded
				return nil, errors.New("no key set")
			}
			return s, nil
		}
		f = &fetchCall{done: make(chan struct{})}
		c.inflight, c.lastAttempt = f, now
		go c.run(f, now)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.set, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run makes the fetch f, begun at started, on behalf of every caller
// waiting for it: no caller's context cancels it.
func (c *Client) run(f *fetchCall, started time.Time) {
	ctx := context.Background()
	if c.http.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	set, err := c.fetch(ctx, started)
	if err == nil {
		c.keys.Store(set)
	}
	f.set, f.err = set, err
	c.mu.Lock()
	c.inflight, c.lastErr = nil, err
	c.mu.Unlock()
	close(f.done)
}

// fetch reads the issuer and the key set's URL when they are not known
// yet, then the key set.
func (c *Client) fetch(ctx context.Context, started time.Time) (*keySet, error) {
	if c.jwks == "" {
		if err := c.discover(ctx); err != nil {
			return nil, err
		}
	}
	body, header, err := c.get(ctx, c.jwks, maxKeySetBytes)
	if err != nil {
		return nil, fmt.Errorf("fetching the signing keys: %w", err)
	}
	keys, err := accesstoken.ParseSet(body)
	if err != nil {
		return nil, fmt.Errorf("fetching the signing keys from %s: %w", c.jwks, err)
	}
	return &keySet{keys: keys, fetched: started, maxAge: maxAge(header)}, nil
}

// discover reads issuer and jwks_uri from the host's OpenID configuration.
func (c *Client) discover(ctx context.Context) error {
	body, _, err := c.get(ctx, c.hostURL+"/.well-known/openid-configuration", maxDiscoveryBody)
	if err != nil {
		return fmt.Errorf("discovering the issuer: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("discovering the issuer: reading the OpenID configuration: %w", err)
	}
	if doc.Issuer == "" || doc.JWKSURI == "" {
		return errors.New("discovering the issuer: the OpenID configuration lacks issuer or jwks_uri")
	}
	base, _ := url.Parse(c.hostURL + "/") // checked by New
	u, err := base.Parse(doc.JWKSURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("discovering the issuer: jwks_uri %q is not an http or https URL", doc.JWKSURI)
	}
	iss := doc.Issuer
	c.jwks = u.String()
	c.issuer.Store(&iss)
	return nil
}

// get fetches url and returns a 200's body, of at most limit bytes.
func (c *Client) get(ctx context.Context, url string, limit int64) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("GET %s: the answer is over %d bytes", url, limit)
	}
	return body, resp.Header, nil
}

// maxAge is how long an answer with header may be kept: its Cache-Control
// max-age less its Age, 0 for no-store or no-cache, DefaultMaxAge when it
// says nothing.
func maxAge(header http.Header) time.Duration {
	age := DefaultMaxAge
	for _, v := range header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
				if err != nil || n < 0 {
					return 0 // an invalid max-age makes the answer stale (RFC 9111)
				}
				age = time.Duration(min(n, int64(365*24*time.Hour/time.Second))) * time.Second
			}
		}
	}
	if a, err := strconv.ParseInt(header.Get("Age"), 10, 64); err == nil && a > 0 {
		age -= time.Duration(min(a, int64(age/time.Second))) * time.Second
	}
	return age
}
