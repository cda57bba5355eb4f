package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

// Defaults of Options.
const (
	DefaultMinRefetchInterval = 5 * time.Second
	DefaultMaxAge             = 5 * time.Minute
	DefaultTimeout            = 10 * time.Second
)

// Options configure a Client.
type Options struct {
	// HostURL is the base URL of the Portcullis host, such as
	// https://auth.example.com. Required.
	HostURL string
	// Audience is this app's name as the host puts it in aud. Required.
	Audience string
	// Issuer is the iss the host's tokens carry. When empty, the Client
	// reads issuer and jwks_uri from the host's
	// /.well-known/openid-configuration on first use; when set, it reads
	// the keys from HostURL's /.well-known/jwks.json.
	Issuer string
	// AppKey is the app key sent to the host's introspection endpoint.
	// Only Introspect and IntrospectionMiddleware need it.
	AppKey string
	// HTTPClient makes the requests to the host. When nil, a client with a
	// timeout of DefaultTimeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// MinRefetchInterval is the least time between two fetches of the key
	// set (DefaultMinRefetchInterval when zero).
	MinRefetchInterval time.Duration
	// Logger, when not nil, is told why the middleware refused a request:
	// at Warn when the token could not be checked (with the cause), at
	// Debug when the token was refused (with the reason, never the token).
	Logger *slog.Logger
}

// Client verifies Portcullis access tokens for one app. It is safe for
// concurrent use; make one and share it.
type Client struct {
	hostURL     string
	audience    string
	appKey      string
	http        *http.Client
	leeway      time.Duration
	minInterval time.Duration
	log         *slog.Logger
	now         func() time.Time // tests replace it

	issuer atomic.Pointer[string] // nil until known
	keys   atomic.Pointer[keySet] // nil until the first fetch succeeds
	jwks   string                 // the key set's URL; "" until discovered (only fetches touch it after New)

	mu          sync.Mutex
	inflight    *fetchCall // the fetch under way, if any
	lastAttempt time.Time  // when the last fetch began; zero before the first
	lastErr     error      // how the last fetch ended
}

// New returns a Client. It makes no request: the host is asked on first
// use.
func New(o Options) (*Client, error) {
	if o.HostURL == "" {
		return nil, errors.New("client: Options.HostURL is required")
	}
	u, err := url.Parse(o.HostURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("client: Options.HostURL %q is not an http or https URL", o.HostURL)
	}
	if o.Audience == "" {
		return nil, errors.New("client: Options.Audience is required")
	}
	if o.Leeway < 0 {
		return nil, errors.New("client: Options.Leeway is negative")
	}
	if o.MinRefetchInterval < 0 {
		return nil, errors.New("client: Options.MinRefetchInterval is negative")
	}
	c := &Client{
		hostURL:     strings.TrimRight(o.HostURL, "/"),
		audience:    o.Audience,
		appKey:      o.AppKey,
		http:        o.HTTPClient,
		leeway:      o.Leeway,
		minInterval: o.MinRefetchInterval,
		log:         o.Logger,
		now:         time.Now,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if c.minInterval == 0 {
		c.minInterval = DefaultMinRefetchInterval
	}
	if o.Issuer != "" {
		iss := o.Issuer
		c.issuer.Store(&iss)
		c.jwks = c.hostURL + "/.well-known/jwks.json"
	}
	return c, nil
}

// Verify checks token with accesstoken.Verifier and returns its claims,
// or an *accesstoken.Error (errors.Is(err, accesstoken.ErrInvalidToken)).
// Its Type is unexpected_exception when the keys or the issuer could not
// be read from the host.
func (c *Client) Verify(ctx context.Context, token string) (*accesstoken.Claims, error) {
	v := accesstoken.Verifier{Audience: c.audience, Keys: c, Leeway: c.leeway, Now: c.now}
	if iss := c.issuer.Load(); iss != nil {
		v.Issuer = *iss
		return v.Verify(ctx, token)
	}
	_, err := c.refetch(ctx)
	if iss := c.issuer.Load(); iss != nil {
		v.Issuer = *iss
		return v.Verify(ctx, token)
	}
	if err == nil {
		err = errors.New("the host's issuer is not known")
	}
	// The issuer is unknown, so no token can be accepted. Verifying with
	// keys that only fail refuses a well-formed token as
	// unexpected_exception (with err as its cause) and anything else as
	// what it is. The issuer given here is never compared: the keys fail
	// before the claims are checked.
	v.Issuer, v.Keys = "unknown issuer", failingKeys{err}
	return v.Verify(ctx, token)
}

// failingKeys are keys that cannot be read.
type failingKeys struct{ err error }

func (f failingKeys) VerificationKey(context.Context, string) (accesstoken.Key, error) {
	return accesstoken.Key{}, f.err
}
